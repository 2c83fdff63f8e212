"""Validation accuracy of lesson 11's four learning-rate schedules at four peak lrs: the grid its
schedule explorer shows. Writes bench/schedule_grid.json.

Every cell trains a fresh TutorialMLP (seed 0) for 4 epochs on the 50 000 normalized training
images of ``lessons_src.data.fashion_mnist_splits`` (batches of 128, shuffled with seed 0), with
SGD and momentum 0.9, and evaluates it on the 10 000 validation images after every epoch. The
schedule (``lessons_src.schedules.Schedule(name, lr, 4 · batches per epoch)``, stepped after every
batch) is the only thing that changes between the cells of one lr; the lr is the schedule's peak
(or constant) value. Losses and accuracies are the History's, accuracies as fractions in [0, 1];
they do not depend on the machine's load, only the seconds (training pass, evaluation excluded) do.
A run that diverges keeps the epochs it completed and says why in ``diverged``.
Run: .venv/bin/python bench/schedule_grid.py   (about 16 runs of 4 epochs: a few minutes on 2 cores)
"""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path

import torch
from torch import nn

from lessons_src import set_seed
from lessons_src.data import fashion_mnist_splits, normalize
from lessons_src.history import History
from lessons_src.models import TutorialMLP
from lessons_src.schedules import SCHEDULE_NAMES, Schedule
from lessons_src.training import TensorLoader, TrainingDiverged, fit

LRS = (0.01, 0.03, 0.1, 0.3)
NUM_EPOCHS, BATCH_SIZE, MOMENTUM, SEED = 4, 128, 0.9, 0
RECORD = Path(__file__).with_suffix(".json")


def run(splits, name: str, lr: float) -> dict:
    """Train one cell of the grid; its per-epoch record (what the explorer reads) and whether it diverged."""
    (X, y), (X_val, y_val) = splits.train, splits.val
    set_seed(SEED)
    model = TutorialMLP()
    loader = TensorLoader(normalize(X), y, BATCH_SIZE, shuffle=True, seed=SEED)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=MOMENTUM)
    scheduler = Schedule(name, lr, NUM_EPOCHS * len(loader)).torch_scheduler(optimizer)
    history, diverged = History(), None
    try:
        fit(model, loader, TensorLoader(normalize(X_val), y_val, 1000), nn.CrossEntropyLoss(), optimizer,
            NUM_EPOCHS, history=history, scheduler=scheduler, scheduler_step="batch")
    except TrainingDiverged as error:  # the grid keeps the cell: the lesson shows where it breaks
        diverged = str(error)
    return {"train_loss": [round(v, 6) for v in history.train_loss],
            "val_loss": [round(v, 6) for v in history.val_loss],
            "val_accuracy": [round(v, 6) for v in history.val_accuracy],
            "seconds": [round(v, 2) for v in history.seconds],
            "diverged": diverged}


def main() -> dict:
    load_before = os.getloadavg()[0]
    splits = fashion_mnist_splits()
    steps_per_epoch = len(TensorLoader(splits.train[0], splits.train[1], BATCH_SIZE))
    runs: dict[str, dict[str, dict]] = {}
    for name in SCHEDULE_NAMES:
        runs[name] = {}
        for lr in LRS:
            runs[name][repr(lr)] = cell = run(splits, name, lr)
            print(f"{name:>14} lr {lr:<5} val accuracy {cell['val_accuracy']} {sum(cell['seconds']):.1f} s",
                  flush=True)
    return {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
                   f"torch {torch.__version__}, {torch.get_num_threads()} threads",
        "settings": {"model": "TutorialMLP", "seed": SEED, "data": "FashionMNIST, 50 000 train / 10 000 validation, "
                     "normalized", "optimizer": f"SGD, momentum {MOMENTUM}", "batch_size": BATCH_SIZE,
                     "num_epochs": NUM_EPOCHS, "steps_per_epoch": steps_per_epoch,
                     "scheduler_step": "batch", "schedules": list(SCHEDULE_NAMES), "lrs": list(LRS),
                     "units": "losses: mean cross-entropy; val_accuracy: fraction in [0, 1]; "
                              "seconds: training pass per epoch"},
        "load average (1 min) before / after": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "runs": runs,
    }


if __name__ == "__main__":
    result = main()
    RECORD.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print("wrote", RECORD)

"""The linear scaling rule and warm-up (Goyal et al. 2017) on FashionMNIST: what lesson 14 shows and asserts.
Writes bench/linear_scaling.json.

Every run trains a fresh TutorialMLP (seeds 0, 1, 2) for 5 epochs on the 50 000 normalized training images
of ``lessons_src.data.fashion_mnist_splits`` with SGD, momentum 0.9, shuffled (TensorLoader, seed = the run's
seed), and evaluates on the 10 000 validation images after every epoch (never the test set). The base is
the course's recipe for batch 64: lr 0.02. Global batch 512 is run at the same lr, at k times the lr
(k = 8 is the linear scaling rule; 16, 32, 64 look for where it breaks), each without and with a warm-up:
lr growing linearly from 0.02 to k·0.02 over the first epoch (98 updates, ``LinearLR`` stepped per batch),
then constant. One process trains the global batch: lesson 14 proves that K workers × B examples take the
same step as one process with K·B. A run that diverges keeps the epochs it completed and says why.
Accuracies are fractions in [0, 1]; ``first_steps_loss`` is the training loss of the first 60 updates (empty
for a run that diverged in its first epoch: ``fit`` records complete epochs only; ``diverged`` says where).
Run: .venv/bin/python bench/linear_scaling.py   (about 40 runs of 5 epochs: a few minutes on 2 cores)
"""

from __future__ import annotations

import os
import statistics

import torch
from timing import write_record  # bench/timing.py, beside this script
from torch import nn

from lessons_src import set_seed
from lessons_src.data import fashion_mnist_splits, normalize
from lessons_src.history import History
from lessons_src.models import TutorialMLP
from lessons_src.training import TensorLoader, TrainingDiverged, fit

BASE_LR, BASE_BATCH, BIG_BATCH, MOMENTUM = 0.02, 64, 512, 0.9
NUM_EPOCHS, SEEDS, FACTORS = 5, (0, 1, 2), (1, 8, 16, 32, 64)


def run(splits, *, batch_size: int, lr: float, warmup: bool, seed: int) -> dict:
    """One run: per-epoch validation accuracy and loss, the first updates' losses, and whether it diverged."""
    (X, y), (X_val, y_val) = splits
    set_seed(seed)
    model = TutorialMLP()
    loader = TensorLoader(X, y, batch_size, shuffle=True, seed=seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=MOMENTUM)
    scheduler = None
    if warmup:  # BASE_LR → lr over the first epoch, then lr (Goyal et al.'s gradual warm-up)
        scheduler = torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=BASE_LR / lr, end_factor=1.0,
                                                      total_iters=len(loader))
    history, diverged = History(), None
    try:
        fit(model, loader, TensorLoader(X_val, y_val, 2000), nn.CrossEntropyLoss(), optimizer, NUM_EPOCHS,
            history=history, scheduler=scheduler, scheduler_step="batch")
    except TrainingDiverged as error:
        diverged = str(error)
    return {"val_accuracy": [round(v, 5) for v in history.val_accuracy],
            "val_loss": [round(v, 5) for v in history.val_loss],
            "train_loss": [round(v, 5) for v in history.train_loss],
            "first_steps_loss": [round(float(v), 4) for v in history.step_loss[:60]],
            "seconds": round(sum(history.seconds), 2), "diverged": diverged}


def summary(runs: list[dict]) -> dict:
    """Mean and standard deviation over the seeds of the final validation accuracy (diverged runs: none)."""
    finals = [r["val_accuracy"][-1] for r in runs if r["diverged"] is None and len(r["val_accuracy"]) == NUM_EPOCHS]
    return {"final_val_accuracy_mean": round(statistics.mean(finals), 5) if finals else None,
            "final_val_accuracy_std": round(statistics.stdev(finals), 5) if len(finals) > 1 else None,
            "diverged_seeds": sum(r["diverged"] is not None for r in runs)}


def main() -> dict:
    load_before = os.getloadavg()[0]
    splits = fashion_mnist_splits()
    data = ((normalize(splits.train[0]), splits.train[1]), (normalize(splits.val[0]), splits.val[1]))
    configs = {f"batch {BASE_BATCH}, lr {BASE_LR:g}": (BASE_BATCH, BASE_LR, False)}
    for k in FACTORS:
        configs[f"batch {BIG_BATCH}, lr {k * BASE_LR:g}"] = (BIG_BATCH, k * BASE_LR, False)
        if k > 1:
            configs[f"batch {BIG_BATCH}, lr {k * BASE_LR:g}, warm-up"] = (BIG_BATCH, k * BASE_LR, True)
    results = {}
    for name, (batch_size, lr, warmup) in configs.items():
        runs = [run(data, batch_size=batch_size, lr=lr, warmup=warmup, seed=seed) for seed in SEEDS]
        results[name] = {"batch_size": batch_size, "lr": lr, "warmup": warmup, "factor": round(lr / BASE_LR),
                         **summary(runs), "runs": runs}
        print(f"{name:>32}: {results[name]['final_val_accuracy_mean']} ± {results[name]['final_val_accuracy_std']}"
              f" ({results[name]['diverged_seeds']} diverged)", flush=True)
    return {"settings": {"model": "TutorialMLP", "data": "FashionMNIST, 50 000 train / 10 000 validation, normalized",
                         "optimizer": f"SGD, momentum {MOMENTUM}", "base": f"batch {BASE_BATCH}, lr {BASE_LR}",
                         "num_epochs": NUM_EPOCHS, "seeds": list(SEEDS), "factors": list(FACTORS),
                         "warm-up": "LinearLR from lr 0.02 to the run's lr over the first epoch, per batch",
                         "steps_per_epoch": {str(b): -(-50_000 // b) for b in (BASE_BATCH, BIG_BATCH)},
                         "units": "val_accuracy: fraction in [0, 1]; losses: mean cross-entropy; seconds: training"},
            "load average (1 min) before": round(load_before, 2), "runs": results}


if __name__ == "__main__":
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    write_record(__file__, main())

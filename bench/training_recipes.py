"""Validation accuracy of lesson 08's recipes over several seeds, what each change adds, and the chosen
recipe's test accuracy, measured once at the end. Writes bench/training_recipes.json (lessons 08 and 09 read it).

Every recipe trains on 50 000 of the 60 000 training images and is judged on the other 10 000 (the
validation split of ``lessons_src.data.fashion_mnist_splits``, seed 0); only the chosen (good) recipe
is then run on the test set.

- official: the PyTorch tutorial's recipe (SGD lr 1e-3, batch 64, no shuffling, raw pixels),
  10 epochs, on the fast TensorLoader (which gives the DataLoader's losses exactly; see
  bench/training_speed.py). The seed changes only the initial weights.
- good: normalized inputs, SGD lr 0.02 with momentum 0.9, shuffled, batch 64, and the 7th
  (last) epoch at lr 0.002 (its training time is bench/training_speed.py's).
- ablation: the official recipe turned into the good one one change at a time, 7 epochs each, and the good
  recipe with batch 128, a change lesson 08 tries and turns down.
Run: .venv/bin/python bench/training_recipes.py [--seeds 5] [--no-ablation]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
from pathlib import Path

import torch
from torch import nn

from lessons_src import set_seed
from lessons_src.data import fashion_mnist_splits, normalize
from lessons_src.models import TutorialMLP
from lessons_src.training import TensorLoader, evaluate, fit

GOOD_EPOCHS, GOOD_DECAY_AT = 7, 6  # epochs 1–6 at lr 0.02, epoch 7 at lr 0.002
GOOD = {"lr": 0.02, "momentum": 0.9, "batch_size": 64, "shuffle": True, "normalized": True, "decay_at": GOOD_DECAY_AT}
# one change per row, in the order lesson 08 makes them; the last row is a change that was tried and not kept
ABLATION = {
    "the tutorial's: lr 1e-3, batch 64, raw pixels, fixed order": {"lr": 1e-3, "batch_size": 64},
    "+ normalized inputs": {"lr": 1e-3, "batch_size": 64, "normalized": True},
    "+ momentum 0.9 with lr 0.02": {"lr": 0.02, "momentum": 0.9, "batch_size": 64, "normalized": True},
    "+ shuffled every epoch": {**GOOD, "decay_at": None},
    "+ last epoch at lr / 10 (the good recipe)": GOOD,
    "the good recipe with batch 128 instead of 64": {**GOOD, "batch_size": 128},
}
RECORD = Path(__file__).with_suffix(".json")


def run(splits, seed: int, *, lr: float, batch_size: int, num_epochs: int, momentum: float = 0.0,
        shuffle: bool = False, normalized: bool = False, decay_at: int | None = None):
    """Train a fresh TutorialMLP (seeded) with one recipe, judged on validation; return (model, History)."""
    (X, y), (X_val, y_val) = splits.train, splits.val
    if normalized:
        X, X_val = normalize(X), normalize(X_val)
    set_seed(seed)
    model = TutorialMLP()
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    scheduler = (torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[decay_at], gamma=0.1)
                 if decay_at else None)
    history = fit(model, TensorLoader(X, y, batch_size, shuffle=shuffle, seed=seed),
                  TensorLoader(X_val, y_val, 1000), nn.CrossEntropyLoss(), optimizer, num_epochs, scheduler=scheduler)
    return model, history


def spread(values: list[float]) -> dict[str, float]:
    """Mean, standard deviation, min and max, as percentages with two decimals."""
    return {"mean": round(100 * statistics.mean(values), 2), "std": round(100 * statistics.stdev(values), 2),
            "min": round(100 * min(values), 2), "max": round(100 * max(values), 2)}


def main() -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--no-ablation", action="store_true")
    args = parser.parse_args()
    seeds = range(args.seeds)
    load_before = os.getloadavg()[0]
    splits = fashion_mnist_splits()
    report = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
                         f"torch {torch.__version__}, {torch.get_num_threads()} threads",
              "seeds": len(seeds)}

    official = [run(splits, s, lr=1e-3, batch_size=64, num_epochs=10)[1] for s in seeds]
    report["official"] = {
        "validation accuracy % per seed after epochs 1, 2, 10": [
            [round(100 * h.val_accuracy[i], 2) for i in (0, 1, 9)] for h in official],
        "after 10 epochs": spread([h.val_accuracy[-1] for h in official]),
        "after 1 epoch": spread([h.val_accuracy[0] for h in official]),
    }

    good = [run(splits, s, num_epochs=GOOD_EPOCHS, **GOOD) for s in seeds]
    X_test, y_test = normalize(splits.test[0]), splits.test[1]
    test = [evaluate(model, TensorLoader(X_test, y_test, 1000), nn.CrossEntropyLoss())[1] for model, _ in good]
    report["good"] = {
        "validation accuracy % per epoch, seed 0": [round(100 * a, 2) for a in good[0][1].val_accuracy],
        "after 7 epochs": spread([h.val_accuracy[-1] for _, h in good]),
        "test accuracy, measured once at the end": spread(test),
    }

    if not args.no_ablation:
        report["ablation: validation accuracy % after 7 epochs, seeds 0-2"] = {
            name: spread([run(splits, s, num_epochs=GOOD_EPOCHS, **kwargs)[1].val_accuracy[-1] for s in range(3)])
            for name, kwargs in ABLATION.items()}
    report["load average (1 min) before / after"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    return report


if __name__ == "__main__":
    result = main()
    RECORD.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2, ensure_ascii=False))

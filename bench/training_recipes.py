"""Test accuracy of lesson 05's recipes over several seeds, and what each ingredient of the good one adds.

- official: the PyTorch tutorial's recipe (SGD lr 1e-3, batch 64, no shuffling, raw pixels),
  10 epochs, on the fast TensorLoader (which gives the DataLoader's losses exactly; see
  bench/training_speed.py). The seed changes only the initial weights.
- good: normalized inputs, SGD lr 0.02 with momentum 0.9, batch 128, shuffled, and the 7th
  (last) epoch at lr 0.002; the training seconds are measured too.
- ablation: the official recipe turned into the good one an ingredient at a time, 7 epochs each.
Run: .venv/bin/python bench/training_recipes.py [--seeds 5] [--no-ablation]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics

import torch
from torch import nn

from lessons_src import set_seed
from lessons_src.data import load_fashion_mnist, normalize, to_tensors
from lessons_src.models import TutorialMLP
from lessons_src.training import TensorLoader, fit

GOOD_EPOCHS, GOOD_DECAY_AT = 7, 6  # epochs 1–6 at lr 0.02, epoch 7 at lr 0.002


def run(data, seed: int, *, lr: float, batch_size: int, num_epochs: int, momentum: float = 0.0,
        shuffle: bool = False, normalized: bool = False, decay_at: int | None = None):
    """Train a fresh TutorialMLP (seeded) with one recipe; return its History."""
    X, y, X_test, y_test = data
    if normalized:
        X, X_test = normalize(X), normalize(X_test)
    set_seed(seed)
    model = TutorialMLP()
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    scheduler = (torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[decay_at], gamma=0.1)
                 if decay_at else None)
    return fit(model, TensorLoader(X, y, batch_size, shuffle=shuffle, seed=seed),
               TensorLoader(X_test, y_test, 1000), nn.CrossEntropyLoss(), optimizer, num_epochs,
               scheduler=scheduler)


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
    train_set, test_set = load_fashion_mnist()
    data = (*to_tensors(train_set), *to_tensors(test_set))
    report = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
                         f"torch {torch.__version__}, {torch.get_num_threads()} threads"}

    official = [run(data, s, lr=1e-3, batch_size=64, num_epochs=10) for s in seeds]
    report["official recipe, test accuracy % per seed after 1 / 2 / 10 epochs"] = {
        s: [round(100 * h.test_accuracy[i], 2) for i in (0, 1, 9)] for s, h in zip(seeds, official, strict=True)}
    report["official recipe after 10 epochs, % over seeds"] = spread([h.test_accuracy[-1] for h in official])
    report["official recipe after 1 epoch, % over seeds"] = spread([h.test_accuracy[0] for h in official])
    report["official recipe, seconds per epoch (median)"] = round(
        statistics.median(t for h in official for t in h.seconds), 2)

    good_recipe = {"lr": 0.02, "momentum": 0.9, "batch_size": 128, "shuffle": True, "normalized": True}
    good = [run(data, s, num_epochs=GOOD_EPOCHS, decay_at=GOOD_DECAY_AT, **good_recipe) for s in seeds]
    report["good recipe, test accuracy % per epoch, seed 0"] = [round(100 * a, 2) for a in good[0].test_accuracy]
    report["good recipe after 7 epochs, % over seeds"] = spread([h.test_accuracy[-1] for h in good])
    report["good recipe, training seconds per seed"] = [round(h.total_seconds, 1) for h in good]

    if not args.no_ablation:
        steps = {
            "official (lr 1e-3, batch 64, raw, in order)": {"lr": 1e-3, "batch_size": 64},
            "+ normalized inputs": {"lr": 1e-3, "batch_size": 64, "normalized": True},
            "+ momentum 0.9, lr 0.02": {"lr": 0.02, "momentum": 0.9, "batch_size": 64, "normalized": True},
            "+ batch 128, shuffled": good_recipe,
            "+ last epoch at lr / 10 (the good recipe)": {**good_recipe, "decay_at": GOOD_DECAY_AT},
        }
        report["ablation: 7 epochs, test accuracy %, mean over seeds 0-2"] = {
            name: spread([run(data, s, num_epochs=GOOD_EPOCHS, **kwargs).test_accuracy[-1] for s in range(3)])
            for name, kwargs in steps.items()}
    report["load average (1 min) before / after"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    return report


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))

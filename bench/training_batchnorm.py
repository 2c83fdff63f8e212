"""Source tutorial 003's claim, measured: does BatchNorm2d(1) on the input add 5 % test accuracy?

That tutorial's network (784 → 128 → 10, no biases, log_softmax + NLLLoss), SGD lr 0.15 without
momentum, batch 128, shuffled, 10 epochs, for several seeds and three inputs: raw pixels,
raw pixels through BatchNorm2d(1), and pixels normalized once with the training set's mean and
std. Every variant sees the same initial weights of the linear layers and the same batch order.
Run: .venv/bin/python bench/training_batchnorm.py [--seeds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics

import torch
from torch import nn

from lessons_src import set_seed
from lessons_src.data import load_fashion_mnist, normalize, to_tensors
from lessons_src.models import SourceFashionMLP
from lessons_src.training import TensorLoader, fit

VARIANTS = {"raw pixels": (False, False), "BatchNorm2d(1) on the input": (True, False),
            "normalized once (mean/std)": (False, True)}


def run(data, seed: int, batchnorm: bool, normalized: bool, num_epochs: int = 10) -> list[float]:
    """Test accuracy after every epoch of one seeded run."""
    X, y, X_test, y_test = data
    if normalized:
        X, X_test = normalize(X), normalize(X_test)
    set_seed(seed)
    model = SourceFashionMLP(input_batchnorm=batchnorm)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.15)
    history = fit(model, TensorLoader(X, y, 128, shuffle=True, seed=seed), TensorLoader(X_test, y_test, 1000),
                  nn.NLLLoss(), optimizer, num_epochs)
    return history.test_accuracy


def main() -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    train_set, test_set = load_fashion_mnist()
    data = (*to_tensors(train_set), *to_tensors(test_set))
    runs = {name: [run(data, s, *flags) for s in range(args.seeds)] for name, flags in VARIANTS.items()}
    report = {}
    for epoch in (1, 3, 10):
        report[f"test accuracy % after {epoch} epochs (mean ± std over {args.seeds} seeds)"] = {
            name: f"{100 * statistics.mean(r[epoch - 1] for r in rs):.2f} ± "
                  f"{100 * statistics.stdev(r[epoch - 1] for r in rs):.2f}" for name, rs in runs.items()}
        raw = runs["raw pixels"]
        for name in list(VARIANTS)[1:]:
            gains = [100 * (b[epoch - 1] - a[epoch - 1]) for a, b in zip(raw, runs[name], strict=True)]
            report[f"gain of '{name}' over raw after {epoch} epochs, per seed (points)"] = [round(g, 2) for g in gains]
    report["load average (1 min) before / after"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    return report


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))

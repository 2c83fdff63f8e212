"""Source tutorial 003's claim, measured: does BatchNorm2d(1) on the input add 5 % accuracy?
Writes bench/training_batchnorm.json (lesson 08 reads it).

That tutorial's network (784 → 128 → 10, no biases, log_softmax + NLLLoss), SGD lr 0.15 without
momentum, batch 128, shuffled, 10 epochs, for several seeds and three inputs: raw pixels,
raw pixels through BatchNorm2d(1), and pixels normalized once with the training set's mean and
std. Every variant sees the same initial weights of the linear layers and the same batch order. The
verdict is a choice, so it is made on the validation split (50 000 training / 10 000 validation images,
``lessons_src.data.fashion_mnist_splits``), never on the test set.
Run: .venv/bin/python bench/training_batchnorm.py [--seeds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
from pathlib import Path

import torch
from torch import nn

from lessons_src import set_seed
from lessons_src.data import fashion_mnist_splits, normalize
from lessons_src.models import SourceFashionMLP
from lessons_src.training import TensorLoader, fit

RECORD = Path(__file__).with_suffix(".json")
VARIANTS = {"raw pixels": (False, False), "BatchNorm2d(1) on the input": (True, False),
            "normalized once (mean/std)": (False, True)}


def run(splits, seed: int, batchnorm: bool, normalized: bool, num_epochs: int = 10) -> list[float]:
    """Validation accuracy after every epoch of one seeded run."""
    (X, y), (X_val, y_val) = splits.train, splits.val
    if normalized:
        X, X_val = normalize(X), normalize(X_val)
    set_seed(seed)
    model = SourceFashionMLP(input_batchnorm=batchnorm)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.15)
    history = fit(model, TensorLoader(X, y, 128, shuffle=True, seed=seed), TensorLoader(X_val, y_val, 1000),
                  nn.NLLLoss(), optimizer, num_epochs)
    return history.val_accuracy


def main() -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    splits = fashion_mnist_splits()
    runs = {name: [run(splits, s, *flags) for s in range(args.seeds)] for name, flags in VARIANTS.items()}
    report = {"seeds": args.seeds, "epochs": [1, 3, 10]}
    report["validation accuracy %: [mean, std] over seeds after epochs 1, 3, 10"] = {
        name: [[round(100 * f([r[e - 1] for r in rs]), 2) for f in (statistics.mean, statistics.stdev)]
               for e in (1, 3, 10)] for name, rs in runs.items()}
    raw = runs["raw pixels"]
    report["gain over raw pixels, per seed (points), after epochs 1, 3, 10"] = {
        name: [[round(100 * (b[e - 1] - a[e - 1]), 2) for a, b in zip(raw, runs[name], strict=True)]
               for e in (1, 3, 10)] for name in list(VARIANTS)[1:]}
    report["load average (1 min) before / after"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    return report


if __name__ == "__main__":
    result = main()
    RECORD.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2, ensure_ascii=False))

"""Validation accuracy of the PyTorch tutorial's own recipe with and without the sources' extra ReLU on the logits.

The recipe of source tutorials 000-002: SGD lr 1e-3, batch 64, no shuffling, raw pixels, 10 epochs on the
50 000 training images of lesson 07's split, measured on its 10 000 validation images, seed 0 (the same
initial weights for both networks: the ReLU has no parameters).
Lesson 10 measures the same mistake on a 12 000-image subset in seconds; this script gives the full-size
numbers its text quotes, and writes them to bench/relu_on_logits.json.
Run: .venv/bin/python bench/relu_on_logits.py
"""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path

import torch
from torch import nn

from lessons_src import set_seed
from lessons_src.data import fashion_mnist_splits
from lessons_src.pitfalls import tutorial_mlp
from lessons_src.training import TensorLoader, fit

NUM_EPOCHS, SEED = 10, 0
RECORD = Path(__file__).with_suffix(".json")


def main() -> dict:
    (X, y), (X_val, y_val), _ = fashion_mnist_splits()
    report = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
                         f"torch {torch.__version__}, {torch.get_num_threads()} threads",
              "recipe": "SGD lr 1e-3, batch 64, not shuffled, raw pixels, 10 epochs, 50 000 images, seed 0"}
    for relu_on_logits in (False, True):
        set_seed(SEED)
        model = tutorial_mlp(relu_on_logits=relu_on_logits)
        history = fit(model, TensorLoader(X, y, 64), TensorLoader(X_val, y_val, 1000), nn.CrossEntropyLoss(),
                      torch.optim.SGD(model.parameters(), lr=1e-3), NUM_EPOCHS)
        name = "with the ReLU" if relu_on_logits else "without the ReLU"
        report[f"validation accuracy % per epoch, {name}"] = [round(100 * a, 2) for a in history.val_accuracy]
    return report


if __name__ == "__main__":
    result = main()
    RECORD.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))

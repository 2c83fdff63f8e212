"""Seconds per training epoch of the tutorial model at batch 64: DataLoader + ToTensor vs TensorLoader;
and the training time of lesson 08's good recipe. Writes bench/training_speed.json (lesson 08 reads it).

Both loaders serve the same shuffled order (one EpochSampler seed), start from the same weights
and must give the same losses; the script checks that and reports the speed-up. Epoch times are
the median of a few epochs; run on an otherwise idle machine (the load average is reported).
The epoch is lesson 08's: the 50 000 training images of the validation split
(``lessons_src.data.train_validation_split``, seed 0).
Run: .venv/bin/python bench/training_speed.py [--threads N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, Subset

from lessons_src import set_seed
from lessons_src.data import load_fashion_mnist, normalize, to_tensors, train_validation_split
from lessons_src.models import TutorialMLP
from lessons_src.training import EpochSampler, TensorLoader, evaluate, fit, train_epoch


def epoch_seconds(loader, state: dict, repeats: int) -> tuple[list[float], list[float]]:
    """Seconds of ``repeats`` epochs from the same start weights; the first epoch's losses."""
    samples, first_losses = [], None
    for _ in range(repeats):
        model = TutorialMLP()
        model.load_state_dict(state)
        optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
        loader.sampler.set_epoch(0)  # the same order every repeat
        start = time.perf_counter()
        losses = train_epoch(model, loader, nn.CrossEntropyLoss(), optimizer)
        samples.append(time.perf_counter() - start)
        first_losses = first_losses or losses
    return samples, first_losses


RECORD = Path(__file__).with_suffix(".json")


def good_recipe(X, y, X_val, y_val, seed: int = 0):
    """Lesson 08's good recipe: its History, whose seconds are the training passes only."""
    set_seed(seed)
    model = TutorialMLP()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.02, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[6], gamma=0.1)
    return fit(model, TensorLoader(normalize(X), y, 64, shuffle=True, seed=seed),
               TensorLoader(normalize(X_val), y_val, 1000), nn.CrossEntropyLoss(), optimizer, 7,
               scheduler=scheduler)


def main() -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()[0]
    train_set, test_set = load_fashion_mnist()
    start = time.perf_counter()
    X_all, y_all = to_tensors(train_set)
    to_tensors(test_set)  # lesson 08 converts the training images, lesson 09 the test images: the time is for both
    to_tensors_seconds = time.perf_counter() - start
    train_idx, val_idx = train_validation_split(len(y_all), 10_000, seed=0)
    X, y, X_val, y_val = X_all[train_idx], y_all[train_idx], X_all[val_idx], y_all[val_idx]
    set_seed(0)
    state = TutorialMLP().state_dict()
    data_loader = DataLoader(Subset(train_set, train_idx.tolist()), batch_size=64,
                             sampler=EpochSampler(len(train_idx), seed=0))
    tensor_loader = TensorLoader(X, y, 64, shuffle=True, seed=0)
    slow, slow_losses = epoch_seconds(data_loader, state, args.repeats)
    fast, fast_losses = epoch_seconds(tensor_loader, state, args.repeats)
    max_diff = (torch.tensor(slow_losses) - torch.tensor(fast_losses)).abs().max().item()
    model = TutorialMLP()
    timings = {}
    for name, loader in (("DataLoader + ToTensor", DataLoader(Subset(train_set, val_idx.tolist()), batch_size=64)),
                         ("TensorLoader", TensorLoader(X_val, y_val, 64))):
        start = time.perf_counter()
        evaluate(model, loader, nn.CrossEntropyLoss())
        timings[name] = round(time.perf_counter() - start, 2)
    good = good_recipe(X, y, X_val, y_val)
    return {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
                   f"torch {torch.__version__}, {args.threads} threads",
        "load average (1 min) before / after": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "to_tensors, train + test (s)": round(to_tensors_seconds, 2),
        "train epoch, DataLoader + ToTensor (s): median, min": [round(statistics.median(slow), 2), round(min(slow), 2)],
        "train epoch, TensorLoader (s): median, min": [round(statistics.median(fast), 2), round(min(fast), 2)],
        "speed-up (medians)": round(statistics.median(slow) / statistics.median(fast), 1),
        "steps per epoch": len(fast_losses),
        "max |loss difference| over one epoch": max_diff,
        "validation pass at batch 64 (s)": timings,
        "good recipe: training seconds for 7 epochs (evaluation excluded)": round(good.total_seconds, 1),
        "good recipe: seconds per epoch": [round(s, 2) for s in good.seconds],
        "good recipe: validation accuracy % after 7 epochs": round(100 * good.val_accuracy[-1], 2),
    }


if __name__ == "__main__":
    result = main()
    RECORD.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))

"""Training throughput (samples per second) of the FashionMNIST TutorialMLP against the batch size.

Each measurement runs SGD steps (forward, backward, step) on consecutive batches of 8192 training
images for at least ``--seconds`` seconds, three times; the median is kept. The run is stored in
``bench/minibatch_throughput.json`` under its thread count (replacing an earlier run with the same
count), with the date, the machine, the torch version and the load average at the start; from it
``python -m lessons_src.figures minibatch_throughput.png`` draws the committed figure.
Run: .venv/bin/python bench/minibatch_throughput.py [--threads 2] [--seconds 1.0]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
from pathlib import Path

import torch
from torch import nn

from lessons_src import set_seed
from lessons_src.data import load_fashion_mnist, to_tensors
from lessons_src.models import TutorialMLP
from lessons_src.timing import training_throughput

BATCH_SIZES = (1, 4, 16, 64, 256, 1024, 4096)
OUTPUT = Path(__file__).with_suffix(".json")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="minimum seconds per measurement")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch.set_num_threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    set_seed(0)
    train, _ = load_fashion_mnist()
    X, y = to_tensors(train)
    X, y = X[:8192], y[:8192]
    model, loss_fn = TutorialMLP(), nn.CrossEntropyLoss()
    load = os.getloadavg()[0]
    samples_per_second = []
    for batch_size in BATCH_SIZES:
        runs = [training_throughput(model, X, y, loss_fn, batch_size, min_seconds=args.seconds)
                for _ in range(args.repeats)]
        samples_per_second.append(round(statistics.median(runs), 1))
        print(f"batch {batch_size:5d}: {samples_per_second[-1]:10.1f} samples/s  (runs {[round(r) for r in runs]})")
    run = {
        "threads": torch.get_num_threads(),
        "date": datetime.date.today().isoformat(),
        "load_average_at_start": round(load, 2),
        "batch_size": list(BATCH_SIZES),
        "samples_per_second": samples_per_second,
    }
    report = json.loads(OUTPUT.read_text()) if OUTPUT.exists() else {}
    report.update({
        "what": "TutorialMLP (784-512-512-10) on FashionMNIST, SGD steps: forward + backward + step, CPU",
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "torch": torch.__version__,
    })
    report["runs"] = sorted([r for r in report.get("runs", []) if r["threads"] != run["threads"]] + [run],
                            key=lambda r: r["threads"])
    OUTPUT.write_text(json.dumps(report, indent=2) + "\n")
    print("wrote", OUTPUT)


if __name__ == "__main__":
    main()

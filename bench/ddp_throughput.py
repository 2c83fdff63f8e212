"""What two processes cost on this machine's 2 cores: 1 process × 2 threads against 2 processes × 1 thread that
average their gradients with a hand-written all-reduce (not DistributedDataParallel), and where a step's time goes.
Writes bench/ddp_throughput.json.

Each configuration is a ``torchrun`` launch of ``lessons_src.workers`` task ``throughput``: the tutorial network
(669 706 weights, 2.7 MB of float32 gradients) on random images, SGD with momentum; every step is timed in
three parts: forward + backward ("compute"), ``lessons_src.distributed.average_gradients`` (none with one
process), and the optimizer step. ``average_gradients`` runs after ``backward()`` has finished: one blocking gloo
``all_reduce`` (a sum over 127.0.0.1) per parameter tensor, six here, then a division by the world size. DDP
would instead all-reduce the gradients in buckets (25 MB by default) while the backward pass goes on, overlapping
the exchange with the computation; DDP is not timed here. A ``barrier`` before every step starts the ranks
together, so a rank's "all_reduce" is the exchange plus any wait for the other rank's computation of that step.
The global batch (64 or 512) is split evenly over the processes. 5 warm-up steps, then 40 timed ones; medians.
Examples per second = global batch / median step time of the slowest rank. The record keeps the 1-minute load
average before and after: other work on the two cores slows every configuration.
Run on an idle machine: .venv/bin/python bench/ddp_throughput.py   (under a minute)
"""

from __future__ import annotations

import os
import statistics

from timing import write_record  # bench/timing.py, beside this script

from lessons_src.launch import run_torchrun

CONFIGS = {"1 process × 2 threads": (1, 2), "2 processes × 1 thread": (2, 1), "1 process × 1 thread": (1, 1)}
GLOBAL_BATCHES, NUM_STEPS, WARMUP_STEPS = (64, 512), 40, 5


def measure(nproc: int, threads: int, global_batch: int) -> dict:
    """Median milliseconds per part of a step (slowest rank) and the examples per second it gives."""
    ranks = run_torchrun("throughput", nproc=nproc, threads=threads, batch_size=global_batch // nproc,
                         num_steps=NUM_STEPS, warmup_steps=WARMUP_STEPS, launch_timeout_s=300).results
    parts = {name: max(statistics.median(r[name].tolist()) for r in ranks) * 1000
             for name in ("compute", "all_reduce", "step")}
    total = sum(parts.values())
    return {**{f"{name} (ms)": round(ms, 2) for name, ms in parts.items()}, "step total (ms)": round(total, 2),
            "examples per second": round(global_batch / total * 1000), "all-reduce share": round(
                parts["all_reduce"] / total, 3)}


def main() -> dict:
    load_before = os.getloadavg()[0]
    results = {}
    for batch in GLOBAL_BATCHES:
        results[f"global batch {batch}"] = {name: measure(nproc, threads, batch)
                                            for name, (nproc, threads) in CONFIGS.items()}
        print(batch, results[f"global batch {batch}"], flush=True)
    return {"settings": {"model": "TutorialMLP (669 706 weights)", "backend": "gloo on 127.0.0.1",
                         "steps": f"{WARMUP_STEPS} warm-up + {NUM_STEPS} timed, medians, slowest rank",
                         "gradient bytes per all-reduce": 669_706 * 4},
            "load average (1 min) before": round(load_before, 2), "results": results}


if __name__ == "__main__":
    write_record(__file__, main())

"""The one timing helper the redraw benchmarks share (imported by the scripts beside it)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterable


def median_ms(action: Callable, values: Iterable) -> float:
    """Median wall time, in milliseconds, of ``action(value)`` over ``values``."""
    samples = []
    for value in values:
        start = time.perf_counter()
        action(value)
        samples.append(time.perf_counter() - start)
    return 1000 * statistics.median(samples)


def machine() -> str:
    """The machine in a few words: processor, cores, torch version and its threads."""
    import os
    import platform

    import torch

    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
            f"{torch.get_num_threads()} threads")


def write_record(script: str, results: dict) -> dict:
    """Add when, where and the load average to ``results``, print it and write it beside ``script``
    (bench/x.py → bench/x.json), where the README's tests read it."""
    import json
    import os
    from pathlib import Path

    report = {"when": time.strftime("%Y-%m-%d %H:%M"), "machine": machine(),
              "load average (1 min) after": round(os.getloadavg()[0], 2), **results}
    text = json.dumps(report, indent=1, ensure_ascii=False)
    Path(script).with_suffix(".json").write_text(text + "\n", encoding="utf-8")
    print(text)
    return report

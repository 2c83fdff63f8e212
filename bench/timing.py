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

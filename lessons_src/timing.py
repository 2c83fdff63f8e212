"""How long a gradient takes, and how many samples per second training steps process.

Both helpers measure wall time on this machine, so their numbers are for comparing batch sizes
or thread counts within one run; ``bench/`` records numbers worth quoting.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import torch
from torch import nn

from lessons_src.language import tr
from lessons_src.validation import as_int, as_real

MAX_SECONDS = 60.0  # the longest a timing helper measures in one call
MAX_REPEATS = 1_000  # the most passes gradient_seconds may be asked for


def gradient_seconds(model: nn.Module, X: torch.Tensor, y: torch.Tensor, loss_fn: Callable, *,
                     repeats: int = 3, min_seconds: float = 0.0, threads: int | None = None) -> float:
    """The fastest forward + backward pass over all of X (seconds), out of at least ``repeats`` passes
    and of as many more as fit in ``min_seconds`` (the minimum filters out moments when the machine is busy).

    ``threads`` sets ``torch.set_num_threads`` for the measurement only (None: leave it as it is).
    ``repeats`` is at most ``MAX_REPEATS`` and ``min_seconds`` at most ``MAX_SECONDS``.
    """
    repeats = as_int("repeats", repeats, low=1, high=MAX_REPEATS)
    min_seconds = as_real("min_seconds", min_seconds, low=0.0, high=MAX_SECONDS)
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(as_int("threads", threads, low=1))
    try:
        best, count, begin = math.inf, 0, time.perf_counter()
        while count < repeats or time.perf_counter() - begin < min_seconds:
            model.zero_grad()
            start = time.perf_counter()
            loss_fn(model(X), y).backward()
            best, count = min(best, time.perf_counter() - start), count + 1
    finally:
        torch.set_num_threads(before)
        model.zero_grad()
    return best


def training_throughput(model: nn.Module, X: torch.Tensor, y: torch.Tensor, loss_fn: Callable,
                        batch_size: int, *, min_seconds: float = 0.3, lr: float = 0.01) -> float:
    """Samples per second of SGD steps (forward, backward, step) on consecutive batches of X, y.

    One warm-up step, then steps until ``min_seconds`` (at most ``MAX_SECONDS``) have passed, at
    least three. The model's weights change: pass a copy if they matter.
    """
    batch_size = as_int("batch_size", batch_size, low=1)
    if batch_size > len(X):
        raise ValueError(tr("batch_size must be <= len(X) = {count}, got {batch_size}", count=len(X),
                            batch_size=batch_size))
    min_seconds = as_real("min_seconds", min_seconds, low=0.0, high=MAX_SECONDS)
    optimizer = torch.optim.SGD(model.parameters(), lr=as_real("lr", lr, low=0.0, low_open=True))
    starts = range(0, len(X) - batch_size + 1, batch_size)

    def step(i: int) -> None:
        start = starts[i % len(starts)]
        optimizer.zero_grad()
        loss_fn(model(X[start:start + batch_size]), y[start:start + batch_size]).backward()
        optimizer.step()

    step(0)
    steps, begin = 0, time.perf_counter()
    while steps < 3 or time.perf_counter() - begin < min_seconds:
        step(steps + 1)
        steps += 1
    return steps * batch_size / (time.perf_counter() - begin)

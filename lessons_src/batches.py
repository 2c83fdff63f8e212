"""Mini-batches of sample indices: how many an epoch has, and which, in the course's one seeded order.

Every seeded order comes from :func:`lessons_src.training.epoch_order`: epoch k is the permutation
seeded ``seed + k`` (the convention of PyTorch's ``DistributedSampler``). A ``DataLoader`` given
``sampler=EpochSampler(m, seed=seed)`` serves exactly the batches of :func:`batch_stream` (the tests
compare the two), so a path or a noise cloud computed here is one a real training loop can repeat.
"""

from __future__ import annotations

import math

import numpy as np

from lessons_src.language import tr
from lessons_src.training import epoch_order
from lessons_src.validation import MAX_STEPS, as_int


def batches_per_epoch(num_samples: int, batch_size: int, drop_last: bool = False) -> int:
    """Iterations in one epoch, ``len(DataLoader)``: ⌈m / B⌉, or ⌊m / B⌋ with ``drop_last``."""
    num_samples = as_int("num_samples", num_samples, low=1)
    batch_size = as_int("batch_size", batch_size, low=1)
    return num_samples // batch_size if drop_last else math.ceil(num_samples / batch_size)


def epoch_batches(num_samples: int, batch_size: int, epoch: int, *, seed: int = 0,
                  drop_last: bool = False) -> list[np.ndarray]:
    """Epoch ``epoch``'s index batches: consecutive slices of ``epoch_order(num_samples, epoch, seed=seed)``."""
    num_batches = batches_per_epoch(num_samples, batch_size, drop_last)
    order = epoch_order(num_samples, as_int("epoch", epoch), seed=seed).numpy()
    return [order[start:start + batch_size] for start in range(0, num_batches * batch_size, batch_size)]


def batch_stream(num_samples: int, batch_size: int, num_batches: int, *, seed: int = 0,
                 drop_last: bool = False) -> list[np.ndarray]:
    """The first ``num_batches`` (at most ``MAX_STEPS``) index batches of epochs 0, 1, 2, ... in order."""
    num_batches = as_int("num_batches", num_batches, high=MAX_STEPS, remedy=tr("draw fewer batches"))
    if drop_last and batch_size > num_samples:
        raise ValueError(tr("batch_size must be <= num_samples with drop_last=True, got {batch_size} > {num_samples}",
                            batch_size=batch_size, num_samples=num_samples))
    batches: list[np.ndarray] = []
    epoch = 0
    while len(batches) < num_batches:
        batches += epoch_batches(num_samples, batch_size, epoch, seed=seed, drop_last=drop_last)
        epoch += 1
    return batches[:num_batches]

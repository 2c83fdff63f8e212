"""Mini-batches in a reproducible order: the fast :class:`TensorLoader` and the :class:`EpochSampler`.

Epoch k's order is a permutation seeded by ``seed + k`` (PyTorch's DistributedSampler convention),
so it does not depend on how the epochs before it ran, and an interrupted epoch can be served again
from any step (:func:`epoch_batches`). A ``DataLoader`` given the same sampler serves the same batches.
"""

from __future__ import annotations

import collections
import math
import warnings
from collections.abc import Iterable, Iterator
from itertools import islice

import torch
from torch.utils.data import RandomSampler, Sampler

from lessons_src.language import tr
from lessons_src.validation import as_int

__all__ = ["epoch_order", "EpochSampler", "TensorLoader", "set_loader_epoch", "epoch_batches"]


# --- batches ------------------------------------------------------------------------------------
def epoch_order(num_samples: int, epoch: int, *, seed: int = 0, shuffle: bool = True) -> torch.Tensor:
    """The index order of one epoch, int64 (num_samples,): a permutation seeded by seed + epoch, or 0..n−1.

    ``seed + epoch`` is the convention of PyTorch's DistributedSampler: every epoch gets its own
    order, and epoch k's order does not depend on how epochs before it were run (or resumed).
    """
    if not shuffle:
        return torch.arange(num_samples)
    generator = torch.Generator().manual_seed(seed + epoch)
    return torch.randperm(num_samples, generator=generator)


class EpochSampler(Sampler[int]):
    """A DataLoader sampler whose order is ``epoch_order(n, epoch, seed=seed, shuffle=shuffle)``.

    Every ``iter()`` serves the current epoch's order and moves to the next epoch;
    ``set_epoch(k)`` jumps to epoch k (``fit`` calls it, so a resumed run repeats the same orders).
    """

    def __init__(self, num_samples: int, *, seed: int = 0, shuffle: bool = True) -> None:
        """Sample ``num_samples`` indices per epoch, starting at epoch 0."""
        self.num_samples = as_int("num_samples", num_samples, low=1)
        self.seed, self.shuffle, self.epoch = as_int("seed", seed), shuffle, 0

    def set_epoch(self, epoch: int) -> None:
        """Serve epoch ``epoch``'s order on the next ``iter()``."""
        self.epoch = epoch

    def next_order(self) -> torch.Tensor:
        """The current epoch's order (int64 tensor); the following call gives the next epoch's."""
        order = epoch_order(self.num_samples, self.epoch, seed=self.seed, shuffle=self.shuffle)
        self.epoch += 1
        return order

    def __iter__(self) -> Iterator[int]:
        return iter(self.next_order().tolist())

    def __len__(self) -> int:
        return self.num_samples


class TensorLoader:
    """Mini-batches (X[idx], y[idx]) of tensors held in memory on ``device``; the fast DataLoader.

    ``X`` and ``y`` are moved to the device once; each batch is one indexing operation, with no
    per-image Python work. Iterating gives ceil(N / batch_size) batches, the last one smaller.
    """

    def __init__(self, X: torch.Tensor, y: torch.Tensor, batch_size: int, *, shuffle: bool = False,
                 seed: int = 0, device: torch.device | str | None = None) -> None:
        """Serve X (N, ...) and y (N,) in batches of ``batch_size``, shuffled per epoch when asked."""
        self.batch_size = as_int("batch_size", batch_size, low=1)
        if len(X) != len(y):
            raise ValueError(tr("X and y must hold the same number of examples, got {x_count} and {y_count}",
                                x_count=len(X), y_count=len(y)))
        self.X, self.y = X.to(device), y.to(device)
        self.sampler = EpochSampler(len(X), seed=seed, shuffle=shuffle)

    def __len__(self) -> int:
        return math.ceil(len(self.X) / self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        return self.batches()

    def batches(self, start_step: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The current epoch's batches from step ``start_step + 1`` on; earlier steps are skipped at no cost."""
        order = self.sampler.next_order().to(self.X.device)
        for start in range(start_step * self.batch_size, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            yield self.X[idx], self.y[idx]


def set_loader_epoch(loader: Iterable, epoch: int) -> None:
    """Tell a loader's sampler which epoch comes next, if it has ``set_epoch`` (ours and DistributedSampler)."""
    sampler = getattr(loader, "sampler", None)
    if hasattr(sampler, "set_epoch"):
        sampler.set_epoch(epoch)


def epoch_batches(loader: Iterable, epoch: int, start_step: int = 0) -> Iterator:
    """Epoch ``epoch``'s batches (0-based) from step ``start_step + 1`` on: those an unbroken pass would serve.

    A TensorLoader skips the first steps at no cost; another loader serves them and they are dropped
    (a DataLoader reads them again). Skipping leaves torch's random generator as it was, because the
    first pass over those steps already drew from it. A loader whose order is drawn from that
    generator (``DataLoader(shuffle=True)``) cannot repeat an epoch's order, so it gets a warning.
    """
    set_loader_epoch(loader, epoch)
    if start_step == 0:
        return iter(loader)
    if isinstance(getattr(loader, "sampler", None), RandomSampler):
        warnings.warn(tr("resuming in the middle of an epoch with a DataLoader(shuffle=True): its order is drawn "
                         "afresh, so the rest of the epoch differs from an unbroken run. Use TensorLoader(..., "
                         "shuffle=True) or DataLoader(..., sampler=EpochSampler(n)) for an exact resume."),
                      stacklevel=3)
    if isinstance(loader, TensorLoader):
        return loader.batches(start_step)
    with torch.random.fork_rng(devices=[]):
        batches = iter(loader)
        collections.deque(islice(batches, start_step), maxlen=0)
    return batches

"""Batches of indices: as many per epoch as a DataLoader has, and exactly a DataLoader's batches."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.data import DataLoader, TensorDataset

from lessons_src.batches import batch_stream, batches_per_epoch, epoch_batches
from lessons_src.training import EpochSampler, epoch_order
from lessons_src.validation import MAX_STEPS


def loader_batches(m: int, batch_size: int, seed: int, drop_last: bool, num_epochs: int) -> list[list[int]]:
    """Index batches of a real DataLoader with the course's sampler, epoch after epoch."""
    loader = DataLoader(TensorDataset(torch.arange(m)), batch_size=batch_size,
                        sampler=EpochSampler(m, seed=seed), drop_last=drop_last)
    return [batch.tolist() for _ in range(num_epochs) for (batch,) in loader]


@settings(max_examples=60, deadline=None)
@given(m=st.integers(1, 300), batch_size=st.integers(1, 64), drop_last=st.booleans())
def test_batches_per_epoch_is_len_of_a_dataloader(m, batch_size, drop_last):
    loader = DataLoader(TensorDataset(torch.zeros(m)), batch_size=batch_size, drop_last=drop_last)
    assert batches_per_epoch(m, batch_size, drop_last) == len(loader)
    assert batches_per_epoch(m, batch_size, drop_last) == (m // batch_size if drop_last else math.ceil(m / batch_size))


@pytest.mark.parametrize("m, batch_size, drop_last, seed", [
    (10, 4, False, 3), (10, 4, True, 3), (569, 32, False, 0), (569, 32, True, 7), (7, 7, False, 1),
    (7, 1, True, 2), (100, 30, False, 5)])
def test_batches_are_exactly_those_of_a_dataloader_with_the_epoch_sampler(m, batch_size, drop_last, seed):
    expected = loader_batches(m, batch_size, seed, drop_last, num_epochs=3)
    got = batch_stream(m, batch_size, len(expected), seed=seed, drop_last=drop_last)
    assert [b.tolist() for b in got] == expected


def test_epoch_batches_cut_the_epoch_order_and_differ_between_epochs():
    first, second = (epoch_batches(50, 8, epoch, seed=4) for epoch in (0, 1))
    np.testing.assert_array_equal(np.concatenate(first), epoch_order(50, 0, seed=4).numpy())
    for epoch in (first, second):
        assert sorted(np.concatenate(epoch).tolist()) == list(range(50))
        assert [len(b) for b in epoch] == [8] * 6 + [2]
    assert not np.array_equal(np.concatenate(first), np.concatenate(second))
    assert [len(b) for b in epoch_batches(50, 8, 0, drop_last=True)] == [8] * 6


@pytest.mark.parametrize("call, name", [
    (lambda: batches_per_epoch(10, 0), "batch_size"),
    (lambda: batches_per_epoch(0, 4), "num_samples"),
    (lambda: batches_per_epoch(10, 2.5), "batch_size"),
    (lambda: batches_per_epoch(10, True), "batch_size"),
    (lambda: epoch_batches(10, 4, -1), "epoch"),
    (lambda: batch_stream(10, 4, -1), "num_batches"),
    (lambda: batch_stream(10, 4, MAX_STEPS + 1), "num_batches"),
    (lambda: batch_stream(10, 11, 3, drop_last=True), "batch_size"),
])
def test_bad_arguments_raise_a_value_error_naming_them(call, name):
    with pytest.raises(ValueError, match=f"^{name} must"):
        call()


def test_numpy_and_torch_integers_are_counts():
    assert batches_per_epoch(np.int64(569), torch.tensor(32)) == 18

"""Lesson 14's self-checks: right answers pass, the usual slips are named, and the in-thread group sums as
a real all-reduce does."""

from __future__ import annotations

import math

import torch
import torch.distributed as dist

from lessons_src import checks
from lessons_src.distributed import shard_indices
from lessons_src.distributed_checks import SHARD_CASES, torch_shard


def shard(num_samples, rank, world_size):
    order = list(range(num_samples))
    total = math.ceil(num_samples / world_size) * world_size
    while len(order) < total:
        order += order[:total - len(order)]
    return order[rank::world_size]


def test_a_right_shard_passes_and_the_reference_is_the_package():
    assert checks.check_shard(shard)
    assert checks.check_shard(lambda n, r, k: shard_indices(n, r, k, shuffle=False))
    assert checks.check_shard(lambda n, r, k: torch.tensor(shard(n, r, k)))  # a tensor is fine too
    assert all(torch_shard(n, r, k) == shard(n, r, k) for n, k in SHARD_CASES for r in range(k))


def test_the_shard_slips_are_named():
    def blocks(n, r, k):
        size = math.ceil(n / k)
        return (list(range(n)) * (k + 1))[:size * k][r * size:(r + 1) * size]

    slips = {
        "contiguous block": blocks,
        "without padding": lambda n, r, k: list(range(n))[r::k],
        "drop_last=True": lambda n, r, k: list(range(n // k * k))[r::k],
        "padded with the last index": lambda n, r, k: (list(range(n)) + [n - 1] * (-n % k))[r::k],
        "wrong order": lambda n, r, k: sorted(shard(n, r, k), reverse=True),
    }
    for words, fn in slips.items():
        verdict = checks.check_shard(fn)
        assert not verdict and words in repr(verdict), (words, repr(verdict))

    def placeholder(num_samples, rank, world_size):
        ...

    assert "no answer yet" in repr(checks.check_shard(placeholder))
    assert "raised" in repr(checks.check_shard(lambda *args: 1 / 0))


def average_gradients(model):
    for p in model.parameters():
        dist.all_reduce(p.grad)
        p.grad /= dist.get_world_size()


def test_a_right_average_passes():
    assert checks.check_average_gradients(average_gradients)

    def with_op_and_new_tensor(model):
        for p in model.parameters():
            dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)
            p.grad = p.grad / dist.get_world_size()

    assert checks.check_average_gradients(with_op_and_new_tensor)


def test_the_averaging_slips_are_named():
    def summed(model):
        for p in model.parameters():
            dist.all_reduce(p.grad)

    def weights(model):
        for p in model.parameters():
            dist.all_reduce(p.data)
            p.data /= dist.get_world_size()

    def first_only(model):
        p = next(model.parameters())
        dist.all_reduce(p.grad)
        p.grad /= dist.get_world_size()

    def by_rank(model):
        for p in model.parameters():
            dist.all_reduce(p.grad)
            p.grad /= dist.get_world_size() + 1

    def avg_op(model):
        for p in model.parameters():
            dist.all_reduce(p.grad, op=dist.ReduceOp.AVG)

    def uneven(model):
        for p in list(model.parameters())[dist.get_rank():]:
            dist.all_reduce(p.grad)
            p.grad /= dist.get_world_size()

    def out_of_order(model):
        params = list(model.parameters())
        for p in params[::-1] if dist.get_rank() == 1 else params:
            dist.all_reduce(p.grad)
            p.grad /= dist.get_world_size()

    slips = {"sums": summed, "not the weights": weights, "only 1 of the 4": first_only,
             "nothing was all-reduced": lambda model: None, "0.75 times the mean": by_rank,
             "not AVG": avg_op, "same number of times": uneven, "on the same tensors": out_of_order}
    for words, fn in slips.items():
        verdict = checks.check_average_gradients(fn)
        assert not verdict and words in repr(verdict), (words, repr(verdict))
    assert dist.all_reduce is not None and not hasattr(dist.all_reduce, "__self__")  # the real one is back

    def placeholder(model):
        ...

    assert "no answer yet" in repr(checks.check_average_gradients(placeholder))

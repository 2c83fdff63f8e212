"""Self-checks for lesson 14's exercises: DistributedSampler's split of the indices, and gradient averaging
with ``all_reduce``, each written by the learner and compared with torch on cases chosen to catch the usual slips.

The averaging check needs no processes: it runs the learner's function in K threads, one per simulated rank,
with ``torch.distributed.all_reduce``, ``get_world_size`` and ``get_rank`` replaced for the duration by an
in-memory group that sums exactly as gloo does. Like every check, these return a
:class:`~lessons_src.feedback.CheckResult` and never raise on a wrong answer; :mod:`lessons_src.checks` imports them.
"""

from __future__ import annotations

import copy
import math
import threading
from typing import Any
from unittest import mock

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data.distributed import DistributedSampler

from lessons_src.feedback import CheckResult, call_learner, right, wrong
from lessons_src.language import tr

# --- exercise 1: rank r's indices, as DistributedSampler(shuffle=False) deals them ------------------------
# (num_samples, world_size): divisible; a remainder of 1 and of 2 (padding); more ranks than leftovers; N < K
SHARD_CASES = ((12, 3), (10, 3), (11, 4), (10, 4), (3, 4))


def torch_shard(num_samples: int, rank: int, world_size: int) -> list[int]:
    """What DistributedSampler(shuffle=False) gives ``rank`` of ``world_size`` over ``num_samples`` examples."""
    return list(DistributedSampler(range(num_samples), num_replicas=world_size, rank=rank, shuffle=False))


def _shard_slips(n: int, rank: int, k: int) -> dict[str, list[int]]:
    """What the usual wrong splits give, keyed by the sentence that names the slip."""
    size = math.ceil(n / k)
    padded = (list(range(n)) * (k + 1))[:size * k]
    return {
        tr("you gave rank r one contiguous block; DistributedSampler deals the indices out like cards: "
           "rank r takes r, r + K, r + 2K, … of the padded order"): padded[rank * size:(rank + 1) * size],
        tr("without padding the ranks get different numbers of indices (and would run different numbers of steps, "
           "leaving one waiting in an all-reduce): pad the order with its own first indices to a multiple of K"):
            list(range(n))[rank::k],
        tr("you dropped the last indices (that is drop_last=True); the default pads instead, so every example is "
           "seen"):
            list(range(n // k * k))[rank::k],
        tr("you padded with the last index; pad with the order's first indices"):
            (list(range(n)) + [n - 1] * (size * k - n))[rank::k],
        tr("you padded with the first indices only once; when N < K the order has to be repeated several times"):
            (list(range(n)) + list(range(min(n, size * k - n))))[:size * k][rank::k],
    }


def check_shard(fn: Any) -> CheckResult:
    """Does ``fn(num_samples, rank, world_size)`` return the indices DistributedSampler(shuffle=False) gives?"""
    what = "shard(num_samples, rank, world_size)"
    hint = tr("every rank must get ceil(N / K) indices: extend the order 0, 1, …, N − 1 with its own first indices "
              "until its length is a multiple of K (repeat it if N < K), then rank r takes every K-th index "
              "starting at r: order[rank::world_size].")
    for n, k in SHARD_CASES:
        for rank in range(k):
            got, failure = call_learner(fn, what, hint, n, rank, k)
            if failure is not None:
                return failure
            want = torch_shard(n, rank, k)
            try:
                got = [int(i) for i in (got.tolist() if isinstance(got, torch.Tensor) else got)]
            except (TypeError, ValueError):
                return wrong(what, tr("for N = {n}, rank {rank} of {k} you returned {answer}; return a list of ints",
                                      n=n, rank=rank, k=k, answer=repr(got)), hint)
            if got == want:
                continue
            case = tr("for N = {n}, rank {rank} of K = {k} you returned {got}, DistributedSampler gives {want}",
                      n=n, rank=rank, k=k, got=got, want=want)
            named = [slip for slip, value in _shard_slips(n, rank, k).items() if value == got]
            if named:
                return wrong(what, tr("{case}: {slip}", case=case, slip=named[0]), hint)
            if sorted(got) == sorted(want):
                return wrong(what, tr("{case}: the right indices in the wrong order", case=case), hint)
            return wrong(what, case, hint)
    return right(what, tr("the indices of every rank in {count} splits, padding included, as "
                          "DistributedSampler deals them", count=len(SHARD_CASES)))


# --- exercise 2: average the gradients over the ranks with all_reduce ----------------------------------
class _ThreadGroup:
    """K ranks as K threads: ``all_reduce`` sums the ranks' tensors in place, as gloo does (SUM only)."""

    def __init__(self, world_size: int) -> None:
        self.world_size = world_size
        self.barrier = threading.Barrier(world_size, timeout=10)
        self.slots: list[torch.Tensor | None] = [None] * world_size
        self.local = threading.local()
        self.finished = False  # a rank returned: any later all-reduce can never complete

    def finish(self) -> None:
        """A rank's function returned: wake the ranks that wait for it in an all-reduce it will not make."""
        self.finished = True
        if self.barrier.n_waiting > 0:
            self.barrier.abort()

    def get_rank(self, group: Any = None) -> int:
        return self.local.rank

    def get_world_size(self, group: Any = None) -> int:
        return self.world_size

    def all_reduce(self, tensor: torch.Tensor, op: Any = dist.ReduceOp.SUM, group: Any = None,
                   async_op: bool = False) -> None:
        if op != dist.ReduceOp.SUM:
            raise RuntimeError(tr("the gloo backend (CPU) supports ReduceOp.SUM here, not AVG: sum, then divide"))
        if self.finished:
            raise threading.BrokenBarrierError
        self.slots[self.local.rank] = tensor.detach().clone()
        self.barrier.wait()  # every rank has put its tensor in
        shapes = {tuple(s.shape) for s in self.slots}
        if len(shapes) != 1:
            raise RuntimeError(tr("the ranks all-reduced tensors of different shapes {shapes} at the same call",
                                  shapes=sorted(shapes)))
        total = torch.stack(self.slots).sum(0)
        self.barrier.wait()  # every rank has read the sum before anyone overwrites its slot
        with torch.no_grad():
            tensor.copy_(total)


def _models_with_gradients(world_size: int) -> list[nn.Module]:
    """``world_size`` copies of one small network (same weights), each with the gradient of its own batch."""
    torch.manual_seed(0)
    base = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    models = [copy.deepcopy(base) for _ in range(world_size)]
    for rank, model in enumerate(models):
        generator = torch.Generator().manual_seed(rank + 1)
        X, y = torch.randn(5, 3, generator=generator), torch.randint(0, 2, (5,), generator=generator)
        nn.functional.cross_entropy(model(X), y).backward()
    return models


def check_average_gradients(fn: Any, world_size: int = 3) -> CheckResult:
    """Does ``fn(model)`` replace every ``p.grad`` by its mean over the ranks, using ``dist.all_reduce``?"""
    what = "average_gradients(model)"
    hint = tr("for every p in model.parameters(): dist.all_reduce(p.grad) sums the ranks' gradients into p.grad "
              "on every rank; then divide by dist.get_world_size(). Leave the weights (p.data) alone.")
    models = _models_with_gradients(world_size)
    own = [[p.grad.clone() for p in m.parameters()] for m in models]
    weights = [[p.detach().clone() for p in m.parameters()] for m in models]
    mean = [torch.stack(g).mean(0) for g in zip(*own, strict=True)]
    group, errors = _ThreadGroup(world_size), [None] * world_size
    results: list[Any] = [None] * world_size

    def rank_main(rank: int) -> None:
        group.local.rank = rank
        results[rank], errors[rank] = call_learner(fn, what, hint, models[rank])
        if errors[rank] is not None:
            group.barrier.abort()  # the other ranks must not wait for this one
        else:
            group.finish()

    with (mock.patch.object(dist, "all_reduce", group.all_reduce),
          mock.patch.object(dist, "get_world_size", group.get_world_size),
          mock.patch.object(dist, "get_rank", group.get_rank)):
        threads = [threading.Thread(target=rank_main, args=(r,), daemon=True) for r in range(world_size)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=20)
    # ranks out of step show as a broken barrier (one rank stopped calling) or, whichever thread sees it first,
    # as tensors of different shapes at the same call: the same slip either way
    out_of_step = ("BrokenBarrier", "tensors of different shapes")
    failure = next((e for e in errors if e is not None and not any(s in e.message for s in out_of_step)), None)
    failure = failure or next((e for e in errors if e is not None), None)
    if failure is not None:
        if any(s in failure.message for s in out_of_step):
            return wrong(what, tr("the ranks did not call all_reduce the same number of times on the same tensors; "
                                  "every rank must all-reduce every parameter's gradient, in the same order"), hint)
        return failure
    grads = [[None if p.grad is None else p.grad.detach() for p in m.parameters()] for m in models]
    if any(g is None for rank in grads for g in rank):
        return wrong(what, tr("a parameter's .grad became None; keep the gradients, averaged"), hint)
    if not all(torch.equal(p.detach(), w) for m, ws in zip(models, weights, strict=True)
               for p, w in zip(m.parameters(), ws, strict=True)):
        return wrong(what, tr("the weights changed; average the gradients (p.grad), not the weights (p.data), "
                              "and leave the step to the optimizer"), hint)
    ok = [all(torch.allclose(g, m, atol=1e-6) for g, m in zip(rank, mean, strict=True)) for rank in grads]
    if all(ok):
        return right(what, tr("every rank's gradients are the mean over the {world_size} ranks, weights untouched",
                              world_size=world_size))
    ratios = {round((g.norm() / m.norm()).item(), 3) for rank in grads for g, m in zip(rank, mean, strict=True)
              if m.norm() > 0}
    if ratios == {float(world_size)}:
        return wrong(what, tr("your gradients are {world_size} times the mean: all_reduce sums; divide by the "
                              "world size", world_size=world_size), hint)
    if all(torch.equal(g, o) for rank, own_rank in zip(grads, own, strict=True)
           for g, o in zip(rank, own_rank, strict=True)):
        return wrong(what, tr("the gradients did not change: nothing was all-reduced"), hint)
    per_param = [all(torch.allclose(rank[i], mean[i], atol=1e-6) for rank in grads) for i in range(len(mean))]
    if any(per_param):
        return wrong(what, tr("only {averaged} of the {total} parameters were averaged; loop over all of "
                              "model.parameters()", averaged=sum(per_param), total=len(mean)), hint)
    if len(ratios) == 1:
        return wrong(what, tr("your gradients are {ratio:g} times the mean; the sum must be divided by the "
                              "world size ({world_size}) and by nothing else", ratio=ratios.pop(),
                              world_size=world_size), hint)
    return wrong(what, tr("the gradients are not the mean over the ranks"), hint)

"""Data-parallel SGD with ``torch.distributed``: joining a process group with timeouts, gradient averaging
by hand, DistributedSampler's split of the data written out, and ports on the loopback interface.

The functions that need a process group (``init_group``, ``average_gradients``, ``data_parallel_steps``)
run inside worker processes started by :mod:`lessons_src.launch` (``torchrun`` or
``torch.multiprocessing``); the rest are pure and run anywhere. Every address is 127.0.0.1 unless a
caller says otherwise, so nothing here listens on a network a learner's machine is connected to.
"""

from __future__ import annotations

import datetime
import errno
import math
import os
import socket
from collections.abc import Callable, Sequence

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import TensorDataset
from torch.utils.data.distributed import DistributedSampler

from lessons_src.language import tr
from lessons_src.runtime import set_seed
from lessons_src.validation import as_int, as_real

__all__ = ["LOOPBACK", "PortInUseError", "free_port", "require_free_port", "init_group", "average_gradients",
           "shard_indices", "flat_weights", "data_parallel_steps", "global_batch_steps"]

LOOPBACK = "127.0.0.1"
MODES = ("by hand", "ddp")


class PortInUseError(RuntimeError):
    """The port a launch was asked to use is taken by another program."""

    def __init__(self, port: int, host: str = LOOPBACK) -> None:
        self.port, self.host = port, host
        super().__init__(tr("port {port} on {host} is already in use by another program; pass port=None (or "
                            "port=free_port()) to let the launcher pick a free one (on torchrun's command line: "
                            "another --master-port, or another port in --rdzv-endpoint), or stop the program that "
                            "listens on it (Linux: `ss -ltnp | grep :{port}`)", port=port, host=host))


# --- ports ---------------------------------------------------------------------------------------
def free_port(host: str = LOOPBACK) -> int:
    """A TCP port on ``host`` that is free now (the system picks it; another program could take it later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def require_free_port(port: int, host: str = LOOPBACK) -> int:
    """``port`` if nothing listens on ``host``:port, else :class:`PortInUseError` naming it and the remedy."""
    port = as_int("port", port, low=1024, high=65535, remedy=tr("ports below 1024 need root; use free_port()"))
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise PortInUseError(port, host) from None
            raise
    return port


# --- the process group ---------------------------------------------------------------------------
def init_group(backend: str = "gloo", *, timeout_s: float = 30.0, threads: int = 1) -> tuple[int, int]:
    """Join the process group the environment describes (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT, as set
    by torchrun or :func:`lessons_src.launch.run_spawn`); returns (rank, world size).

    ``timeout_s`` bounds the set-up (waiting for the other ranks) and, with gloo, every collective: a rank
    that never arrives, or never calls its ``all_reduce``, turns into an error on the others instead of a hang
    (:class:`TimeoutError`). A MASTER_PORT that another program holds raises :class:`PortInUseError` at once.
    ``threads`` is this process's share of the CPU cores (torch's intra-op threads).
    """
    if backend not in ("gloo", "nccl"):
        raise ValueError(tr("backend must be 'gloo' (CPU) or 'nccl' (one GPU per process), got {backend}",
                            backend=repr(backend)))
    timeout_s = as_real("timeout_s", timeout_s, low=0.5, high=3600.0)
    torch.set_num_threads(as_int("threads", threads, low=1, high=os.cpu_count() or 1))
    missing = [name for name in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT") if name not in os.environ]
    if missing:
        raise RuntimeError(tr("the environment lacks {missing}: start this process with torchrun or "
                              "lessons_src.launch (run_torchrun, run_spawn), which set them",
                              missing=", ".join(missing)))
    device_id = None
    if backend == "nccl":  # one GPU per process: the local rank picks it
        device_id = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device_id)
    try:
        dist.init_process_group(backend, timeout=datetime.timedelta(seconds=timeout_s), device_id=device_id)
    except (dist.DistStoreError, dist.DistNetworkError) as error:
        if "EADDRINUSE" in str(error) or "address already in use" in str(error).lower():  # rank 0 could not listen
            raise PortInUseError(int(os.environ["MASTER_PORT"]), os.environ["MASTER_ADDR"]) from error
        rank, world_size = os.environ["RANK"], os.environ["WORLD_SIZE"]
        raise TimeoutError(tr("rank {rank} waited timeout_s={timeout_s} s for the other ranks of a group of "
                              "{world_size} and not all joined ({error}); look for a rank that failed before joining, "
                              "or more processes/nodes expected than were started", rank=rank,
                              timeout_s=f"{timeout_s:g}", world_size=world_size,
                              error=str(error).splitlines()[0])) from error
    return dist.get_rank(), dist.get_world_size()


def average_gradients(model: nn.Module) -> None:
    """Replace every ``.grad`` by its mean over the ranks: an all-reduce (sum) divided by the world size."""
    world_size = dist.get_world_size()
    for p in model.parameters():
        if p.grad is not None:
            dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)  # every rank now holds Σ_r g_r
            p.grad /= world_size  # (1/K) Σ_r g_r: the gradient of the mean over all K·B examples


# --- the data each rank sees ---------------------------------------------------------------------
def shard_indices(num_samples: int, rank: int, world_size: int, *, epoch: int = 0, seed: int = 0,
                  shuffle: bool = True, drop_last: bool = False) -> list[int]:
    """The dataset indices DistributedSampler gives ``rank`` of ``world_size`` in ``epoch``, written out.

    All ranks draw the same permutation (seeded by ``seed + epoch``); it is padded with its own first
    indices up to a multiple of ``world_size`` (or cut down to one, with ``drop_last``), and rank r takes
    every ``world_size``-th index starting at r. Each rank gets ceil(N / K) indices (floor with drop_last).
    """
    num_samples = as_int("num_samples", num_samples, low=1)
    world_size = as_int("world_size", world_size, low=1)
    rank = as_int("rank", rank, low=0, high=world_size - 1)
    epoch, seed = as_int("epoch", epoch, low=0), as_int("seed", seed)
    if shuffle:
        order = torch.randperm(num_samples, generator=torch.Generator().manual_seed(seed + epoch)).tolist()
    else:
        order = list(range(num_samples))
    if drop_last:
        order = order[:num_samples // world_size * world_size]
    else:
        total = math.ceil(num_samples / world_size) * world_size
        while len(order) < total:  # pad with the first indices again (several times when N < K)
            order += order[:total - len(order)]
    return order[rank::world_size]


# --- training steps --------------------------------------------------------------------------------
def flat_weights(model: nn.Module) -> torch.Tensor:
    """All parameters of ``model`` as one detached float tensor of shape (number of weights,)."""
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()]).clone()


def data_parallel_steps(make_model: Callable[[], nn.Module], X: torch.Tensor, y: torch.Tensor, *,
                        batch_size: int, num_steps: int, lr: float, momentum: float = 0.0, mode: str = "by hand",
                        seed: int = 0, keep: Sequence[int] | None = None) -> dict[str, torch.Tensor]:
    """``num_steps`` SGD steps of this rank on its DistributedSampler shard of (X, y), gradients averaged
    over the group by hand (``mode="by hand"``) or by DistributedDataParallel (``"ddp"``).

    Every rank builds the model from ``seed``; epochs follow one another with ``set_epoch`` when a shard
    runs out. Returns ``indices`` (num_steps, batch_size) int64, the examples this rank used at each step,
    ``losses`` (num_steps,), this rank's batch losses, and ``weights`` (len(keep), number of weights): the
    flattened weights after each step listed in ``keep`` (default: after the first and the last; 0 = before any).
    """
    if mode not in MODES:
        raise ValueError(tr("{name} must be one of {choices}, got {value}", name="mode", choices=MODES,
                            value=repr(mode)))
    batch_size = as_int("batch_size", batch_size, low=1)
    num_steps = as_int("num_steps", num_steps, low=1, high=10_000)
    keep = sorted({as_int("keep", k, low=0, high=num_steps) for k in (keep or (1, num_steps))})
    set_seed(seed)
    model = make_model()
    trained = DistributedDataParallel(model) if mode == "ddp" else model  # DDP averages inside backward()
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    loss_fn = nn.CrossEntropyLoss()
    sampler = DistributedSampler(TensorDataset(X, y), shuffle=True, seed=seed, drop_last=True)
    if len(sampler) < batch_size:
        raise ValueError(tr("batch_size must be at most the {count} examples of one rank's shard, got "
                            "{batch_size}; pass more examples or a smaller batch_size", count=len(sampler),
                            batch_size=batch_size))
    indices, losses, epoch, batches = [], [], 0, []
    weights = [flat_weights(model)] if 0 in keep else []
    while len(indices) < num_steps:
        if not batches:
            sampler.set_epoch(epoch)  # a new order every epoch, the same on every rank
            shard = torch.tensor(list(sampler))
            batches = list(shard[:len(shard) // batch_size * batch_size].split(batch_size))
            epoch += 1
        idx = batches.pop(0)
        optimizer.zero_grad()
        loss = loss_fn(trained(X[idx]), y[idx])
        loss.backward()
        if mode == "by hand":
            average_gradients(model)
        optimizer.step()
        indices.append(idx)
        losses.append(loss.detach())
        if len(indices) in keep:
            weights.append(flat_weights(model))
    return {"indices": torch.stack(indices), "losses": torch.stack(losses), "weights": torch.stack(weights)}


def global_batch_steps(make_model: Callable[[], nn.Module], X: torch.Tensor, y: torch.Tensor,
                       indices: Sequence[torch.Tensor], *, lr: float, momentum: float = 0.0,
                       seed: int = 0, keep: Sequence[int] | None = None) -> torch.Tensor:
    """One process, one model: step t uses the union of every rank's batch t (``indices``: one
    (num_steps, B) tensor per rank), i.e. batches of K·B. Returns the flattened weights after each step in
    ``keep`` (default: the first and the last), shape (len(keep), number of weights)."""
    set_seed(seed)
    model = make_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    loss_fn = nn.CrossEntropyLoss()
    num_steps = len(indices[0])
    keep = sorted({as_int("keep", k, low=0, high=num_steps) for k in (keep or (1, num_steps))})
    weights = [flat_weights(model)] if 0 in keep else []
    for step, step_indices in enumerate(zip(*indices, strict=True), start=1):
        idx = torch.cat(step_indices)  # the K·B examples of this step
        optimizer.zero_grad()
        loss_fn(model(X[idx]), y[idx]).backward()
        optimizer.step()
        if step in keep:
            weights.append(flat_weights(model))
    return torch.stack(weights)

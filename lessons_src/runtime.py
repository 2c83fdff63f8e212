"""Reproducibility, device selection, and how many CPU threads PyTorch uses."""

from __future__ import annotations

import math
import os
import random
import time
from pathlib import Path

import numpy as np
import torch

from lessons_src.language import tr
from lessons_src.validation import as_int, as_real


def set_seed(seed: int) -> None:
    """Seed Python's, NumPy's and PyTorch's generators (CPU and every GPU) with ``seed``."""
    seed = as_int("seed", seed, low=0)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def pick_device(prefer: str | None = None) -> torch.device:
    """Return ``prefer`` if given, else the best available device: cuda, then mps, then cpu."""
    if prefer is not None:
        device = torch.device(prefer)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(tr("prefer={prefer} but CUDA is not available on this machine", prefer=repr(prefer)))
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


# PyTorch's thread count when the course was imported: it already honours OMP_NUM_THREADS or a server's limit,
# and it is the most use_free_cores ever sets, however often it has lowered the count since
MAX_THREADS = torch.get_num_threads()


def _usable_cpus() -> list[int]:
    """The CPUs this process may run on (all of them where the system cannot say)."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def _cpu_ticks(cpus: list[int]) -> tuple[int, int]:
    """(busy ticks of the CPUs ``cpus``, ticks this process used), from /proc."""
    wanted, busy = {f"cpu{n}" for n in cpus}, 0
    for line in Path("/proc/stat").read_text().splitlines():
        fields = line.split()
        if fields and fields[0] in wanted:
            values = [int(v) for v in fields[1:]]
            busy += sum(values[:8]) - values[3] - values[4]  # all but idle and iowait
    own = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
    return busy, int(own[11]) + int(own[12])  # utime + stime


def busy_cores_elsewhere(sample_seconds: float = 0.3) -> float | None:
    """How many of this process's CPUs other processes keep busy, measured over ``sample_seconds`` (None
    without /proc)."""
    sample_seconds = as_real("sample_seconds", sample_seconds, low=0.05, high=5.0)
    cpus = _usable_cpus()
    try:
        busy0, own0 = _cpu_ticks(cpus)
        start = time.perf_counter()
        time.sleep(sample_seconds)
        busy1, own1 = _cpu_ticks(cpus)
    except (OSError, ValueError, IndexError):
        return None
    ticks = os.sysconf("SC_CLK_TCK") * (time.perf_counter() - start)
    return max(0.0, ((busy1 - busy0) - (own1 - own0)) / ticks)


def threads_to_use(cores: int, busy_elsewhere: float, most: int) -> int:
    """The threads that fit in the cores other processes leave free: at least 1, at most ``most``.

    PyTorch's CPU threads wait for each other at the end of every operation, so one thread that
    shares its core with another program slows all of them; using only the free cores avoids that.
    """
    cores, most = as_int("cores", cores, low=1), as_int("most", most, low=1)
    busy_elsewhere = as_real("busy_elsewhere", busy_elsewhere, low=0.0)
    return max(1, min(most, cores - math.floor(busy_elsewhere + 0.5)))


def use_free_cores(sample_seconds: float = 0.3) -> int:
    """Set PyTorch's CPU threads to the cores other programs leave free now; returns the number.

    Never more than :data:`MAX_THREADS`, PyTorch's count when the course was imported (so ``OMP_NUM_THREADS``
    or a server's limit still holds), and back up to it when the other programs have finished. Where /proc
    is missing (not Linux), PyTorch's setting stays as it is.
    """
    busy = busy_cores_elsewhere(sample_seconds)
    if busy is not None:
        torch.set_num_threads(threads_to_use(len(_usable_cpus()), busy, MAX_THREADS))
    return torch.get_num_threads()

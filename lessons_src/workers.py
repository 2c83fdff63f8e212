"""What each worker process of lesson 14 runs, and its command line: ``python -m lessons_src.workers TASK``.

Started by ``torchrun`` (``torchrun --nproc-per-node 2 -m lessons_src.workers all_reduce --out DIR``, run from
the repository's root folder or anywhere once the course is installed, since every worker imports
``lessons_src``) or by :func:`lessons_src.launch.run_spawn`, a worker joins the process group (with a timeout),
runs one task of :data:`TASKS`, writes its result to ``DIR/rank{r}.pt`` (a dict of tensors and numbers, read
back with ``torch.load(..., weights_only=True)``; DIR and its parents are created if missing) and leaves the
group. A task that raises writes ``DIR/rank{r}.error.json`` (rank, exception type, message, traceback, time)
before the process exits with status 1, so the launcher can say which rank failed first and why.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch.distributed.elastic.multiprocessing.errors import record

from lessons_src.distributed import average_gradients, data_parallel_steps, init_group
from lessons_src.language import tr
from lessons_src.models import TutorialMLP

__all__ = ["TASKS", "run_task", "spawn_entry", "main"]


def _device(backend: str) -> torch.device:
    """cuda:LOCAL_RANK with nccl (one GPU per process), else the CPU."""
    return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0"))) if backend == "nccl" else torch.device("cpu")


# --- the tasks: each runs inside an initialized group and returns a dict of tensors and numbers ------
def task_all_reduce(rank: int, world_size: int, device: torch.device) -> dict[str, Any]:
    """Every rank contributes rank + 1; after ``all_reduce`` (sum) every rank holds 1 + 2 + … + K."""
    x = torch.tensor([rank + 1.0], device=device)
    before = x.item()
    dist.all_reduce(x, op=dist.ReduceOp.SUM)
    return {"rank": rank, "world_size": world_size, "before": before, "after": x.item(), "pid": os.getpid(),
            "backend": dist.get_backend(), "node": int(os.environ.get("GROUP_RANK", "0")),
            "local_rank": int(os.environ.get("LOCAL_RANK", str(rank)))}


def task_equivalence(rank: int, world_size: int, device: torch.device, *, data: str, batch_size: int,
                     num_steps: int, lr: float, momentum: float, seed: int = 0,
                     keep: list[int] | None = None) -> dict[str, Any]:
    """The same steps twice, from the same initial weights: gradients averaged by hand, then by DDP."""
    tensors = torch.load(data, weights_only=True)
    X, y = tensors["X"].to(device), tensors["y"].to(device)
    result: dict[str, Any] = {"rank": rank, "world_size": world_size}
    for mode in ("by hand", "ddp"):
        run = data_parallel_steps(lambda: TutorialMLP().to(device), X, y, batch_size=batch_size,
                                  num_steps=num_steps, lr=lr, momentum=momentum, mode=mode, seed=seed, keep=keep)
        result |= {f"{mode}: {name}": value.cpu() for name, value in run.items()}
    return result


def task_throughput(rank: int, world_size: int, device: torch.device, *, batch_size: int, num_steps: int,
                    warmup_steps: int = 3, seed: int = 0) -> dict[str, Any]:
    """Seconds per step of the tutorial network on random images: forward + backward, the all-reduce of the
    gradients (none with one process), and the optimizer step, timed separately on every step."""
    torch.manual_seed(seed + rank)
    model = TutorialMLP().to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    X = torch.randn(batch_size, 1, 28, 28, device=device)
    y = torch.randint(0, 10, (batch_size,), device=device)
    loss_fn = torch.nn.CrossEntropyLoss()
    times: dict[str, list[float]] = {"compute": [], "all_reduce": [], "step": []}
    for step in range(warmup_steps + num_steps):
        if world_size > 1:
            dist.barrier()  # the ranks start the step together: the all-reduce then holds the exchange and at most
            # the wait for the other rank's computation of this step, never of an earlier one
        start = time.perf_counter()
        optimizer.zero_grad()
        loss_fn(model(X), y).backward()
        computed = time.perf_counter()
        if world_size > 1:
            average_gradients(model)
        reduced = time.perf_counter()
        optimizer.step()
        done = time.perf_counter()
        if step >= warmup_steps:
            for name, seconds in (("compute", computed - start), ("all_reduce", reduced - computed),
                                  ("step", done - reduced)):
                times[name].append(seconds)
    return {"rank": rank, "world_size": world_size, "threads": torch.get_num_threads(), "batch_size": batch_size,
            **{name: torch.tensor(values, dtype=torch.float64) for name, values in times.items()}}


def task_fail(rank: int, world_size: int, device: torch.device, *, fail_rank: int = 1,
              message: str = "this rank's data file is corrupt") -> dict[str, Any]:
    """One all-reduce together, then ``fail_rank`` raises ValueError(message) while the others wait in a second."""
    x = torch.ones(1, device=device)
    dist.all_reduce(x)
    if rank == fail_rank:
        raise ValueError(message)
    dist.all_reduce(x)  # never completes: the failed rank will not join it
    return {"rank": rank}


def task_stall(rank: int, world_size: int, device: torch.device, *, stall_rank: int = 1,
               stall_s: float = 600.0) -> dict[str, Any]:
    """``stall_rank`` joins the group but never calls the all-reduce (it sleeps): the others' all-reduce
    runs into the group's timeout."""
    if rank == stall_rank:
        time.sleep(stall_s)
    x = torch.ones(1, device=device)
    dist.all_reduce(x)
    return {"rank": rank}


TASKS: dict[str, Callable[..., dict[str, Any]]] = {
    "all_reduce": task_all_reduce, "equivalence": task_equivalence, "throughput": task_throughput,
    "fail": task_fail, "stall": task_stall,
}


# --- running one task in this process ------------------------------------------------------------
def _write_error(out: Path, rank: int, error: BaseException) -> None:
    """DIR/rank{r}.error.json: which rank, what was raised, where, and when (for 'which failed first')."""
    text = json.dumps({"rank": rank, "type": type(error).__name__, "message": str(error).strip(),
                       "traceback": traceback.format_exc(), "time": time.time(), "pid": os.getpid(),
                       "port": getattr(error, "port", None)})  # a PortInUseError's port, for the launcher
    (out / f"rank{rank}.error.json").write_text(text, encoding="utf-8")


def run_task(task: str, out: str | os.PathLike, *, backend: str = "gloo", timeout_s: float = 30.0, threads: int = 1,
             join_delay: dict[str, float] | None = None, **kwargs: Any) -> None:
    """Join the group, run ``TASKS[task]`` with ``kwargs``, save its result in ``out``; on any error write
    the error file and raise. ``out`` and its parents are created if missing. ``join_delay`` ({rank: seconds})
    makes ranks arrive late (a fault to test)."""
    if task not in TASKS:
        raise ValueError(tr("{name} must be one of {choices}, got {value}", name="task", choices=sorted(TASKS),
                            value=repr(task)))
    out, rank = Path(out), int(os.environ.get("RANK", "-1"))
    out.mkdir(parents=True, exist_ok=True)  # every rank of a node may race to create it: exist_ok
    (out / f"rank{rank}.pid").write_text(str(os.getpid()), encoding="utf-8")
    try:
        time.sleep((join_delay or {}).get(str(rank), 0.0))
        rank, world_size = init_group(backend, timeout_s=timeout_s, threads=threads)
        try:
            result = TASKS[task](rank, world_size, _device(backend), **kwargs)
        except BaseException as error:  # noqa: B036 -- recorded before leaving the group, whose peers fail next
            _write_error(out, rank, error)
            raise
        finally:
            dist.destroy_process_group()
        partial = out / f"rank{rank}.pt.partial"
        torch.save(result, partial)
        partial.replace(out / f"rank{rank}.pt")  # whole or absent: the launcher never reads half a file
    except BaseException as error:  # noqa: B036 -- a KeyboardInterrupt or SystemExit is reported too
        if not (out / f"rank{rank}.error.json").exists():
            _write_error(out, rank, error)
        raise


def spawn_entry(local_rank: int, world_size: int, port: int, task: str, out: str, options: dict[str, Any]) -> None:
    """What ``torch.multiprocessing.start_processes`` calls in each process: set the environment torchrun
    would set (rank, world size, 127.0.0.1 and the port), then :func:`run_task`."""
    os.environ.update(RANK=str(local_rank), LOCAL_RANK=str(local_rank), WORLD_SIZE=str(world_size),
                      LOCAL_WORLD_SIZE=str(world_size), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    run_task(task, out, **options)


@record  # torchrun's error summary then shows this rank's traceback too
def main(argv: list[str] | None = None) -> int:
    """Command line: TASK --out DIR [--backend gloo|nccl] [--timeout-s S] [--threads T] [--kwargs JSON]."""
    parser = argparse.ArgumentParser(prog="python -m lessons_src.workers", description=__doc__.split("\n")[0])
    parser.add_argument("task", choices=sorted(TASKS))
    parser.add_argument("--out", required=True, help="folder for rank{r}.pt and rank{r}.error.json (created if "
                        "missing)")
    parser.add_argument("--backend", default="gloo", choices=("gloo", "nccl"))
    parser.add_argument("--timeout-s", type=float, default=30.0, help="set-up and collective timeout (s)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads in this process")
    parser.add_argument("--kwargs", default="{}", help="the task's keyword arguments as JSON")
    args = parser.parse_args(argv)
    options = json.loads(args.kwargs)
    run_task(args.task, args.out, backend=args.backend, timeout_s=args.timeout_s, threads=args.threads, **options)
    return 0


if __name__ == "__main__":
    sys.exit(main())

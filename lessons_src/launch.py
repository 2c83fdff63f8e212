"""Start K worker processes of :mod:`lessons_src.workers` the two ways a user does, and never hang.

- :func:`run_torchrun`: ``torchrun --nproc-per-node K -m lessons_src.workers TASK`` (run as
  ``python -m torch.distributed.run`` with this interpreter, so it works where the ``torchrun`` script is
  not on PATH), in a session of its own;
- :func:`run_spawn`: ``torch.multiprocessing.start_processes`` from this process (what ``mp.spawn`` does).

Both bind to 127.0.0.1 only, give each process ``threads`` torch threads, enforce a wall-clock
``timeout_s`` on the whole launch, collect every rank's result (``rank{r}.pt``, loaded with
``weights_only=True``), and on any failure stop every process they started and raise
:class:`WorkerFailed` naming the rank that failed first and its exception (from the worker's error file),
:class:`LaunchTimeout`, or :class:`~lessons_src.distributed.PortInUseError`.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.multiprocessing as mp
from torch.multiprocessing.spawn import ProcessException

from lessons_src.distributed import LOOPBACK, PortInUseError, free_port, require_free_port
from lessons_src.language import tr
from lessons_src.validation import as_int, as_real

__all__ = ["WorkerFailed", "LaunchTimeout", "Launch", "RunResult", "torchrun_command", "start_torchrun",
           "run_torchrun", "run_spawn", "alive", "worker_environment"]


class WorkerFailed(RuntimeError):
    """A worker raised (or died): ``rank``, ``kind`` (the exception's type), ``message``, seconds until noticed."""

    def __init__(self, rank: int | None, kind: str, message: str, seconds: float, pids: list[int],
                 details: str = "") -> None:
        self.rank, self.kind, self.message, self.seconds, self.pids, self.details = (
            rank, kind, message, seconds, pids, details)
        if rank is None:
            said = tr("a worker failed: {kind}: {message} (noticed after {seconds:.1f} s; every worker process has "
                      "been stopped)", kind=kind, message=message, seconds=seconds)
        else:
            said = tr("rank {rank} failed: {kind}: {message} (noticed after {seconds:.1f} s; every worker process "
                      "has been stopped)", rank=rank, kind=kind, message=message, seconds=seconds)
        super().__init__(said)


class LaunchTimeout(RuntimeError):
    """The launch ran past its wall-clock limit; every process it started (``pids``: the workers) is stopped."""

    def __init__(self, message: str, pids: list[int]) -> None:
        self.pids = pids
        super().__init__(message)


@dataclass
class RunResult:
    """What a successful launch returns: one result dict per rank (index = rank), wall seconds, the pids."""

    results: list[dict[str, Any]]
    seconds: float
    pids: list[int] = field(default_factory=list)
    command: str = ""


def worker_environment(threads: int) -> dict[str, str]:
    """This process's environment for the workers: ``threads`` OpenMP threads, gloo on the loopback device."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), PYTHONUNBUFFERED="1")
    if sys.platform.startswith("linux"):
        env.setdefault("GLOO_SOCKET_IFNAME", "lo")  # gloo's connections stay on 127.0.0.1
    return env


def torchrun_command(task: str, out: str | os.PathLike, *, nproc: int = 2, port: int = 29500, threads: int = 1,
                     timeout_s: float = 30.0, nnodes: int = 1, node_rank: int = 0, rdzv_id: str = "course",
                     backend: str = "gloo", kwargs: dict[str, Any] | None = None,
                     executable: str = "torchrun") -> list[str]:
    """The torchrun command line for ``task``, as a list of arguments. One node: a static rendezvous on
    127.0.0.1:``port``. Several nodes: the c10d rendezvous at 127.0.0.1:``port`` (``rdzv_id`` names the job)."""
    head = [executable] if executable == "torchrun" else [executable, "-m", "torch.distributed.run"]
    if nnodes == 1:
        where = ["--nproc-per-node", str(nproc), "--master-addr", LOOPBACK, "--master-port", str(port)]
    else:
        where = ["--nnodes", str(nnodes), "--node-rank", str(node_rank), "--nproc-per-node", str(nproc),
                 "--rdzv-backend", "c10d", "--rdzv-endpoint", f"{LOOPBACK}:{port}", "--rdzv-id", rdzv_id,
                 "--local-addr", LOOPBACK]
    worker = ["-m", "lessons_src.workers", task, "--out", str(out), "--backend", backend,
              "--timeout-s", str(timeout_s), "--threads", str(threads)]
    if kwargs:
        worker += ["--kwargs", json.dumps(kwargs)]
    return head + where + worker


def _prepare(out: str | os.PathLike | None, data: dict[str, torch.Tensor] | None,
             kwargs: dict[str, Any]) -> tuple[Path, dict[str, Any]]:
    """A folder for the ranks' files (a fresh temporary one by default, removed once the launch is over);
    tensors in ``data`` saved there."""
    folder = Path(out) if out is not None else Path(tempfile.mkdtemp(prefix="course-ddp-"))
    folder.mkdir(parents=True, exist_ok=True)
    if data is not None:
        torch.save(data, folder / "data.pt")
        kwargs = {**kwargs, "data": str(folder / "data.pt")}
    return folder, kwargs


def _pids(out: Path) -> list[int]:
    return sorted(int(p.read_text()) for p in out.glob("rank*.pid") if p.read_text().strip())


def alive(pids: list[int]) -> list[int]:
    """The pids among ``pids`` whose process still runs (a zombie counts as gone)."""
    running = []
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, IndexError, ProcessLookupError):
            continue
        if state not in ("Z", "X"):
            running.append(pid)
    return running


def _gist(message: str) -> str:
    """The first sentence of an error message, without the source location gloo puts in front of it."""
    first = message.splitlines()[0] if message.strip() else ""
    return re.sub(r"^\[[^\]]*\]\s*", "", first).split(". ")[0][:160]


def _first_failure(out: Path, seconds: float, fallback: str) -> WorkerFailed | PortInUseError:
    """The rank whose error file is oldest: the others failed because it did (a peer gone, a timeout).
    A rank 0 that found its port taken (another program bound it after the launcher checked) is a
    :class:`PortInUseError`, as when the launcher finds it taken itself."""
    errors = [json.loads(p.read_text(encoding="utf-8")) for p in out.glob("rank*.error.json")]
    if not errors:
        return WorkerFailed(None, "exit", fallback, seconds, _pids(out))
    first = min(errors, key=lambda e: e["time"])
    if first["type"] == "PortInUseError" and first.get("port"):
        return PortInUseError(first["port"])
    later = sorted((e for e in errors if e is not first), key=lambda e: e["time"])
    others = "; ".join(tr("rank {rank} then stopped with {kind}: {gist}", rank=e["rank"], kind=e["type"],
                          gist=_gist(e["message"])) for e in later)
    return WorkerFailed(first["rank"], first["type"], first["message"].splitlines()[0][:300], seconds, _pids(out),
                        details=first["traceback"] + (f"\n({others})" if others else ""))


def _collect(out: Path) -> list[dict[str, Any]]:
    """Every rank{r}.pt in ``out``, in rank order (weights_only: tensors and plain values, never code)."""
    files = sorted(out.glob("rank*.pt"), key=lambda p: int(p.stem.removeprefix("rank")))
    return [torch.load(p, weights_only=True) for p in files]


def _is_worker(pid: int) -> bool:
    """Whether ``pid`` is still one of our workers (not another program that reused the number)."""
    try:
        return b"lessons_src" in Path(f"/proc/{pid}/cmdline").read_bytes() or sys.platform != "linux"
    except OSError:
        return False


def _stop(process: subprocess.Popen, out: Path, grace_s: float = 3.0) -> None:
    """SIGTERM to the launcher's session (torchrun then stops its workers), SIGKILL to what is left after
    ``grace_s``, and SIGKILL to any worker still running: torchrun starts each in a session of its own."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(timeout=grace_s)
            break
        except subprocess.TimeoutExpired:
            continue
    deadline = time.perf_counter() + grace_s
    while alive(_pids(out)) and time.perf_counter() < deadline:
        time.sleep(0.05)
    for pid in alive(_pids(out)):
        if _is_worker(pid):
            os.kill(pid, signal.SIGKILL)


@dataclass
class Launch:
    """A torchrun launch in progress (see :func:`start_torchrun`); ``wait()`` gives its :class:`RunResult`."""

    process: subprocess.Popen
    out: Path
    command: str
    started: float
    log: Path
    port: int
    owned: bool = False  # the folder is a temporary one of this launch's: removed when it is over

    def wait(self, timeout_s: float = 60.0) -> RunResult:
        """Wait up to ``timeout_s`` s; return every rank's result, or stop everything and raise."""
        try:
            return self._wait(timeout_s)
        finally:
            if self.owned:
                shutil.rmtree(self.out, ignore_errors=True)

    def _wait(self, timeout_s: float) -> RunResult:
        try:
            code = self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _stop(self.process, self.out)
            done = sorted(int(p.stem.removeprefix("rank")) for p in self.out.glob("rank*.pt"))
            raise LaunchTimeout(tr("the launch ran past timeout_s={timeout_s:g} s (ranks finished: {done}); every "
                                   "process it started has been stopped. A rank may be waiting for one that never "
                                   "came: lower the workers' timeout_s so that they fail first, or raise the "
                                   "launch's timeout_s for longer work", timeout_s=timeout_s,
                                   done=done or tr("none")), _pids(self.out)) from None
        finally:
            _stop(self.process, self.out)  # nothing of this launch outlives it, whatever happened
        seconds = time.perf_counter() - self.started
        if code != 0:
            output = self.log.read_text(errors="replace")
            if "EADDRINUSE" in output or "address already in use" in output.lower():
                raise PortInUseError(self.port)
            raise _first_failure(self.out, seconds, f"torchrun exited with status {code}: {output[-500:]}")
        return RunResult(_collect(self.out), seconds, _pids(self.out), self.command)


def start_torchrun(task: str, *, nproc: int = 2, threads: int = 1, timeout_s: float = 30.0, port: int | None = None,
                   nnodes: int = 1, node_rank: int = 0, rdzv_id: str = "course", out: str | os.PathLike | None = None,
                   data: dict[str, torch.Tensor] | None = None, **kwargs: Any) -> Launch:
    """Start torchrun (in a session of its own) running ``task`` on ``nproc`` processes of this node; the
    workers' group and collectives time out after ``timeout_s`` s. Returns at once; see :meth:`Launch.wait`."""
    nproc = as_int("nproc", nproc, low=1, high=64)
    threads = as_int("threads", threads, low=1, high=os.cpu_count() or 1)
    timeout_s = as_real("timeout_s", timeout_s, low=0.5, high=3600.0)
    port = free_port() if port is None else port
    if node_rank == 0:
        require_free_port(port)
    folder, kwargs = _prepare(out, data, kwargs)
    args = torchrun_command(task, folder, nproc=nproc, port=port, threads=threads, timeout_s=timeout_s,
                            nnodes=nnodes, node_rank=node_rank, rdzv_id=rdzv_id, kwargs=kwargs,
                            executable=sys.executable)
    log = folder / f"torchrun-node{node_rank}.log"
    with open(log, "wb") as sink:
        process = subprocess.Popen(args, env=worker_environment(threads), stdout=sink, stderr=subprocess.STDOUT,
                                   start_new_session=True, cwd=Path(__file__).resolve().parents[1])
    shown = shlex.join(["torchrun", *args[3:]])
    return Launch(process, folder, shown, time.perf_counter(), log, port, owned=out is None)


def run_torchrun(task: str, *, nproc: int = 2, threads: int = 1, timeout_s: float = 30.0,
                 launch_timeout_s: float = 120.0, port: int | None = None, out: str | os.PathLike | None = None,
                 data: dict[str, torch.Tensor] | None = None, **kwargs: Any) -> RunResult:
    """``torchrun --nproc-per-node nproc -m lessons_src.workers task``: start, wait at most
    ``launch_timeout_s`` s, return every rank's result; see the module's docstring for the failures."""
    launch = start_torchrun(task, nproc=nproc, threads=threads, timeout_s=timeout_s, port=port, out=out,
                            data=data, **kwargs)
    return launch.wait(launch_timeout_s)


def run_spawn(task: str, *, nproc: int = 2, threads: int = 1, timeout_s: float = 30.0,
              launch_timeout_s: float = 120.0, port: int | None = None, out: str | os.PathLike | None = None,
              data: dict[str, torch.Tensor] | None = None, **kwargs: Any) -> RunResult:
    """The same launch with ``torch.multiprocessing.start_processes`` (fresh interpreters, 'spawn'): this
    process is the launcher, polls its children, and terminates all of them when one fails or time runs out."""
    from lessons_src.workers import spawn_entry

    nproc = as_int("nproc", nproc, low=1, high=64)
    threads = as_int("threads", threads, low=1, high=os.cpu_count() or 1)
    launch_timeout_s = as_real("launch_timeout_s", launch_timeout_s, low=1.0, high=3600.0)
    port = require_free_port(free_port() if port is None else port)
    folder, kwargs = _prepare(out, data, kwargs)
    options = {"timeout_s": timeout_s, "threads": threads, **kwargs}
    saved = {name: os.environ.get(name) for name in ("OMP_NUM_THREADS", "GLOO_SOCKET_IFNAME")}
    os.environ.update({k: v for k, v in worker_environment(threads).items() if k in saved})
    try:  # the children inherit this environment when they start
        started = time.perf_counter()
        context = mp.start_processes(spawn_entry, args=(nproc, port, task, str(folder), options), nprocs=nproc,
                                     join=False, start_method="spawn")
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    pids = [p.pid for p in context.processes]
    try:
        return _join(context, folder, started, launch_timeout_s, pids, nproc)
    finally:
        if out is None:
            shutil.rmtree(folder, ignore_errors=True)


def _join(context: mp.ProcessContext, folder: Path, started: float, launch_timeout_s: float, pids: list[int],
          nproc: int) -> RunResult:
    """Poll the spawned processes until all finished, one failed, or time ran out; stop every one left."""
    try:
        while not context.join(timeout=0.2):
            if time.perf_counter() - started > launch_timeout_s:
                raise LaunchTimeout(tr("the launch ran past launch_timeout_s={launch_timeout_s:g} s; every process "
                                       "it started has been stopped", launch_timeout_s=launch_timeout_s), pids)
    except ProcessException as error:  # a child exited with an error: start_processes stopped the others
        raise _first_failure(folder, time.perf_counter() - started, str(error)) from None
    finally:
        for process in context.processes:
            if process.is_alive():
                process.kill()
            process.join(timeout=5)
    return RunResult(_collect(folder), time.perf_counter() - started, pids, f"mp.start_processes(nprocs={nproc})")

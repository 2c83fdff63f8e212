"""How many students one server holds: the class hub measured with three real student accounts (run as root).

Starts ``hub/course_hub.py serve`` on 127.0.0.1 with three temporary students (deleted at the end)
and measures, through each student's own JupyterLab server:

1. memory of the hub (JupyterHub + proxy + idle culler) and of one student's idle server;
2. each lesson's Run All in a fresh kernel for one student while the others sit idle: seconds, and
   the kernel's memory when it finishes (RSS; USS = its private pages; RSS - USS = library pages
   every kernel shares);
3. lesson 01 for 1 student alone vs 3 students at once;
4. the loss-surface explorer's redraw (median over 80 ``lr`` changes, headless) in one student's
   kernel, alone and while the two others run lesson 08's training.

From these it prints a capacity table (see ``capacity``) and writes everything to
``bench/hub_capacity.json``, with the git commit, each notebook's SHA-256 and the machine's load
average over the run (other work on the cores slows every number down).
Run: sudo .venv/bin/python bench/hub_capacity.py   (about 5 minutes)
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "hub"))

import hub_client  # noqa: E402  (hub/hub_client.py)
import hub_runtime  # noqa: E402
from course_hub import hub_processes  # noqa: E402

NOTEBOOKS = sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
LIGHT = [n for n in NOTEBOOKS if n[:2] in ("00", "01", "02", "03", "04", "05", "06")]
TRAINING = [n for n in NOTEBOOKS if n[:2] in ("07", "08", "09", "10")]
SERVERS = [(2, 24), (4, 16), (8, 32), (16, 64), (32, 128), (64, 256)]  # (cores, GB) rows of the table
WAIT_BUDGET_S = 120  # the whole class presses Run All at once; everyone is done within this
OS_RESERVE_MB = 1024  # the operating system, page cache for the data, headroom

PROBE = "import json, os; print(json.dumps({'kernel': os.getpid(), 'server': os.getppid()}))"
EXPLORER = """import matplotlib
matplotlib.use("Agg")
from bench.timing import median_ms
from lessons_src.widgets import LossSurfaceExplorer
explorer = LossSurfaceExplorer("source_quadratic", show_3d=False)
explorer.fig.canvas.draw()
lrs = [0.01 + 0.0015 * (i % 40) for i in range(80)]"""
REDRAW = """import json
print(json.dumps({"ms": median_ms(lambda v: setattr(explorer.lr_slider, "value", v), lrs)}))"""


def provenance() -> dict:
    """The code measured: git commit (and whether the tree had uncommitted changes), torch, each notebook's SHA-256."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=30).stdout.strip()

    return {"git_commit": git("rev-parse", "HEAD"), "uncommitted_changes": bool(git("status", "--porcelain")),
            "torch": importlib.metadata.version("torch"),
            "notebooks_sha256": {n: hashlib.sha256((ROOT / "notebooks" / n).read_bytes()).hexdigest()
                                 for n in NOTEBOOKS}}


class LoadSampler:
    """The 1-minute load average every ``every_s`` seconds, in a background thread, while in a ``with`` block."""

    def __init__(self, every_s: float = 5):
        self.every_s, self.samples = every_s, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            self.samples.append(float(Path("/proc/loadavg").read_text().split()[0]))

    def __enter__(self) -> LoadSampler:
        self.before = Path("/proc/loadavg").read_text().split()[:3]
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def summary(self) -> dict:
        """Load before the run (1, 5, 15 min) and the 1-minute load's mean and max during it."""
        return {"before_1_5_15min": [float(v) for v in self.before],
                "during_1min_mean": round(statistics.mean(self.samples), 2) if self.samples else None,
                "during_1min_max": max(self.samples, default=None), "cores": hub_runtime.usable_cores()}


def memory_mb(pid: int) -> dict[str, float]:
    """RSS, PSS and USS (private pages) of one process in MB, from /proc/<pid>/smaps_rollup."""
    fields = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, value = line.split(":")
        fields[name] = int(value.split()[0]) / 1024
    return {"rss": fields["Rss"], "pss": fields["Pss"],
            "uss": fields["Private_Clean"] + fields["Private_Dirty"]}


def total_mb(pids: list[int]) -> dict[str, float]:
    parts = [memory_mb(pid) for pid in pids]
    return {key: round(sum(p[key] for p in parts), 1) for key in ("rss", "pss", "uss")}


def notebook_path(name: str) -> str:
    return f"course/notebooks/{name}"


def run_lesson(session: hub_client.StudentSession, name: str) -> dict:
    """Run All of lesson ``name`` in a fresh kernel of the student's server: seconds and memory at the end."""
    content = hub_client.read_notebook(session, notebook_path(name))
    start = time.perf_counter()
    kernel = hub_client.RemoteKernel(session.server, session.token, notebook_path(name))
    try:
        started = time.perf_counter() - start
        seconds = kernel.run_notebook(content, timeout_s=900)
        pids = kernel.json_of(PROBE)
        return {"kernel_start_s": round(started, 2), "run_all_s": round(seconds, 2),
                "kernel_mb": total_mb([pids["kernel"]]), "server_mb": total_mb([pids["server"]])}
    finally:
        kernel.close()


def redraw_batches(kernel: hub_client.RemoteKernel, batches: int, pause_s: float) -> list[float]:
    """Median redraw time (ms) of 80 ``lr`` changes, ``batches`` times, ``pause_s`` apart."""
    results = []
    for _ in range(batches):
        results.append(round(kernel.json_of(REDRAW)["ms"], 2))
        time.sleep(pause_s)
    return results


def capacity(cores: int, mem_gb: float, student_mb: float, shared_mb: float, hub_mb: float,
             run_all_s: float) -> dict[str, int]:
    """Students a server holds: the smaller of what fits in memory and what finishes a Run All in time.

    memory: (mem_gb * 1024 - OS_RESERVE_MB - hub_mb - shared_mb) // student_mb, with ``student_mb`` one
    student's private memory (kernel + server) and ``shared_mb`` the library pages all kernels share;
    CPU: everyone presses Run All at once, each kernel on one thread, all done within WAIT_BUDGET_S:
    cores * WAIT_BUDGET_S // run_all_s, with ``run_all_s`` the lesson's time alone on one thread.
    """
    by_memory = int((mem_gb * 1024 - OS_RESERVE_MB - hub_mb - shared_mb) // student_mb)
    by_cpu = int(cores * WAIT_BUDGET_S // run_all_s)
    return {"memory": by_memory, "cpu": by_cpu, "students": max(0, min(by_memory, by_cpu))}


def measure(sessions: dict[str, hub_client.StudentSession], state: Path) -> dict:
    names = list(sessions)
    a = sessions[names[0]]
    server_pids = {}
    for name, session in sessions.items():
        kernel = hub_client.RemoteKernel(session.server, session.token, notebook_path("00_setup_check.ipynb"))
        server_pids[name] = kernel.json_of(PROBE)["server"]
        kernel.close()
    time.sleep(2)  # let the closed kernels exit
    hub_pids = [p for p in hub_processes(str(state.resolve())) if os.stat(f"/proc/{p}").st_uid == 0]
    report = {"hub_mb": total_mb(hub_pids), "idle_server_mb": total_mb([server_pids[names[0]]])}

    print("each lesson alone (others idle) ...", flush=True)
    report["lessons_alone"] = {}
    for name in NOTEBOOKS:
        report["lessons_alone"][name] = run_lesson(a, name)
        print(f"  {name}: {report['lessons_alone'][name]}", flush=True)

    print("lesson 01: 1 student, then 3 at once ...", flush=True)
    lesson = "01_gradient_descent.ipynb"
    one = run_lesson(a, lesson)["run_all_s"]
    with ThreadPoolExecutor(len(sessions)) as pool:
        three = [r["run_all_s"] for r in pool.map(lambda s: run_lesson(s, lesson), sessions.values())]
    report["lesson_01_concurrency"] = {"one_student_s": one, "three_students_s": three,
                                       "slowdown": round(statistics.mean(three) / one, 2)}

    print("explorer redraw alone, then while two students run lesson 08 (training) ...", flush=True)
    training = "08_faster_and_better.ipynb"
    explorer = hub_client.RemoteKernel(a.server, a.token, notebook_path("01_gradient_descent.ipynb"))
    try:
        explorer.execute(EXPLORER, timeout_s=300)
        alone = redraw_batches(explorer, 3, 1)
        with ThreadPoolExecutor(2) as pool:
            others = [pool.submit(run_lesson, sessions[n], training) for n in names[1:]]
            time.sleep(10)  # both kernels started and training
            loaded = redraw_batches(explorer, 5, 2)
            load = Path("/proc/loadavg").read_text().split()[0]
            others_s = [f.result()["run_all_s"] for f in others]
    finally:
        explorer.close()
    report["redraw_lr_ms"] = {"alone": alone, "two_others_training": loaded, "load_average_1min": float(load)}
    report["training_two_at_once_s"] = others_s
    return report


def summarize(report: dict) -> dict:
    """Per-student memory, shared pages and the capacity table from the measurements."""
    alone = report["lessons_alone"]
    server_uss = report["idle_server_mb"]["uss"]

    def group(names):
        kernel_uss = max(alone[n]["kernel_mb"]["uss"] for n in names)
        shared = max(alone[n]["kernel_mb"]["rss"] - alone[n]["kernel_mb"]["uss"] for n in names)
        return {"student_mb": round(kernel_uss + server_uss, 1), "shared_mb": round(shared, 1),
                "run_all_s": max(alone[n]["run_all_s"] for n in names)}

    groups = {"lessons 00-06": group(LIGHT), "lessons 07-10": group(TRAINING)}
    per_lesson = {n: round(alone[n]["kernel_mb"]["uss"] + server_uss, 1) for n in alone}
    hub_mb = report["hub_mb"]["rss"]
    table = []
    for cores, gb in SERVERS:
        row = {"cores": cores, "GB": gb}
        for label, g in groups.items():
            row[label] = capacity(cores, gb, g["student_mb"], g["shared_mb"], hub_mb, g["run_all_s"])
        table.append(row)
    return {"student_mb_per_lesson": per_lesson, "groups": groups, "capacity": table}


def print_table(report: dict) -> None:
    print("\nlesson                         run all (s)   kernel RSS / USS (MB)   student: kernel + server USS (MB)")
    for name, r in report["lessons_alone"].items():
        print(f"  {name:30} {r['run_all_s']:8.1f}   {r['kernel_mb']['rss']:8.0f} / {r['kernel_mb']['uss']:<8.0f}"
              f"      {report['summary']['student_mb_per_lesson'][name]:8.0f}")
    c = report["lesson_01_concurrency"]
    print(f"lesson 01: 1 student {c['one_student_s']} s; 3 at once {c['three_students_s']} s ({c['slowdown']}x)")
    r = report["redraw_lr_ms"]
    print(f"explorer redraw (lr): alone {r['alone']} ms; while two others train (lesson 08) "
          f"{r['two_others_training']} ms (1-min load {r['load_average_1min']}); their Run All "
          f"{report['training_two_at_once_s']} s")
    load = report["load_average"]
    print(f"load average: {load['before_1_5_15min']} before; 1-min during the run: mean {load['during_1min_mean']}, "
          f"max {load['during_1min_max']} on {load['cores']} cores")
    print(f"hub + proxy + culler: {report['hub_mb']['rss']:.0f} MB RSS; idle student server: "
          f"{report['idle_server_mb']['rss']:.0f} MB RSS / {report['idle_server_mb']['uss']:.0f} MB USS")
    for label, g in report["summary"]["groups"].items():
        print(f"{label}: {g['student_mb']} MB per student + {g['shared_mb']} MB shared once; "
              f"Run All {g['run_all_s']} s alone")
    print("\ncores  GB   students, lessons 00-06 (memory/cpu)   lessons 07-10 (memory/cpu)")
    for row in report["summary"]["capacity"]:
        light, heavy = row["lessons 00-06"], row["lessons 07-10"]
        print(f"{row['cores']:5} {row['GB']:4}   {light['students']:4} ({light['memory']}/{light['cpu']})"
              f"{'':22}{heavy['students']:4} ({heavy['memory']}/{heavy['cpu']})")


def measure_class(klass: hub_client.TemporaryClass, hub: hub_client.HubProcess, state: Path) -> dict:
    """Log every student in, start their servers, measure; the report with its summary."""
    sessions = {}
    for name in klass.students:
        session = hub_client.StudentSession(hub.base, name)
        if session.login(klass.passwords[name]).status_code != 302:
            raise RuntimeError(f"{name} could not log in:\n{hub.log_tail()}")
        session.request_token()
        session.start_server()
        sessions[name] = session
    report = {"machine": f"{platform.machine()}, {hub_runtime.usable_cores()} cores, "
                         f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GB",
              "threads_per_kernel": hub_runtime.threads_per_student(hub_runtime.usable_cores(), len(sessions)),
              "wait_budget_s": WAIT_BUDGET_S, "os_reserve_mb": OS_RESERVE_MB, **provenance()}
    report.update(measure(sessions, state))
    report["summary"] = summarize(report)
    return report


def main() -> int:
    if os.geteuid() != 0:
        print("skipped: bench/hub_capacity.py creates system accounts, so it runs as root only")
        return 0
    folder = Path(tempfile.mkdtemp(prefix="hub-bench-"))
    folder.chmod(0o755)
    state = folder / "state"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    klass = hub = None
    with LoadSampler() as sampler:
        try:
            klass = hub_client.TemporaryClass.create(3, state, folder)
            hub = hub_client.HubProcess(state, port, folder / "hub.log").start()
            report = measure_class(klass, hub, state)
        finally:
            if hub is not None:
                hub.stop()
            if klass is not None:
                klass.remove()
            shutil.rmtree(folder, ignore_errors=True)
    report["load_average"] = sampler.summary()
    (ROOT / "bench" / "hub_capacity.json").write_text(json.dumps(report, indent=1) + "\n")
    print_table(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())

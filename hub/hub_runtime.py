"""What the students' servers run and how much of the machine each gets.

- ``threads_per_student``: the torch/OpenMP threads of each student kernel,
  ``max(1, cores // class_size)``, so a class that all presses *Run All* at once shares the cores
  instead of oversubscribing them.
- ``student_python``: an interpreter every student may run. The project's ``.venv`` normally is one;
  when its base Python sits where other users cannot reach it (pyenv under ``/root`` is the usual
  case), a three-file virtual environment from the system's ``python3.X`` of the same version reuses
  the ``.venv``'s packages (``hub/runtime/``; nothing is downloaded).
- ``proxy_command``: configurable-http-proxy from ``hub/node_modules``, with the Node.js it needs. ``./course
  setup`` installs it (``npm ci``) and writes the SHA-256 of ``hub/package-lock.json`` to
  ``hub/node_modules/.course-lock-sha256``; the hub only checks that stamp, it never downloads.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import pwd
import shutil
import stat
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

HUB_DIR = Path(__file__).resolve().parent
MIN_NODE_MAJOR = 20
PROXY_STAMP = Path("node_modules") / ".course-lock-sha256"  # written by ./course setup after npm ci
NODE_REMEDY = ("install Node.js >= 20 with npm (`sudo apt-get install nodejs npm` on Debian 13 / Ubuntu 24.10 or "
               "newer, or from nodejs.org), then run `./course setup`")
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


class RuntimeProblem(RuntimeError):
    """Something the hub needs on this machine is missing or out of the students' reach."""


def usable_cores() -> int:
    """CPU cores this process may run on (respects taskset/cgroup cpusets)."""
    return len(os.sched_getaffinity(0))


def threads_per_student(cores: int, class_size: int) -> int:
    """Threads per student kernel: ``max(1, cores // class_size)``; both arguments >= 1."""
    # imported here, not at the top: it imports torch, and the hub process loads this module
    from lessons_src.validation import as_int

    return max(1, as_int("cores", cores, low=1) // as_int("class_size", class_size, low=1))


def thread_environment(threads: int) -> dict[str, str]:
    """The environment variables that fix torch's, MKL's and OpenBLAS's thread pools to ``threads``."""
    return {name: str(threads) for name in THREAD_VARIABLES}


def blocked_for_others(path: Path) -> Path | None:
    """The first component of ``path`` other users cannot pass (dirs need o+x, the end needs o+r); else None."""
    path = Path(path).resolve()
    for parent in reversed(path.parents):
        if not parent.stat().st_mode & stat.S_IXOTH:
            return parent
    mode = path.stat().st_mode
    needed = stat.S_IXOTH if path.is_dir() else stat.S_IROTH
    return None if mode & needed else path


def require_reachable(path: Path, what: str) -> None:
    """Raise RuntimeProblem if students cannot read ``path`` (``what`` names it in the message)."""
    blocked = blocked_for_others(path)
    if blocked is not None:
        raise RuntimeProblem(f"students cannot read {what} at {path}: {blocked} is closed to other users "
                             f"(mode {stat.filemode(blocked.stat().st_mode)}). Keep the course checkout, its "
                             ".venv and the data where every user can read them, e.g. under /srv or /opt.")


def _python_reachable(python: Path) -> bool:
    """True if other users can run ``python`` and read the standard library it was built with."""
    stdlib = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('stdlib'))"],
                                 capture_output=True, text=True, timeout=30, check=True).stdout.strip())
    runnable = blocked_for_others(python) is None and python.resolve().stat().st_mode & stat.S_IXOTH
    return bool(runnable) and blocked_for_others(stdlib) is None


def _system_python(version: str) -> Path | None:
    """A python``version`` outside the venv that other users can run, or None."""
    for folder in ("/usr/bin", "/usr/local/bin", "/opt/python/bin"):
        candidate = Path(folder) / f"python{version}"
        if candidate.exists() and _python_reachable(candidate):
            return candidate
    return None


def student_python(runtime_dir: Path = HUB_DIR / "runtime") -> Path:
    """An interpreter students can run that imports this environment's packages (see the module doc)."""
    venv_python = Path(sys.prefix) / "bin" / "python"
    site_packages = Path(sysconfig.get_path("purelib"))
    require_reachable(site_packages, "the course's Python packages")
    if _python_reachable(venv_python):
        return venv_python
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    base = _system_python(version)
    if base is None:
        raise RuntimeProblem(f"students cannot run {venv_python} (its base Python {Path(sys.base_prefix)} is closed "
                             f"to other users) and no python{version} in /usr/bin or /usr/local/bin can stand in. "
                             f"Recreate .venv from a system Python: rm -rf .venv && PYTHON=/usr/bin/python{version} "
                             "./course setup")
    python = runtime_dir / "bin" / "python"
    pth = runtime_dir / "lib" / f"python{version}" / "site-packages" / "course_venv.pth"
    line = f"import site; site.addsitedir({str(site_packages)!r})\n"
    if python.exists() and pth.is_file() and pth.read_text() == line:
        return python
    runtime_dir.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(dir=runtime_dir.parent, prefix=".runtime-"))
    subprocess.run([str(base), "-m", "venv", "--without-pip", str(building)], check=True, timeout=120,
                   capture_output=True)
    (building / pth.relative_to(runtime_dir)).write_text(line)
    for item in [building, *building.rglob("*")]:
        if not item.is_symlink():  # bin/python links to the system interpreter: never chmod through it
            item.chmod(0o755 if item.is_dir() else 0o644)
    shutil.rmtree(runtime_dir, ignore_errors=True)
    os.replace(building, runtime_dir)
    require_reachable(python, "the students' Python")
    return python


def student_environment(python: Path) -> dict[str, str]:
    """PATH and Jupyter search paths so a student server run by ``python`` finds this environment's extensions."""
    return {
        "PATH": f"{python.parent}:/usr/local/bin:/usr/bin:/bin",
        "VIRTUAL_ENV": str(python.parent.parent),
        # labextensions (ipywidgets, ipympl) and server-extension settings live under the .venv's prefix
        "JUPYTER_PATH": str(Path(sys.prefix) / "share" / "jupyter"),
        "JUPYTER_CONFIG_PATH": str(Path(sys.prefix) / "etc" / "jupyter"),
    }


def node_major(node: str) -> int:
    """The major version of the Node.js at ``node`` (0 if it cannot tell)."""
    try:
        out = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30).stdout
        return int(out.strip().lstrip("v").split(".")[0])
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return 0


def lock_hash(hub_dir: Path = HUB_DIR) -> str:
    """SHA-256 (hex) of ``hub_dir/package-lock.json``: the proxy version the hub needs."""
    return hashlib.sha256((hub_dir / "package-lock.json").read_bytes()).hexdigest()


def proxy_command(hub_dir: Path = HUB_DIR) -> list[str]:
    """``[node, configurable-http-proxy]`` from ``hub/node_modules``; RuntimeProblem with the remedy if missing.

    Nothing is installed here: a missing or stale ``node_modules`` (its stamp does not match
    ``package-lock.json``) is an error that says to run ``./course setup``.
    """
    node = shutil.which("node")
    if node is None or node_major(node) < MIN_NODE_MAJOR:
        found = f"found Node.js {node_major(node)}" if node else "no `node` on PATH"
        raise RuntimeProblem(f"the hub's proxy needs Node.js >= {MIN_NODE_MAJOR} ({found}): {NODE_REMEDY}.")
    script = hub_dir / "node_modules" / "configurable-http-proxy" / "bin" / "configurable-http-proxy"
    if not script.is_file():
        raise RuntimeProblem(f"configurable-http-proxy is not installed in {hub_dir / 'node_modules'}: run "
                             "`./course setup` (it runs `npm ci` from hub/package-lock.json).")
    stamp = hub_dir / PROXY_STAMP
    if not stamp.is_file() or stamp.read_text().strip() != lock_hash(hub_dir):
        raise RuntimeProblem(f"{hub_dir / 'node_modules'} does not match hub/package-lock.json (it changed, or the "
                             "install did not finish): run `./course setup` to install the pinned proxy again.")
    return [node, str(script)]


def install_proxy(hub_dir: Path = HUB_DIR) -> None:
    """``npm ci`` in ``hub_dir`` (configurable-http-proxy at the version hub/package-lock.json pins), then the stamp."""
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeProblem(f"`npm` is not on PATH: {NODE_REMEDY}")
    result = subprocess.run([npm, "ci", "--prefix", str(hub_dir), "--no-audit", "--no-fund"],
                            capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        raise RuntimeProblem(f"npm ci in {hub_dir} failed (is the npm registry reachable?):\n{result.stderr[-2000:]}")
    (hub_dir / PROXY_STAMP).write_text(lock_hash(hub_dir) + "\n")


async def run_as_account(command: list[str], account: pwd.struct_passwd, env: dict[str, str],
                         timeout_s: float) -> bytes:
    """Run ``command`` as ``account`` in its home; its stdout. RuntimeError if it fails or runs past ``timeout_s``.

    A command that runs too long is killed, so it cannot outlive the server start it delays.
    """
    process = await asyncio.create_subprocess_exec(
        *command, user=account.pw_uid, group=account.pw_gid, extra_groups=[], cwd=account.pw_dir, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout=timeout_s)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise RuntimeError(f"no result within {timeout_s:g} s; stopped it (pid {process.pid})") from None
    if process.returncode != 0:
        raise RuntimeError(err.decode(errors="replace")[-2000:])
    return out


def course_sync_command(python: Path, course: Path, home: str) -> list[str]:
    """The command that copies/updates the course into ``<home>/course`` (run it as the home's owner)."""
    return [str(python), str(HUB_DIR / "hub_sync.py"), "--source", str(course), "--dest", f"{home}/course"]

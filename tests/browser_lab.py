"""What the browser tests need: `./course lab` running on a throwaway copy of the checkout, and Chromium.

The server is started through the course script itself, with only the arguments a learner could add
(``--no-browser``, a port, a token), so it serves the same root, opens the same page and loads the same
settings as ``./course lab``. It runs from a copy of the working tree, so "Run All" and JupyterLab's
own writes never touch the repository's notebooks.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# the environment, the data and the hub's proxy are large and already set up: the copy links to them
LINKED = (".venv", "data", "hub/node_modules")


def browser_ready() -> bool:
    """Whether the browser tests can run here: Chromium at CHROMIUM, and Playwright's sync API importable."""
    if not CHROMIUM.exists():
        return False
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return False
    return True


SERVER_LIFETIME_S = 1800  # the server stops by itself after this, whatever happens to the tests

# User-level JupyterLab settings, as a learner could set them in Settings → Settings Editor.
LAB_SETTINGS = {
    # autosave off: a test never writes a notebook back, even inside the throwaway copy
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    # render every cell, not only those near the viewport, so every prompt, image and widget exists in the page
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}

_NOT_FOUND = re.compile(r"\b404 (?:GET|HEAD|POST|PUT|PATCH|DELETE) (\S+)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def install_stamp(checkout: Path) -> str:
    """What `./course setup` writes to .venv/.course-installed once this lock and pyproject.toml are installed."""
    return hashlib.sha256((checkout / "requirements.lock").read_bytes()
                          + (checkout / "pyproject.toml").read_bytes()).hexdigest()


def copy_checkout(destination: Path) -> Path:
    """The working tree's tracked and not-ignored files (uncommitted edits included), environment linked."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=ROOT, check=True, capture_output=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():  # a file deleted but not yet staged is still listed
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)  # keeps `course` executable
    for name in LINKED:
        if (ROOT / name).exists():
            (destination / name).symlink_to(ROOT / name)
    return destination


def not_found(log: str) -> list[str]:
    """Every URL the server answered with 404, in the order logged."""
    return _NOT_FOUND.findall(log)


@dataclass
class Lab:
    """A running `./course lab`: its address, token, log and process group."""

    base: str
    token: str
    log_path: Path
    process: subprocess.Popen
    runtime_dir: Path

    def log(self, start: int = 0) -> str:
        """The server's output from byte ``start`` on (``len(log())`` marks a point to read from later)."""
        with self.log_path.open("rb") as log:
            log.seek(start)
            return log.read().decode("utf-8", errors="replace")

    def log_size(self) -> int:
        return self.log_path.stat().st_size

    def api(self, path: str, method: str = "GET", attempts: int = 5):
        """Call the server's REST API. A GET that meets a server error is asked again (the server can answer
        500 to GET /api/kernels while a kernel is starting); the last attempt's error is raised."""
        request = urllib.request.Request(f"{self.base}/api/{path}", method=method,
                                         headers={"Authorization": f"token {self.token}"})
        for attempt in range(attempts if method == "GET" else 1):
            try:
                with urllib.request.urlopen(request, timeout=20) as response:
                    body = response.read()
                return json.loads(body) if body else None
            except urllib.error.HTTPError as error:
                if error.code < 500 or attempt == attempts - 1 or method != "GET":
                    raise
                time.sleep(0.5 * (attempt + 1))

    def kernels(self) -> list[dict]:
        return self.api("kernels")

    def shutdown_kernels(self) -> None:
        for kernel in self.kernels():
            self.api(f"kernels/{kernel['id']}", method="DELETE")

    def url(self, path: str) -> str:
        separator = "&" if "?" in path else "?"
        return f"{self.base}{path}{separator}token={self.token}"


def _kernel_pids(runtime_dir: Path) -> list[int]:
    """Kernels this server started: their command line names a connection file in its runtime folder."""
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if str(runtime_dir).encode() in (proc / "cmdline").read_bytes():
                    pids.append(int(proc.name))
            except OSError:
                pass
    return pids


def _stop(lab: Lab) -> None:
    """Kernels first (politely, through the API), then the server's whole process group."""
    try:
        lab.shutdown_kernels()
    except OSError:
        pass
    for sig, wait_s in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
        try:
            os.killpg(lab.process.pid, sig)
        except ProcessLookupError:
            break
        try:
            lab.process.wait(timeout=wait_s)
            break
        except subprocess.TimeoutExpired:
            continue
    # kernels run in sessions of their own (for interrupts); they also exit when the server is gone
    deadline = time.monotonic() + 10
    while (pids := _kernel_pids(lab.runtime_dir)) and time.monotonic() < deadline:
        time.sleep(0.5)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@contextmanager
def course_lab(workdir: Path, start_timeout_s: float = 180, lang: str | None = None) -> Iterator[Lab]:
    """`./course lab --no-browser --port P --IdentityProvider.token=T` on a copy of the checkout in ``workdir``
    (with ``--lang LANG`` when ``lang`` is given)."""
    checkout = copy_checkout(workdir / "checkout")
    installed = ROOT / ".venv" / ".course-installed"
    if not installed.exists() or installed.read_text().strip() != install_stamp(checkout):
        # otherwise `./course lab` would install into the shared .venv, pointing its editable package at the copy
        raise RuntimeError(".venv is not set up for this pyproject.toml and requirements.lock: run ./course setup")
    home = workdir / "home"
    settings = home / "lab-settings"
    for name, values in LAB_SETTINGS.items():
        (settings / name).parent.mkdir(parents=True, exist_ok=True)
        (settings / name).write_text(json.dumps(values))
    runtime_dir = home / "runtime"
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTER")}  # no token or folders from outside
    env |= {"JUPYTERLAB_SETTINGS_DIR": str(settings),
            # fresh user folders, so no configuration or workspace of the person running the tests applies
            "JUPYTER_CONFIG_DIR": str(home / "config"), "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
            "JUPYTER_DATA_DIR": str(home / "data"), "JUPYTER_RUNTIME_DIR": str(runtime_dir)}
    # the kernel imports lessons_src from the copy, like the notebooks, not from the checkout that .venv's
    # editable install names: the test sees one snapshot even while someone edits the checkout
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(checkout), env.get("PYTHONPATH")]))
    port, token = free_port(), secrets.token_hex(16)
    command = [str(checkout / "course"), "lab", *(["--lang", lang] if lang else []), "--no-browser", f"--port={port}",
               f"--IdentityProvider.token={token}"]
    # `timeout` stops the server (its whole group) after SERVER_LIFETIME_S; `setpriv --pdeathsig` sends it
    # SIGTERM, which it passes on to the group, as soon as this test process dies, however it dies
    command = ["timeout", "-k", "10", str(SERVER_LIFETIME_S), *command]
    if shutil.which("setpriv"):
        command = ["setpriv", "--pdeathsig", "TERM", *command]
    log_path = workdir / "lab.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(command, cwd=checkout, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    lab = Lab(f"http://127.0.0.1:{port}", token, log_path, process, runtime_dir)
    try:
        deadline = time.monotonic() + start_timeout_s
        while True:
            try:
                if lab.api("status") is not None:
                    break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"./course lab did not start:\n{lab.log()[-3000:]}")
            time.sleep(0.5)
        yield lab
    finally:
        _stop(lab)


@contextmanager
def chromium() -> Iterator:
    """Headless Debian Chromium through Playwright (which never downloads a browser of its own here)."""
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            browser.close()

"""Drive a running course hub from outside, as students' browsers do (used by tests/test_hub.py and bench/).

- ``HubProcess``: ``course_hub.py serve`` as a child process, waited for and stopped by SIGTERM;
- ``TemporaryClass``: a roster of uniquely named accounts, created with ``add-students`` and removed
  (accounts, homes, group) on exit;
- ``StudentSession``: log in through the hub's HTTP form, get an API token, start the server;
- ``RemoteKernel``: a kernel in a student's server, run over the Jupyter Server REST API and the
  kernel's websocket (the protocol JupyterLab speaks), with every wait bounded.
"""

from __future__ import annotations

import contextlib
import csv
import grp
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import requests
import websocket

HUB_DIR = Path(__file__).resolve().parent
COURSE_HUB = HUB_DIR / "course_hub.py"


def wait_for(condition, timeout_s: float, what: str, interval_s: float = 0.5):
    """Call ``condition`` until it returns something truthy; TimeoutError naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(interval_s)


def run_cli(*args: str, timeout_s: float = 300) -> subprocess.CompletedProcess:
    """``course_hub.py <args>`` with this interpreter; raises with its output if it fails."""
    result = subprocess.run([sys.executable, str(COURSE_HUB), *args], capture_output=True, text=True,
                            timeout=timeout_s)
    if result.returncode != 0:
        raise RuntimeError(f"course_hub.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


class HubProcess:
    """``course_hub.py serve`` on 127.0.0.1:``port`` with its log in ``log_path``."""

    def __init__(self, state: Path, port: int, log_path: Path, extra_args: tuple[str, ...] = ()):
        self.state, self.port, self.log_path = Path(state), port, Path(log_path)
        self.args = ("serve", "--ip", "127.0.0.1", "--port", str(port), "--state", str(state), *extra_args)
        self.base = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen | None = None

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""

    def start(self, timeout_s: float = 120) -> HubProcess:
        with open(self.log_path, "a") as log:
            self.process = subprocess.Popen([sys.executable, str(COURSE_HUB), *self.args], stdout=log,
                                            stderr=subprocess.STDOUT)

        def ready() -> bool:
            if self.process.poll() is not None:
                raise RuntimeError(f"the hub exited with {self.process.returncode}:\n{self.log_tail()}")
            with contextlib.suppress(requests.RequestException):
                return requests.get(f"{self.base}/hub/api/", timeout=5).status_code == 200
            return False

        try:
            wait_for(ready, timeout_s, "the hub to answer")
        except TimeoutError as error:
            self.stop()
            raise TimeoutError(f"{error}\n{self.log_tail()}") from error
        return self

    def stop(self, timeout_s: float = 150) -> int:
        """SIGTERM (as Ctrl-C would), wait for a clean exit; SIGKILL and raise if it hangs."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=30)
            raise TimeoutError(f"the hub did not stop within {timeout_s} s:\n{self.log_tail()}") from None


@dataclass
class TemporaryClass:
    """Accounts ``<prefix>_1..n`` (students) and ``<prefix>_t`` (teacher) in group ``<prefix>``."""

    prefix: str
    size: int
    state: Path
    folder: Path
    passwords: dict[str, str] = field(default_factory=dict)

    @classmethod
    def create(cls, size: int, state: Path, folder: Path) -> TemporaryClass:
        klass = cls(f"ocs_{secrets.token_hex(3)}", size, Path(state), Path(folder))
        names = [klass.teacher, *klass.students]
        klass.passwords = {name: secrets.token_urlsafe(12) for name in names}
        # one password with the characters a roster and chpasswd must carry through: ':' ',' '"' and a space
        klass.passwords[klass.students[0]] += ':a b,"c'
        with open(klass.roster, "w", newline="") as out:
            klass.roster.chmod(0o600)
            writer = csv.writer(out)
            writer.writerow(["username", "password", "role"])
            writer.writerows([n, p, "teacher" if n == klass.teacher else "student"] for n, p in klass.passwords.items())
        try:
            run_cli("add-students", str(klass.roster), "--group", klass.prefix, "--state", str(klass.state))
        except BaseException:
            klass.remove()
            raise
        return klass

    @property
    def roster(self) -> Path:
        return self.folder / f"{self.prefix}.csv"

    @property
    def teacher(self) -> str:
        return f"{self.prefix}_t"

    @property
    def students(self) -> list[str]:
        return [f"{self.prefix}_{i}" for i in range(1, self.size + 1)]

    def uid(self, name: str) -> int:
        return pwd.getpwnam(name).pw_uid

    def home(self, name: str) -> Path:
        return Path(pwd.getpwnam(name).pw_dir)

    def remove(self) -> None:
        """Delete the accounts, homes and group, whatever state they are in (processes are killed first)."""
        names = [self.teacher, *self.students]
        uids = set()
        for name in names:
            with contextlib.suppress(KeyError):
                uids.add(pwd.getpwnam(name).pw_uid)
        for pid in [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]:
            with contextlib.suppress(OSError):
                if Path(f"/proc/{pid}").stat().st_uid in uids:
                    os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            run_cli("remove-students", str(self.roster), "--state", str(self.state), timeout_s=60)
        for name in names:
            with contextlib.suppress(KeyError):
                pwd.getpwnam(name)
                subprocess.run(["userdel", "--remove", name], capture_output=True, timeout=60)
        with contextlib.suppress(KeyError):
            grp.getgrnam(self.prefix)
            subprocess.run(["groupdel", self.prefix], capture_output=True, timeout=60)
        for name in names:  # caches a library may have put in /tmp under the account's name
            for leftover in Path("/tmp").glob(f"*_{name}"):
                if leftover.is_dir() and not leftover.is_symlink() and leftover.stat().st_uid in uids:
                    shutil.rmtree(leftover, ignore_errors=True)


class StudentSession:
    """One person's browser session on the hub: cookies from the login form, then an API token."""

    def __init__(self, base: str, name: str):
        self.base, self.name = base, name
        self.http = requests.Session()
        self.token = ""

    def login(self, password: str) -> requests.Response:
        """Submit the hub's login form; returns the (unfollowed) response: 302 on success, 403 refused."""
        page = self.http.get(f"{self.base}/hub/login", timeout=30)
        xsrf = re.search(r'name="_xsrf"\s+value="([^"]+)"', page.text)
        form = {"username": self.name, "password": password, "_xsrf": xsrf.group(1) if xsrf else ""}
        return self.http.post(f"{self.base}/hub/login?next=/user/{self.name}/lab", data=form,
                              allow_redirects=False, timeout=60)

    def hub_xsrf(self) -> str:
        return next((c.value for c in self.http.cookies if c.name == "_xsrf" and c.path == "/hub/"), "")

    def request_token(self) -> str:
        """A token for this user's own API calls, asked for with the login cookie (as the /hub/token page does)."""
        response = self.http.post(f"{self.base}/hub/api/users/{self.name}/tokens", json={"note": "course check",
                                  "expires_in": 3600}, headers={"X-XSRFToken": self.hub_xsrf()}, timeout=30)
        response.raise_for_status()
        self.token = response.json()["token"]
        return self.token

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}

    def user_model(self) -> dict:
        response = requests.get(f"{self.base}/hub/api/users/{self.name}", headers=self.auth, timeout=30)
        response.raise_for_status()
        return response.json()

    def start_server(self, timeout_s: float = 240) -> None:
        """Ask the hub for this user's server and wait until it is ready."""
        response = requests.post(f"{self.base}/hub/api/users/{self.name}/server", headers=self.auth, timeout=60)
        if response.status_code not in (201, 202, 400):  # 400: already running
            raise RuntimeError(f"starting {self.name}'s server: {response.status_code} {response.text[:500]}")
        wait_for(lambda: self.user_model()["servers"].get("", {}).get("ready"), timeout_s,
                 f"{self.name}'s server", interval_s=1)

    @property
    def server(self) -> str:
        return f"{self.base}/user/{self.name}"


@dataclass
class Execution:
    """What one cell printed and whether it failed."""

    stdout: str
    error: str
    seconds: float


class RemoteKernel:
    """A notebook session's kernel in a student's server, driven over REST and its websocket channel."""

    def __init__(self, server: str, token: str, path: str, timeout_s: float = 120):
        self.server, self.headers = server, {"Authorization": f"token {token}"}
        response = requests.post(f"{server}/api/sessions", headers=self.headers, timeout=timeout_s,
                                 json={"path": path, "type": "notebook", "name": Path(path).name,
                                       "kernel": {"name": "python3"}})
        response.raise_for_status()
        self.session_id, self.kernel_id = response.json()["id"], response.json()["kernel"]["id"]
        self.client_session = uuid.uuid4().hex
        url = (server.replace("http", "ws", 1)
               + f"/api/kernels/{self.kernel_id}/channels?session_id={self.client_session}")
        self.ws = websocket.create_connection(url, header=[f"Authorization: token {token}"], timeout=timeout_s)
        self._request("kernel_info_request", {}, "shell", timeout_s)

    def _message(self, msg_type: str, content: dict, channel: str) -> dict:
        header = {"msg_id": uuid.uuid4().hex, "msg_type": msg_type, "session": self.client_session,
                  "username": "course", "version": "5.3", "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        return {"header": header, "parent_header": {}, "metadata": {}, "content": content, "channel": channel,
                "buffers": []}

    def _request(self, msg_type: str, content: dict, channel: str, timeout_s: float) -> list[dict]:
        """Send a request; return every message answering it, up to its reply and the kernel's idle status."""
        message = self._message(msg_type, content, channel)
        self.ws.send(json.dumps(message))
        reply_type = msg_type.replace("_request", "_reply")
        answers, replied, idle = [], False, msg_type == "kernel_info_request"
        deadline = time.monotonic() + timeout_s
        while not (replied and idle):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no {reply_type} from kernel {self.kernel_id} within {timeout_s:.0f} s")
            self.ws.settimeout(remaining)
            frame = self.ws.recv()
            if isinstance(frame, bytes):
                continue  # binary frames carry widget buffers, never the replies waited for
            answer = json.loads(frame)
            if answer.get("parent_header", {}).get("msg_id") != message["header"]["msg_id"]:
                continue
            answers.append(answer)
            kind = answer["header"]["msg_type"]
            replied = replied or kind == reply_type
            idle = idle or (kind == "status" and answer["content"]["execution_state"] == "idle")
        return answers

    def execute(self, code: str, timeout_s: float = 300) -> Execution:
        """Run ``code``; its stdout, and the error (name, value, traceback) if it raised."""
        start = time.perf_counter()
        answers = self._request("execute_request", {"code": code, "silent": False, "store_history": True,
                                                    "user_expressions": {}, "allow_stdin": False,
                                                    "stop_on_error": True}, "shell", timeout_s)
        stdout, error = [], ""
        for answer in answers:
            kind, content = answer["header"]["msg_type"], answer["content"]
            if kind == "stream" and content.get("name") == "stdout":
                stdout.append(content["text"])
            elif kind == "error":
                error = f"{content['ename']}: {content['evalue']}\n" + "\n".join(content["traceback"])
        return Execution("".join(stdout), error, time.perf_counter() - start)

    def run_notebook(self, notebook: dict, timeout_s: float = 600) -> float:
        """Run every code cell in order (as Run All does); seconds taken. Raises at the first failing cell."""
        start = time.perf_counter()
        for index, cell in enumerate(notebook["cells"]):
            if cell["cell_type"] != "code":
                continue
            remaining = timeout_s - (time.perf_counter() - start)
            result = self.execute("".join(cell["source"]), timeout_s=max(1.0, remaining))
            if result.error:
                raise RuntimeError(f"cell {index} failed in {self.server}:\n{result.error[-3000:]}")
        return time.perf_counter() - start

    def json_of(self, code: str, timeout_s: float = 120) -> dict:
        """Run ``code`` that prints one JSON object as its last line; that object."""
        result = self.execute(code, timeout_s)
        if result.error:
            raise RuntimeError(result.error)
        return json.loads(result.stdout.strip().splitlines()[-1])

    def close(self, timeout_s: float = 60) -> None:
        """Close the websocket and delete the session (which shuts the kernel down)."""
        with contextlib.suppress(Exception):
            self.ws.close()
        requests.delete(f"{self.server}/api/sessions/{self.session_id}", headers=self.headers, timeout=timeout_s)


def read_notebook(session: StudentSession, path: str) -> dict:
    """A notebook from the student's own server (the student's copy, not the checkout's)."""
    response = requests.get(f"{session.server}/api/contents/{path}", headers=session.auth, timeout=60)
    response.raise_for_status()
    return response.json()["content"]

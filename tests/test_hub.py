"""The class hub: roster, course copies, threads (always), and a real JupyterHub with real accounts (as root).

The second part starts ``hub/course_hub.py serve`` on 127.0.0.1 with three students and a teacher
created from a roster (unique ``ocs_<hex>_N`` names, deleted at the end with their homes), logs in
through the hub's HTTP form, runs lessons 00 and 01 in each student's own server concurrently over
the Jupyter Server REST API and kernel websocket, checks that students cannot reach each other's
files, servers or kernels, stops the hub, updates the course, and starts the hub again.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import json
import os
import pwd
import re
import shutil
import socket
import stat
import subprocess
import sys
import sysconfig
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
import websocket

from hub import course_hub, hub_roster, hub_runtime, hub_sync
from tests.idx_fixtures import write_fake_fashion_mnist

ROOT = Path(__file__).resolve().parents[1]
HUB_DIR = ROOT / "hub"
IN_CI = os.environ.get("CI", "").lower() in ("true", "1")
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (runs commands as other users)")


# -- the roster --------------------------------------------------------------------------------

def test_roster_reads_members_roles_and_the_teacher():
    text = 'username,password,role\nms_lee,pw-teacher,teacher\nana_1,,\nbo-2,"se:cr et,1",student\n'
    members = hub_roster.parse_roster(text)
    assert [(m.name, m.password, m.role) for m in members] == [
        ("ms_lee", "pw-teacher", "teacher"), ("ana_1", "", "student"), ("bo-2", "se:cr et,1", "student")]
    by_flag = hub_roster.parse_roster("username\nms_lee\nana\n", admin="ms_lee")
    assert [m.role for m in by_flag] == ["teacher", "student"]


@pytest.mark.parametrize("text, admin, message", [
    ("username,role\nBob,teacher\n", None, "line 2: username 'Bob' is not a valid account name"),
    ("username,role\nt,teacher\nroot;rm,\n", None, "line 3"),
    ("username,role\nt,teacher\nana,\nana,\n", None, "'ana' is listed twice"),
    ("username\nana\n", None, "exactly one teacher"),
    ("username,role\na,teacher\nb,teacher\nc,\n", None, "exactly one teacher"),
    ("username,role\nt,teacher\nana,boss\n", None, "role 'boss' must be one of student, teacher"),
    ("name,pass\nana,x\n", None, "the columns are username (required), password and role"),
    ("username\nana\n", "zed", "--admin 'zed' is not in the roster"),
    ("username,role\nt,teacher\n", None, "lists no students"),
    ("", None, "the roster is empty"),
    ("username,role\n\nt,teacher\n\nBob,\n", None, "roster line 5: username 'Bob'"),  # blank lines count
    ("username,password,role\nt,,teacher\nana,password1,student,extra\n", None,
     "roster line 3: 4 cells but the header names 3 (username, password, role)"),
    ("username,password\nt,,\nana,password1\n", "t", "roster line 2: 3 cells but the header names 2"),
    ("username,username\nana,bo\n", None, "each once"),
    ('username,password,role\nt,,teacher\nana,"open\n', None, "roster line 3: unexpected end of data"),
])
def test_roster_errors_name_the_line_and_the_remedy(text, admin, message):
    with pytest.raises(hub_roster.RosterError) as caught:
        hub_roster.parse_roster(text, admin)
    assert message in str(caught.value)


@pytest.mark.parametrize("password, why", [
    ("abcdefgh\nroot:owned", "control character"),  # would be a second chpasswd line: root's password
    ("abcdefgh\rroot:owned", "control character"),
    ("abcd\x00efgh", "control character"),
    ("abcd\tefgh", "control character"),
    ("short", "has 5 characters; use 8 to 256"),
    ("x" * 257, "has 257 characters; use 8 to 256"),
])
def test_a_password_chpasswd_could_misread_is_refused_naming_the_line(password, why):
    text = "username,password,role\nt,,teacher\nana,{},\n"
    quoted = '"' + password.replace('"', '""') + '"'
    with pytest.raises(hub_roster.RosterError) as caught:
        hub_roster.parse_roster(text.format(quoted))
    assert f"roster line 3: the password for 'ana' {'holds a ' if 'control' in why else ''}{why}" in str(caught.value)
    assert password not in str(caught.value), "an error must not print the password"


def test_accounts_are_not_touched_when_a_password_is_bad():
    """create_accounts checks every member before its first useradd (no root needed to see it refuse)."""
    members = [hub_roster.Member("ocs_never_made", "good-password", "teacher"),
               hub_roster.Member("ocs_never_made_2", "abcdefgh\nroot:x", "student")]
    with pytest.raises(hub_roster.RosterError, match="'ocs_never_made_2' holds a control character"):
        hub_roster.create_accounts(members, "ocs_never_group")
    with pytest.raises(KeyError):
        pwd.getpwnam("ocs_never_made")


def test_a_later_roster_may_add_students_only():
    assert [m.role for m in hub_roster.parse_roster("username\nlate_1\n", require_teacher=False)] == ["student"]


# -- threads and reachability ---------------------------------------------------------------------

@pytest.mark.parametrize("cores, class_size, threads", [(2, 3, 1), (2, 1, 2), (16, 4, 4), (16, 30, 1), (64, 30, 2)])
def test_threads_per_student_share_the_cores(cores, class_size, threads):
    assert hub_runtime.threads_per_student(cores, class_size) == threads
    assert hub_runtime.threads_per_student(cores, class_size) * class_size <= max(cores, class_size)


@pytest.mark.parametrize("cores, class_size", [(0, 3), (4, 0), (2.5, 3), (True, 3)])
def test_threads_per_student_rejects_bad_counts(cores, class_size):
    with pytest.raises(ValueError, match="must be an int >= 1"):
        hub_runtime.threads_per_student(cores, class_size)


def test_a_closed_folder_is_named_as_the_blocker():
    with tempfile.TemporaryDirectory() as tmp:
        top = Path(tmp)
        top.chmod(0o755)
        closed, file = top / "closed", top / "closed" / "inner" / "file.txt"
        file.parent.mkdir(parents=True)
        file.write_text("x")
        closed.chmod(0o700)
        assert hub_runtime.blocked_for_others(file) == closed
        closed.chmod(0o755)
        file.parent.chmod(0o755)
        file.chmod(0o600)
        assert hub_runtime.blocked_for_others(file) == file
        file.chmod(0o644)
        assert hub_runtime.blocked_for_others(file) is None


# -- the hub command: data, state folder, port, messages ---------------------------------------------

def test_the_hub_finds_valid_data_and_names_the_remedy_for_missing_or_damaged_files(tmp_path, monkeypatch):
    raw = tmp_path / "data" / "FashionMNIST" / "raw"
    write_fake_fashion_mnist(raw)
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "data"))
    assert course_hub.data_dir() == (tmp_path / "data").resolve()
    victim = raw / "t10k-labels-idx1-ubyte"
    victim.write_bytes(victim.read_bytes()[:-2])
    with pytest.raises(course_hub.HubError, match=r"FashionMNIST is not ready in .*t10k-labels.*\./course setup"):
        course_hub.data_dir()
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(course_hub.HubError, match="Run `./course setup` first"):
        course_hub.data_dir()


def test_a_state_folder_is_made_private_and_a_foreign_folder_is_left_alone(tmp_path):
    made = course_hub.prepare_state(tmp_path / "new" / "state")
    assert stat.S_IMODE(made.stat().st_mode) == 0o700 and (made / course_hub.STATE_MARK).is_file()
    assert course_hub.prepare_state(made) == made  # the hub's own: used again
    older = tmp_path / "older"
    older.mkdir(mode=0o755)
    (older / course_hub.CLASS_FILE).write_text("{}")  # made before the mark existed
    assert course_hub.prepare_state(older) == older.resolve()
    for foreign in (tmp_path / "shared", tmp_path / "empty"):
        foreign.mkdir()
        foreign.chmod(0o755)
    (tmp_path / "shared" / "notes.txt").write_text("someone's")
    for foreign in (tmp_path / "shared", tmp_path / "empty", tmp_path / "shared" / "notes.txt"):
        with pytest.raises(course_hub.HubError, match="is not a state folder of this hub"):
            course_hub.prepare_state(foreign)
        assert stat.S_IMODE(foreign.stat().st_mode) != 0o700, f"{foreign} was chmod-ed"
    assert not (tmp_path / "empty" / course_hub.STATE_MARK).exists()


def test_a_busy_port_is_named_before_the_hub_starts():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(course_hub.HubError, match=f"--port {port} is in use by another program; pick another"):
            course_hub.require_free_port("127.0.0.1", port)
    course_hub.require_free_port("127.0.0.1", port)  # free again
    with pytest.raises(course_hub.HubError, match="--ip 192.0.2.1 --port"):
        course_hub.require_free_port("192.0.2.1", port)  # TEST-NET-1: no interface of this machine


@pytest.mark.parametrize("argv, command", [
    (["add-students", "roster.csv"], "sudo ./course hub add-students roster.csv"),
    (["--port", "8001"], "sudo ./course hub --port 8001"),
    (["distribute", "--course", "/srv/my course"], "sudo ./course hub distribute --course '/srv/my course'"),
])
def test_without_root_the_message_repeats_the_whole_command(argv, command, monkeypatch, capsys):
    monkeypatch.setattr(course_hub.os, "geteuid", lambda: 1000)
    assert course_hub.main(argv) == 2
    assert capsys.readouterr().err.rstrip().endswith(command)


def test_distribute_counts_a_first_copy_and_names_what_needs_a_look():
    first = [{"path": f"notebooks/{i:02}.ipynb", "action": "added"} for i in range(30)]
    assert course_hub.describe_sync("ana", first) == ["ana: 30 added"]
    later = ([{"path": "notebooks/01.ipynb", "action": "conflict", "beside": "notebooks/01.course-update.ipynb"},
              {"path": "notebooks/02.ipynb", "action": "updated"}]
             + [{"path": f"figures/{i}.png", "action": "unchanged"} for i in range(5)])
    assert course_hub.describe_sync("bo", later) == [
        "bo: 1 updated, 1 conflict, 5 unchanged",
        "bo: notebooks/01.ipynb conflict: the student's version kept, the course's beside it as "
        "notebooks/01.course-update.ipynb",
        "bo: notebooks/02.ipynb updated"]
    many = [{"path": f"figures/{i}.png", "action": "updated"} for i in range(course_hub.LISTED_CHANGES + 1)]
    assert course_hub.describe_sync("cy", many) == [f"cy: {course_hub.LISTED_CHANGES + 1} updated"]


@needs_root
def test_a_course_copy_that_hangs_is_killed():
    account = pwd.getpwuid(os.getuid())
    command = [sys.executable, "-c", "import time; time.sleep(120)"]
    with pytest.raises(RuntimeError, match=r"no result within 0.5 s; stopped it \(pid (\d+)\)") as caught:
        asyncio.run(hub_runtime.run_as_account(command, account, {"PATH": "/usr/bin:/bin"}, 0.5))
    pid = int(re.search(r"pid (\d+)", str(caught.value)).group(1))
    assert not Path(f"/proc/{pid}").exists(), "the timed-out copy is still running"


# -- the proxy: installed by ./course setup, only checked by the hub ----------------------------------

def fake_tool(folder: Path, name: str, body: str) -> Path:
    """An executable shell script ``folder/name``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return path


def test_the_hub_checks_the_proxy_install_and_never_runs_npm(tmp_path, monkeypatch):
    hub_dir = tmp_path / "hub"
    hub_dir.mkdir()
    shutil.copy(HUB_DIR / "package-lock.json", hub_dir)
    tools = tmp_path / "bin"
    fake_tool(tools, "node", "echo v20.11.0")
    fake_tool(tools, "npm", f"echo npm >> {tmp_path / 'npm-calls'}")
    monkeypatch.setenv("PATH", f"{tools}:/usr/bin:/bin")
    with pytest.raises(hub_runtime.RuntimeProblem, match="is not installed in .*run `./course setup`"):
        hub_runtime.proxy_command(hub_dir)
    script = hub_dir / "node_modules" / "configurable-http-proxy" / "bin" / "configurable-http-proxy"
    script.parent.mkdir(parents=True)
    script.write_text("")
    with pytest.raises(hub_runtime.RuntimeProblem, match="does not match hub/package-lock.json.*./course setup"):
        hub_runtime.proxy_command(hub_dir)  # installed, but no stamp: stale
    stamp = hub_dir / hub_runtime.PROXY_STAMP
    stamp.write_text(hashlib.sha256((hub_dir / "package-lock.json").read_bytes()).hexdigest() + "\n")
    assert hub_runtime.proxy_command(hub_dir) == [str(tools / "node"), str(script)]
    with (hub_dir / "package-lock.json").open("a") as lock:
        lock.write("\n")
    with pytest.raises(hub_runtime.RuntimeProblem, match="does not match"):
        hub_runtime.proxy_command(hub_dir)  # the lock moved on
    fake_tool(tools, "node", "echo v18.19.0")
    with pytest.raises(hub_runtime.RuntimeProblem, match="needs Node.js >= 20 .found Node.js 18.: install Node.js"):
        hub_runtime.proxy_command(hub_dir)
    assert not (tmp_path / "npm-calls").exists()


@pytest.fixture
def checkout(tmp_path) -> Path:
    """A stand-in checkout for the `course` script: a fake .venv python that records its calls, hub/'s lock."""
    repo = tmp_path / "checkout"
    (repo / "hub").mkdir(parents=True)
    for name in ("course", "pyproject.toml", "requirements.lock", "hub/package.json", "hub/package-lock.json"):
        shutil.copy2(ROOT / name, repo / name)
    fake_tool(repo / ".venv" / "bin", "python", f'[ "$*" = "-c " ] || echo "python $*" >> {tmp_path / "calls"}')
    return repo


def course_script(repo: Path, *args: str, path: str) -> tuple[subprocess.CompletedProcess, list[str]]:
    """``./course <args>`` with ``PATH=path`` (no CI variable); its result and the commands it ran."""
    calls = repo.parent / "calls"
    calls.write_text("")
    env = {"PATH": path, "HOME": str(repo.parent), "LANG": "C.UTF-8"}
    result = subprocess.run([str(repo / "course"), *args], cwd=repo, env=env, capture_output=True, text=True,
                            timeout=60)
    return result, calls.read_text().splitlines()


def test_setup_installs_the_proxy_with_npm_ci_and_again_only_when_the_lock_changes(checkout):
    tools = checkout.parent / "bin"
    fake_tool(tools, "npm", f'echo "npm $* (in $PWD)" >> {checkout.parent / "calls"}; '
                            'mkdir -p hub/node_modules/configurable-http-proxy')
    path = f"{tools}:/usr/bin:/bin"
    stamp = checkout / "hub" / "node_modules" / ".course-lock-sha256"
    result, calls = course_script(checkout, "setup", path=path)
    assert result.returncode == 0, result.stderr
    assert f"npm ci --prefix hub --no-audit --no-fund (in {checkout})" in calls
    assert stamp.read_text().strip() == hashlib.sha256((checkout / "hub/package-lock.json").read_bytes()).hexdigest()
    assert calls[-1] == "python -m lessons_src.data"

    result, calls = course_script(checkout, "setup", path=path)
    assert not [c for c in calls if c.startswith("npm")], "nothing changed, npm must not run"
    with (checkout / "hub" / "package-lock.json").open("a") as lock:
        lock.write("\n")
    result, calls = course_script(checkout, "setup", path=path)
    assert [c for c in calls if c.startswith("npm ci")], "a changed hub/package-lock.json is installed again"

    result, calls = course_script(checkout, "hub", "add-students", "roster.csv", path=path)
    assert calls[-1] == f"python {checkout}/hub/course_hub.py add-students roster.csv"
    assert "python -m lessons_src.data" not in calls and not [c for c in calls if c.startswith("npm")], (
        "no data step for accounts, and nothing to install")


def test_setup_goes_on_when_npm_fails_or_is_missing_and_says_what_the_hub_needs(checkout):
    tools = checkout.parent / "bin"
    fake_tool(tools, "npm", "echo 'npm error network' >&2; exit 1")
    result, calls = course_script(checkout, "setup", path=f"{tools}:/usr/bin:/bin")
    assert result.returncode == 0 and calls[-1] == "python -m lessons_src.data"
    assert "npm ci in hub/ failed" in result.stderr and "./course hub cannot start" in result.stderr
    assert not (checkout / "hub" / "node_modules" / ".course-lock-sha256").exists()

    bare = checkout.parent / "bare"  # the tools the script uses, and no npm
    bare.mkdir()
    for tool in ("bash", "sed", "cat", "sha256sum", "cut", "dirname", "readlink", "stat", "id", "mkdir"):
        (bare / tool).symlink_to(shutil.which(tool))
    result, calls = course_script(checkout, "setup", path=str(bare))
    assert result.returncode == 0, result.stderr
    assert "no npm, so the class hub's proxy is not installed" in result.stdout
    assert "install Node.js >= 20 with npm, then run ./course setup again" in result.stdout
    result, _ = course_script(checkout, "lab", "--version", path=str(bare))
    assert "npm" not in result.stdout + result.stderr, "a learner's ./course lab stays quiet about the hub"


def scratch_checkout() -> Path:
    """A copy of the `course` script and its lock in a folder every user may enter; the caller removes it."""
    folder = Path(tempfile.mkdtemp(prefix="course-venv-"))
    folder.chmod(0o755)
    for name in ("course", "pyproject.toml", "requirements.lock"):
        shutil.copy2(ROOT / name, folder / name)
    python = folder / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    for part in (folder / ".venv", python.parent):
        part.chmod(0o755)
    (folder / ".venv" / "KEEP").write_text("the environment's own files")
    return folder


@needs_root
@pytest.mark.skipif(shutil.which("runuser") is None, reason="needs runuser (util-linux)")
def test_a_venv_of_another_account_is_never_recreated():
    folder = scratch_checkout()
    try:
        python = fake_tool(folder / ".venv" / "bin", "python", "exit 0")
        python.chmod(0o700)  # root's: nobody may not run it
        result = subprocess.run(["runuser", "-u", "nobody", "--", "./course", "setup"], cwd=folder,
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 1
        assert "does not run for nobody" in result.stderr and "belongs to root" in result.stderr
        assert "run as root or with sudo" in result.stderr
        assert (folder / ".venv" / "KEEP").is_file() and python.is_file(), "the shared environment was touched"

        fake_tool(folder / ".venv" / "bin", "python", "exit 1")  # broken, and nobody's
        subprocess.run(["chown", "-R", "nobody", str(folder / ".venv")], check=True)
        result = subprocess.run([str(folder / "course"), "setup"], cwd=folder, capture_output=True, text=True,
                                timeout=60)
        assert result.returncode == 1
        assert "belongs to nobody, so it is not recreated for root" in result.stderr
        assert "run ./course setup as nobody" in result.stderr
        assert (folder / ".venv" / "KEEP").is_file()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# -- the course copy --------------------------------------------------------------------------------

def notebook(*sources: str, outputs: int = 0) -> str:
    cells = [{"cell_type": "code", "source": s, "metadata": {}, "execution_count": outputs or None,
              "outputs": [{"output_type": "stream", "name": "stdout", "text": "x"}] * outputs} for s in sources]
    return json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5})


@pytest.mark.parametrize("dest, delivered, src, action", [
    (None, None, "s", "added"), (None, "s0", "s", "restored"), ("s", "s0", "s", "unchanged"),
    ("s0", "s0", "s", "updated"), ("mine", "s", "s", "kept"), ("mine", "s0", "s", "conflict"),
    ("mine", None, "s", "conflict"),
])
def test_sync_decides_from_three_fingerprints(dest, delivered, src, action):
    assert hub_sync.decide("a.ipynb", src, dest, delivered) == action


def test_sync_keeps_edits_updates_untouched_files_and_says_so(tmp_path):
    course, home = tmp_path / "course", tmp_path / "home" / "course"
    (course / "notebooks").mkdir(parents=True)
    (course / "figures").mkdir()
    (course / "notebooks" / "01.ipynb").write_text(notebook("a = 1"))
    (course / "notebooks" / "02.ipynb").write_text(notebook("b = 2"))
    (course / "notebooks" / ".ipynb_checkpoints").mkdir()
    (course / "notebooks" / ".ipynb_checkpoints" / "01-checkpoint.ipynb").write_text("{}")
    (course / "figures" / "f.png").write_bytes(b"png1")
    (course / "GLOSSARY.md").write_text("terms")
    first = hub_sync.sync_course(course, home)
    assert {r["path"]: r["action"] for r in first} == {
        "GLOSSARY.md": "added", "figures/f.png": "added", "notebooks/01.ipynb": "added", "notebooks/02.ipynb": "added"}

    (home / "notebooks" / "01.ipynb").write_text(notebook("a = 1", "my_answer = 42"))  # an edit
    (home / "notebooks" / "02.ipynb").write_text(notebook("b = 2", outputs=1))  # only run
    (home / "figures" / "f.png").unlink()
    (course / "notebooks" / "01.ipynb").write_text(notebook("a = 10"))
    (course / "notebooks" / "02.ipynb").write_text(notebook("b = 20"))
    second = {r["path"]: r for r in hub_sync.sync_course(course, home)}
    assert {p: r["action"] for p, r in second.items()} == {
        "GLOSSARY.md": "unchanged", "figures/f.png": "restored", "notebooks/01.ipynb": "conflict",
        "notebooks/02.ipynb": "updated"}
    assert "my_answer = 42" in (home / "notebooks" / "01.ipynb").read_text()
    assert second["notebooks/01.ipynb"]["beside"] == "notebooks/01.course-update.ipynb"
    assert "a = 10" in (home / "notebooks" / "01.course-update.ipynb").read_text()
    assert "b = 20" in (home / "notebooks" / "02.ipynb").read_text()
    note = (home / hub_sync.UPDATES_NOTE).read_text()
    assert "`notebooks/01.ipynb`" in note and "`notebooks/01.course-update.ipynb`" in note

    third = {r["path"]: r["action"] for r in hub_sync.sync_course(course, home)}
    assert third["notebooks/01.ipynb"] == "conflict" and third["notebooks/02.ipynb"] == "unchanged"
    assert (home / hub_sync.UPDATES_NOTE).read_text() == note  # nothing new to say, nothing added
    assert not (home / "notebooks" / ".ipynb_checkpoints").exists()


# -- a real hub, real accounts -------------------------------------------------------------------

def hub_skip_reason() -> str | None:
    """Why the live hub test cannot run on this machine, or None."""
    if os.geteuid() != 0:
        return "the live hub test needs root (it creates system accounts and runs servers as them)"
    return None


def hub_missing() -> str | None:
    """What the live hub test needs and does not find (packages, Node.js, shadow tools, readable folders), or None."""
    for module in ("jupyterhub", "jupyterhub_idle_culler", "pamela"):
        if importlib.util.find_spec(module) is None:
            return f"the hub packages are not installed ({module} missing): install the project's `hub` group"
    for tool in ("node", "npm", "useradd", "userdel", "chpasswd"):
        if shutil.which(tool) is None:
            return f"`{tool}` is not on PATH (the hub needs Node.js/npm and the shadow tools)"
    for path, what in ((ROOT, "the checkout"), (Path(sysconfig.get_path("purelib")), "the venv")):
        if hub_runtime.blocked_for_others(path) is not None:
            return f"students could not read {what}: {hub_runtime.blocked_for_others(path)} is closed to other users"
    return None


def skip_or_fail(reason: str) -> None:
    """Skip the live test with ``reason``; under CI (CI=true) fail instead: CI must run it."""
    if IN_CI:
        pytest.fail(f"CI runs the live hub test, but {reason}")
    pytest.skip(reason)


def require_proxy() -> None:
    """The pinned proxy in hub/node_modules, installed (npm ci, as ./course setup does) if missing or stale."""
    try:
        hub_runtime.proxy_command()
        return
    except hub_runtime.RuntimeProblem:
        pass
    try:
        hub_runtime.install_proxy()
        hub_runtime.proxy_command()
    except hub_runtime.RuntimeProblem as error:
        skip_or_fail(f"configurable-http-proxy could not be installed from the npm registry: {error}")


live = pytest.mark.skipif(hub_skip_reason() is not None, reason=hub_skip_reason() or "")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Classroom:
    folder: Path
    course: Path
    state: Path
    port: int
    klass: object  # hub_client.TemporaryClass
    hub: object  # hub_client.HubProcess


@pytest.fixture(scope="module")
def client():
    from hub import hub_client

    return hub_client


@pytest.fixture(scope="module")
def classroom(client):
    missing = hub_missing()
    if missing:
        skip_or_fail(missing)
    require_proxy()
    folder = Path(tempfile.mkdtemp(prefix="course-hub-"))
    folder.chmod(0o755)  # the students' servers read the course from here
    course = folder / "course"
    for item in hub_sync.COURSE_ITEMS:
        source = ROOT / item
        (shutil.copytree if source.is_dir() else shutil.copy)(source, course / item)
    state, port = folder / "state", free_port()
    klass = hub = None
    try:
        klass = client.TemporaryClass.create(3, state, folder)
        hub = client.HubProcess(state, port, folder / "hub.log", ("--course", str(course))).start()
        yield Classroom(folder, course, state, port, klass, hub)
    finally:
        if hub is not None:
            hub.stop()
        if klass is not None:
            klass.remove()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def sessions(client, classroom):
    """Each student logged in through the form, holding a token, with a running server."""
    result = {}
    for name in classroom.klass.students:
        session = client.StudentSession(classroom.hub.base, name)
        assert session.login(classroom.klass.passwords[name]).status_code == 302
        session.request_token()
        result[name] = session
    with ThreadPoolExecutor(len(result)) as pool:
        list(pool.map(lambda s: s.start_server(), result.values()))
    return result


def proc_uid(pid: int) -> int:
    """The real uid of process ``pid`` (from /proc/<pid>/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError(f"no Uid line for {pid}")


PROBE = """import json, os, torch
data = os.environ["COURSE_DATA_DIR"]
try:
    open(os.path.join(data, "FashionMNIST", "raw", "intruder"), "w").close()
    wrote = True
except OSError:
    wrote = False
print(json.dumps({"uid": os.getuid(), "server_pid": os.getppid(), "threads": torch.get_num_threads(),
                  "home": os.path.expanduser("~"), "data": data, "wrote_data": wrote}))"""


@live
def test_login_form_lets_the_right_password_in_and_refuses_a_wrong_one(client, classroom):
    name = classroom.klass.students[0]
    refused = client.StudentSession(classroom.hub.base, name).login("not-" + classroom.klass.passwords[name])
    assert refused.status_code == 403
    assert "jupyterhub-session-id" not in refused.cookies and "jupyterhub-hub-login" not in refused.cookies
    student = client.StudentSession(classroom.hub.base, name)
    accepted = student.login(classroom.klass.passwords[name])
    assert accepted.status_code == 302 and accepted.headers["Location"].endswith(f"/user/{name}/lab")
    student.request_token()
    student.start_server()
    lab = student.http.get(f"{student.server}/lab", timeout=60)  # through the hub's OAuth, as a browser
    assert lab.status_code == 200 and lab.url.startswith(f"{student.server}/lab")
    page = re.search(r'<script id="jupyter-config-data" type="application/json">(.*?)</script>', lab.text, re.S)
    extensions = {e["name"] for e in json.loads(page.group(1))["federated_extensions"]}
    assert {"jupyter-matplotlib", "@jupyter-widgets/jupyterlab-manager"} <= extensions  # live widgets load

    teacher = client.StudentSession(classroom.hub.base, classroom.klass.teacher)
    assert teacher.login(classroom.klass.passwords[classroom.klass.teacher]).status_code == 302
    teacher.request_token()
    listed = requests.get(f"{classroom.hub.base}/hub/api/users", headers=teacher.auth, timeout=30).json()
    assert set(classroom.klass.students) <= {user["name"] for user in listed}  # the teacher is the admin
    # as hub/README.md says: an admin can open a student's files and make a token in the student's name
    assert requests.get(f"{student.server}/api/contents/course", headers=teacher.auth, timeout=30).status_code == 200
    made = requests.post(f"{classroom.hub.base}/hub/api/users/{name}/tokens", headers=teacher.auth, timeout=30,
                         json={"note": "made by the teacher", "expires_in": 60})
    assert made.status_code in (200, 201), made.text


@live
def test_each_student_runs_lessons_in_their_own_server_concurrently(client, classroom, sessions):
    def run(session):
        times, probe = {}, {}
        for path in ("course/notebooks/00_setup_check.ipynb", "course/notebooks/01_gradient_descent.ipynb"):
            content = client.read_notebook(session, path)  # the student's own copy
            kernel = client.RemoteKernel(session.server, session.token, path)
            try:
                times[path] = kernel.run_notebook(content, timeout_s=400)
                probe = kernel.json_of(PROBE)
            finally:
                kernel.close()
        return times, probe

    with ThreadPoolExecutor(len(sessions)) as pool:
        results = dict(zip(sessions, pool.map(run, sessions.values()), strict=True))
    expected_threads = hub_runtime.threads_per_student(hub_runtime.usable_cores(), len(sessions))
    for name, (times, probe) in results.items():
        uid = classroom.klass.uid(name)
        assert len(times) == 2
        assert probe["uid"] == uid and proc_uid(probe["server_pid"]) == uid
        assert b"jupyterhub.singleuser" in Path(f"/proc/{probe['server_pid']}/cmdline").read_bytes()
        assert probe["home"] == str(classroom.klass.home(name))
        assert probe["threads"] == expected_threads
        assert not probe["wrote_data"], "a student could write into the shared data folder"


def as_user(klass, name: str, *command: str) -> subprocess.CompletedProcess:
    uid = klass.uid(name)
    return subprocess.run(command, user=uid, group=os.getgrouplist(name, uid)[0], extra_groups=[],
                          capture_output=True, text=True, timeout=60, cwd="/")


@live
def test_students_cannot_reach_each_other(client, classroom, sessions):
    a, b = list(sessions)[:2]
    sa, sb = sessions[a], sessions[b]
    home_a, home_b = classroom.klass.home(a), classroom.klass.home(b)
    assert home_b.stat().st_mode & 0o777 == 0o700
    # on the machine, as A's uid
    for command in (("cat", f"{home_b}/course/notebooks/01_gradient_descent.ipynb"), ("ls", str(home_b)),
                    ("touch", f"{home_b}/from_{a}"), ("touch", f"{classroom.course}/notebooks/from_{a}")):
        result = as_user(classroom.klass, a, *command)
        assert result.returncode != 0, f"{a} could run {command}"
    assert as_user(classroom.klass, a, "ls", f"{home_a}/course/notebooks").returncode == 0  # the check can pass

    # through the hub: B's server and kernel with A's token and A's cookie
    kernel_b = client.RemoteKernel(sb.server, sb.token, "course/notebooks/01_gradient_descent.ipynb")
    try:
        with_token = [requests.request(method, f"{sb.server}{path}", headers=sa.auth, timeout=30) for method, path in (
            ("GET", "/api/contents/course"), ("GET", f"/api/kernels/{kernel_b.kernel_id}"),
            ("POST", f"/api/kernels/{kernel_b.kernel_id}/interrupt"), ("GET", "/api/sessions"))]
        assert [r.status_code for r in with_token] == [403] * 4
        url = sb.server.replace("http", "ws", 1) + f"/api/kernels/{kernel_b.kernel_id}/channels"
        with pytest.raises(websocket.WebSocketBadStatusException) as refused:
            websocket.create_connection(url, header=[f"Authorization: token {sa.token}"], timeout=30)
        assert refused.value.status_code == 403
        assert kernel_b.json_of("print('{\"alive\": 1}')")["alive"] == 1  # B's kernel untouched
    finally:
        kernel_b.close()
    assert sa.http.get(f"{sb.server}/api/contents/course", timeout=30).status_code == 403
    assert sa.http.get(f"{sb.server}/lab", timeout=60).status_code == 403
    other = requests.get(f"{classroom.hub.base}/hub/api/users/{b}", headers=sa.auth, timeout=30)
    assert other.status_code in (403, 404)
    users = requests.get(f"{classroom.hub.base}/hub/api/users", headers=sa.auth, timeout=30)
    assert users.status_code == 403 or b not in users.text
    # A's own server does not lead out of A's home
    for path in (f"..%2F{b}", f"..%2F{b}%2Fcourse", f"%2E%2E%2F{b}"):
        response = requests.get(f"{sa.server}/api/contents/{path}", headers=sa.auth, timeout=30)
        assert response.status_code in (400, 403, 404) and "notebooks" not in response.text
    files = requests.get(f"{sa.server}/files/..%2F{b}%2Fcourse%2FGLOSSARY.md", headers=sa.auth, timeout=30)
    assert files.status_code in (400, 403, 404)


def live_processes(classroom) -> list[str]:
    """Processes of this hub (by its marker) or of its accounts (students and teacher, by uid), as 'pid cmdline'."""
    marker = f"COURSE_HUB_INSTANCE={classroom.state.resolve()}".encode()
    uids = {classroom.klass.uid(n) for n in (classroom.klass.teacher, *classroom.klass.students)}
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ours = marker in (entry / "environ").read_bytes().split(b"\0") or entry.stat().st_uid in uids
            if ours:
                command = (entry / "cmdline").read_bytes().replace(bytes(1), b" ").decode(errors="replace")
                found.append(f"{entry.name} {command}")
        except OSError:
            continue
    return found


@live
def test_hub_stops_cleanly_and_a_second_start_keeps_accounts_and_work(client, classroom, sessions):
    a, b = list(sessions)[:2]
    sa = sessions[a]
    path = "course/notebooks/01_gradient_descent.ipynb"
    mine = client.read_notebook(sa, path)
    mine["cells"].insert(0, {"cell_type": "markdown", "metadata": {}, "source": f"My notes, {a}"})
    saved = requests.put(f"{sa.server}/api/contents/{path}", headers=sa.auth, timeout=60,
                         json={"type": "notebook", "format": "json", "content": mine})
    assert saved.status_code in (200, 201)
    created = sa.user_model()["created"]

    assert classroom.hub.stop() == 0
    assert client.wait_for(lambda: not live_processes(classroom), 30, "processes to end", 1) is True
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", classroom.port), timeout=5).close()

    # the teacher updates lesson 01 and redistributes while the hub is down
    lesson = classroom.course / "notebooks" / "01_gradient_descent.ipynb"
    updated = json.loads(lesson.read_text())
    updated["cells"].append({"cell_type": "markdown", "metadata": {}, "source": "An extra exercise"})
    lesson.write_text(json.dumps(updated))
    report = client.run_cli("distribute", "--course", str(classroom.course), "--state", str(classroom.state))
    assert f"{a}: notebooks/01_gradient_descent.ipynb conflict: the student's version kept" in report.stdout
    assert f"{b}: notebooks/01_gradient_descent.ipynb updated" in report.stdout
    assert re.search(rf"^{b}: 1 updated, \d+ unchanged$", report.stdout, re.M), report.stdout
    notebooks_a = classroom.klass.home(a) / "course" / "notebooks"
    assert "My notes" in (notebooks_a / "01_gradient_descent.ipynb").read_text()
    assert "An extra exercise" in (notebooks_a / "01_gradient_descent.course-update.ipynb").read_text()
    assert "01_gradient_descent.course-update.ipynb" in (notebooks_a.parent / "COURSE-UPDATES.md").read_text()
    assert "An extra exercise" in (classroom.klass.home(b) / "course" / path.removeprefix("course/")).read_text()

    # a start on a port another program holds stops at once, naming the port, and leaves nothing running
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        refused = subprocess.run([sys.executable, str(HUB_DIR / "course_hub.py"), "serve", "--port", str(port),
                                  "--state", str(classroom.state), "--course", str(classroom.course)],
                                 capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2 and f"--port {port} is in use by another program; pick another" in refused.stderr
    assert not live_processes(classroom)

    # second start: same state, same accounts, same work; the idle culler stops an unused server
    classroom.hub = client.HubProcess(classroom.state, classroom.port, classroom.folder / "hub2.log",
                                      ("--course", str(classroom.course), "--cull-idle", "10")).start()
    again = client.StudentSession(classroom.hub.base, a)
    assert again.login(classroom.klass.passwords[a]).status_code == 302
    again.request_token()
    assert again.user_model()["created"] == created
    again.start_server()
    assert "My notes" in json.dumps(client.read_notebook(again, path))
    client.wait_for(lambda: not again.user_model()["servers"], 150, "the idle culler to stop the server", 2)
    assert classroom.hub.stop() == 0
    assert client.wait_for(lambda: not live_processes(classroom), 30, "processes to end", 1) is True

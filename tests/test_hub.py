"""The class hub: roster, course copies, threads (always), and a real JupyterHub with real accounts (as root).

The second part starts ``hub/course_hub.py serve`` on 127.0.0.1 with three students and a teacher
created from a roster (unique ``ocs_<hex>_N`` names, deleted at the end with their homes), logs in
through the hub's HTTP form, runs lessons 00 and 01 in each student's own server concurrently over
the Jupyter Server REST API and kernel websocket, checks that students cannot reach each other's
files, servers or kernels, stops the hub, updates the course, and starts the hub again.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import socket
import subprocess
import sysconfig
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
import websocket

from hub import hub_roster, hub_runtime, hub_sync

ROOT = Path(__file__).resolve().parents[1]
HUB_DIR = ROOT / "hub"


# -- the roster --------------------------------------------------------------------------------

def test_roster_reads_members_roles_and_the_teacher():
    text = "username,password,role\nms_lee,pw,teacher\nana_1,,\nbo-2,secret,student\n"
    members = hub_roster.parse_roster(text)
    assert [(m.name, m.password, m.role) for m in members] == [
        ("ms_lee", "pw", "teacher"), ("ana_1", "", "student"), ("bo-2", "secret", "student")]
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
])
def test_roster_errors_name_the_line_and_the_remedy(text, admin, message):
    with pytest.raises(hub_roster.RosterError) as caught:
        hub_roster.parse_roster(text, admin)
    assert message in str(caught.value)


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
    """Why the live hub test cannot run here, or None."""
    if os.geteuid() != 0:
        return "the live hub test needs root (it creates system accounts and runs servers as them)"
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
    if not (HUB_DIR / "node_modules").is_dir():
        try:
            hub_runtime.install_proxy()
        except hub_runtime.RuntimeProblem as error:
            pytest.skip(f"configurable-http-proxy could not be installed from the npm registry: {error}")
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
    """Processes of this hub (by its marker) or of its students (by uid), as 'pid cmdline'."""
    marker = f"COURSE_HUB_INSTANCE={classroom.state.resolve()}".encode()
    uids = {classroom.klass.uid(n) for n in classroom.klass.students}
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
    assert f"{a}: notebooks/01_gradient_descent.ipynb conflict" in report.stdout
    assert f"{b}: notebooks/01_gradient_descent.ipynb updated" in report.stdout
    notebooks_a = classroom.klass.home(a) / "course" / "notebooks"
    assert "My notes" in (notebooks_a / "01_gradient_descent.ipynb").read_text()
    assert "An extra exercise" in (notebooks_a / "01_gradient_descent.course-update.ipynb").read_text()
    assert "01_gradient_descent.course-update.ipynb" in (notebooks_a.parent / "COURSE-UPDATES.md").read_text()
    assert "An extra exercise" in (classroom.klass.home(b) / "course" / path.removeprefix("course/")).read_text()

    # second start: same state, same accounts, same work; the idle culler stops an unused server
    classroom.hub = client.HubProcess(classroom.state, classroom.port, classroom.folder / "hub2.log",
                                      ("--course", str(classroom.course), "--cull-idle", "30")).start()
    again = client.StudentSession(classroom.hub.base, a)
    assert again.login(classroom.klass.passwords[a]).status_code == 302
    again.request_token()
    assert again.user_model()["created"] == created
    again.start_server()
    assert "My notes" in json.dumps(client.read_notebook(again, path))
    client.wait_for(lambda: not again.user_model()["servers"], 150, "the idle culler to stop the server", 2)
    assert classroom.hub.stop() == 0
    assert client.wait_for(lambda: not live_processes(classroom), 30, "processes to end", 1) is True

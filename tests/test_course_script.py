"""The `course` script: its faults give clear outcomes, and `./course lab` serves the series as the README says."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import websocket

ROOT = Path(__file__).resolve().parents[1]
COURSE = ROOT / "course"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
COMMANDS = ("lab", "test", "setup", "figures", "bench", "html", "hub", "lock")


def run(script: Path, *args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([str(script), *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)


def test_help_lists_every_command(tmp_path):
    result = run(COURSE, "help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for command in COMMANDS:
        assert f"./course {command} " in result.stdout, f"`./course help` does not list {command}"


def test_an_unknown_command_is_named_and_the_commands_listed(tmp_path):
    result = run(COURSE, "frobnicate", cwd=tmp_path)
    assert result.returncode == 2
    assert "unknown command 'frobnicate'" in result.stderr
    for command in COMMANDS:
        assert f"./course {command} " in result.stderr
    assert result.stdout == "", "an unknown command must not start any work"


@pytest.fixture
def repo(tmp_path) -> Path:
    """A stand-in checkout: the real script and dependency files, nothing installed."""
    checkout = tmp_path / "checkout"
    (checkout / "notebooks").mkdir(parents=True)
    for name in ("course", "pyproject.toml", "requirements.lock"):
        shutil.copy2(ROOT / name, checkout / name)
    for notebook in NOTEBOOKS:
        (checkout / "notebooks" / notebook.name).write_text("{}")
    return checkout


def fake_venv(checkout: Path) -> Path:
    """A .venv whose python only records where it ran and with which arguments; returns the record."""
    record = checkout.parent / "calls.txt"
    python = checkout / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(f'#!/bin/sh\nprintf "%s|%s\\n" "$PWD" "$*" >> "{record}"\n')
    python.chmod(0o755)
    return record


def calls(record: Path) -> list[tuple[str, str]]:
    """(working directory, arguments) of every real call, leaving out the `-c ''` liveness probe."""
    rows = [tuple(line.split("|", 1)) for line in record.read_text().splitlines()]
    return [(cwd, args) for cwd, args in rows if args != "-c "]


def test_a_dangling_venv_symlink_gets_a_clear_message(repo):
    (repo / ".venv").symlink_to(repo.parent / "moved-away")
    result = run(repo / "course", "setup", cwd=repo)
    assert result.returncode == 1
    assert "File exists" not in result.stdout + result.stderr
    assert "symbolic link" in result.stderr and "does not exist" in result.stderr
    assert f"rm '{repo / '.venv'}'" in result.stderr, "the message must give the remedy"
    assert (repo / ".venv").is_symlink(), "the link is the user's; it must be left as it was"


def test_a_venv_that_is_a_file_gets_a_clear_message(repo):
    (repo / ".venv").write_text("not an environment")
    result = run(repo / "course", "setup", cwd=repo)
    assert result.returncode == 1
    assert "is not a folder" in result.stderr and "mv " in result.stderr
    assert (repo / ".venv").read_text() == "not an environment"


def test_setup_runs_in_the_repository_root_and_installs_only_when_the_lock_changes(repo, tmp_path):
    record = fake_venv(repo)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert run(repo / "course", "setup", cwd=elsewhere).returncode == 0
    first = calls(record)
    assert {cwd for cwd, _ in first} == {str(repo)}, first
    assert any(f"pip install --quiet --require-hashes -r {repo}/requirements.lock" in args for _, args in first)
    assert first[-1][1] == "-m lessons_src.data", "setup ends by preparing the data"

    record.write_text("")
    assert run(repo / "course", "setup", cwd=elsewhere).returncode == 0
    again = [args for _, args in calls(record)]
    assert [args for args in again if "cjk_fonts_installed" not in args] == ["-m lessons_src.data"], (
        "nothing changed, nothing to install")
    assert any("cjk_fonts_installed" in args for args in again), "setup looks for a CJK font every time"

    record.write_text("")
    with (repo / "requirements.lock").open("a") as lock:
        lock.write("# refreshed\n")
    assert run(repo / "course", "setup", cwd=elsewhere).returncode == 0
    assert any("-r " in args for _, args in calls(record)), "a changed lock is installed again"


def test_lab_from_another_folder_serves_the_repository_root_and_passes_arguments_on(repo, tmp_path):
    record = fake_venv(repo)
    result = run(repo / "course", "lab", "--port", "8899", "--no-browser", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    (cwd, args), = [call for call in calls(record) if call[1].startswith("-m jupyter lab ")]
    assert cwd == str(repo)
    assert f"--ServerApp.root_dir={repo} " in args
    assert f"--LabApp.default_url=/lab/tree/notebooks/{NOTEBOOKS[0].name}" in args
    assert args.endswith("--port 8899 --no-browser"), "the caller's arguments come last, so they win"


def test_lab_takes_the_callers_ip_and_folder_instead_of_clashing_with_its_defaults(repo, tmp_path):
    """Jupyter refuses a setting given twice, so `--ip=0.0.0.0` in a container must replace 127.0.0.1."""
    record = fake_venv(repo)
    result = run(repo / "course", "lab", "--ip=0.0.0.0", f"--notebook-dir={tmp_path}", "--LabApp.default_url=/lab",
                 cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    (_, args), = [call for call in calls(record) if call[1].startswith("-m jupyter lab ")]
    assert "--ServerApp.ip=" not in args and "--ServerApp.root_dir=" not in args, args
    assert args.count("default_url") == 1, "a start page given by the caller replaces lesson 00"


@pytest.mark.parametrize(("lang", "locale"), [("zh", "zh_CN"), ("ja", "ja_JP")])
def test_lab_lang_opens_the_edition_with_the_interface_in_its_language(repo, tmp_path, lang, locale):
    record = fake_venv(repo)
    (repo / "notebooks" / lang).mkdir()
    (repo / "notebooks" / lang / NOTEBOOKS[0].name).write_text("{}")
    result = run(repo / "course", "lab", "--lang", lang, "--no-browser", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    (_, args), = [call for call in calls(record) if call[1].startswith("-m jupyter lab ")]
    assert f"--LabApp.default_url=/lab/tree/notebooks/{lang}/{NOTEBOOKS[0].name}" in args
    assert "--lang" not in args and args.endswith("--no-browser")
    settings = re.search(r"--LabApp\.app_settings_dir=(\S+)", args).group(1)
    overrides = json.loads((Path(settings) / "overrides.json").read_text())
    assert overrides == {"@jupyterlab/translation-extension:plugin": {"locale": locale}}
    assert (Path(settings).parent / "static").is_symlink(), "JupyterLab reads the built application beside them"
    plain = run(repo / "course", "lab", "--no-browser", cwd=tmp_path)
    assert plain.returncode == 0
    assert "app_settings_dir" not in calls(record)[-1][1], "./course lab without --lang stays English"


def test_lab_lang_refuses_a_language_or_an_edition_it_lacks(repo, tmp_path):
    fake_venv(repo)
    bad = run(repo / "course", "lab", "--lang", "fr", cwd=tmp_path)
    assert bad.returncode == 1 and "--lang must be zh (中文) or ja (日本語)" in bad.stderr and "got 'fr'" in bad.stderr
    missing = run(repo / "course", "lab", "--lang=ja", cwd=tmp_path)
    assert missing.returncode == 1 and "notebooks/ja/ has no notebooks" in missing.stderr


# ---- the real thing: ./course lab as the README says, checked over HTTP ----

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def listening_addresses(port: int) -> list[str]:
    """Local addresses (hex, as in /proc/net/tcp*) of every socket listening on ``port``."""
    addresses = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, port_hex = fields[1].rsplit(":", 1)
            if int(port_hex, 16) == port and fields[3] == "0A":  # 0A: LISTEN
                addresses.append(address)
    return addresses


def figure_links() -> set[str]:
    """Repository paths of the images the notebooks' markdown links to."""
    links = set()
    for path in NOTEBOOKS:
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            if cell["cell_type"] == "markdown":
                for target in re.findall(r'(?:\]\(|src=")(\.\./figures/[^)"\s]+)', "".join(cell["source"])):
                    links.add(os.path.normpath(f"notebooks/{target}"))
    return links


def get(url: str, token: str) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, response.read()


@pytest.mark.skipif(Path(sys.prefix).resolve() != (ROOT / ".venv").resolve(),
                    reason="starts ./course lab, which runs from the course's own .venv: run it with ./course test")
@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads listening sockets from /proc/net")
def test_course_lab_serves_the_series_from_the_repository_root(tmp_path):
    port = free_port()
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTER")}
    env |= {"HOME": str(home), "JUPYTER_CONFIG_DIR": str(home / ".jupyter")}
    log_path = tmp_path / "lab.log"
    # `timeout` stops the server even if this test is killed before it can
    with log_path.open("w") as log:
        command = ["timeout", "-k", "10", "120", str(COURSE), "lab", "--no-browser", "--port", str(port)]
        server = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        url = None
        while url is None:
            found = re.search(rf"http://127\.0\.0\.1:{port}(/\S*)\?token=(\w+)", log_path.read_text())
            if found:
                url, token = found.group(0), found.group(2)
                path = found.group(1)
            elif server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"./course lab did not print its address:\n{log_path.read_text()[-3000:]}")
            else:
                time.sleep(0.5)
        base = f"http://127.0.0.1:{port}"
        output = log_path.read_text()

        assert path == f"/lab/tree/notebooks/{NOTEBOOKS[0].name}", "the printed address opens the first lesson"
        assert get(url, token)[0] == 200
        if os.geteuid() == 0:
            assert output.count("course: running as root") == 1, "as root it says once why it starts anyway"

        listing = json.loads(get(f"{base}/api/contents/notebooks", token)[1])
        assert sorted(item["name"] for item in listing["content"] if item["type"] == "notebook") == \
            [p.name for p in NOTEBOOKS]

        figures = figure_links()
        assert figures, "no notebook links a figure; this check would prove nothing"
        for figure in sorted(figures):
            status, body = get(f"{base}/files/{figure}", token)
            assert status == 200 and body.startswith(b"\x89PNG"), figure

        page = get(f"{base}/lab", token)[1].decode()
        config = json.loads(re.search(r'<script id="jupyter-config-data" type="application/json">(.*?)</script>',
                                      page, flags=re.DOTALL).group(1))
        assert "@jupyterlab/apputils-extension:announcements" in config["disabledExtensions"], "news pop-up"
        assert json.loads(get(f"{base}/lab/api/update", token)[1]) == {"notification": None}
        assert json.loads(get(f"{base}/lab/api/news", token)[1]) == {"news": []}

        # a kernel's websocket sends each message at once (lessons_src/lab_socket.py): open one, read the log
        request = urllib.request.Request(f"{base}/api/kernels", data=b"{}", method="POST",
                                         headers={"Authorization": f"token {token}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            kernel = json.loads(response.read())["id"]
        channel = websocket.create_connection(f"ws://127.0.0.1:{port}/api/kernels/{kernel}/channels",
                                              header=[f"Authorization: token {token}"], timeout=30)
        try:
            deadline = time.monotonic() + 30
            while f"kernel websocket {kernel}: TCP_NODELAY on" not in log_path.read_text():
                assert time.monotonic() < deadline, \
                    f"the kernel's websocket kept Nagle's algorithm on:\n{log_path.read_text()[-2000:]}"
                time.sleep(0.2)
        finally:
            channel.close()

        assert listening_addresses(port) == ["0100007F"], "the server must listen on 127.0.0.1 only"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
    time.sleep(0.5)
    with pytest.raises(ProcessLookupError):
        os.killpg(server.pid, 0)  # no process of the server's group is left
    assert listening_addresses(port) == []

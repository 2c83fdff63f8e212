"""Serve the course to a class from one server with JupyterHub (run as root).

    ./course hub [serve] [--port 8000] [--ip 127.0.0.1]   start the hub; Ctrl-C stops it and every server
    ./course hub add-students roster.csv [--admin NAME]   one system account per roster line
    ./course hub remove-students roster.csv               delete those accounts and their homes
    ./course hub distribute                               copy the (updated) course into every home now
    ./course hub setup                                    install the proxy (npm ci) and check the machine

State (database, cookie secret, proxy token, passwords generated for the roster) lives in
hub/state/ (mode 0700, git-ignored) unless --state names another folder: one that does not exist
yet, or one the hub made before (it holds a .course-hub-state mark).
"""

from __future__ import annotations

import argparse
import errno
import fcntl
import json
import os
import pwd
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from hub_roster import (  # noqa: E402
    RosterError,
    create_accounts,
    read_roster,
    remove_accounts,
    remove_empty_group,
    write_passwords,
)
from hub_runtime import (  # noqa: E402
    HUB_DIR,
    RuntimeProblem,
    course_sync_command,
    install_proxy,
    proxy_command,
    require_reachable,
    student_environment,
    student_python,
    thread_environment,
    threads_per_student,
    usable_cores,
)

ROOT = HUB_DIR.parent
DEFAULT_STATE = HUB_DIR / "state"
CLASS_FILE = "class.json"
STATE_MARK = ".course-hub-state"  # a folder holding it is a state folder this hub made
STOP_GRACE_S = 90
SYNC_ORDER = ("added", "restored", "updated", "conflict", "blocked", "kept", "unchanged")
LISTED_CHANGES = 10  # distribute names each updated or restored file up to this many per account


class HubError(RuntimeError):
    """A problem the teacher can fix; the message says how."""


def require_root(args: argparse.Namespace) -> None:
    """HubError, repeating the command with sudo, unless this process runs as root."""
    if os.geteuid() != 0:
        raise HubError(f"{args.command} needs root (it manages system accounts and runs servers as them): "
                       f"sudo ./course hub {shlex.join(args.argv)}".rstrip())


def prepare_state(state: Path) -> Path:
    """The hub's state folder, mode 0700: created if missing; an existing one only if the hub made it."""
    state = Path(state).resolve()
    if state.exists():
        ours = any((state / name).exists() for name in (STATE_MARK, CLASS_FILE, "jupyterhub.sqlite"))
        if not state.is_dir() or not ours:
            raise HubError(f"--state {state} already exists and is not a state folder of this hub (no {STATE_MARK} "
                           "in it); the hub makes its state folder private (mode 0700), so it will not take over "
                           f"that one: pass a folder that does not exist yet, e.g. --state {state / 'course-hub'}")
    state.mkdir(parents=True, exist_ok=True)
    state.chmod(0o700)
    (state / STATE_MARK).touch()
    return state


def load_class(state: Path) -> dict:
    """The class recorded by add-students: {"group", "admin", "members": [{"name", "role"}]}."""
    path = state / CLASS_FILE
    if not path.exists():
        raise HubError(f"no class in {state} yet: create the accounts first with "
                       "`./course hub add-students roster.csv` (see hub/README.md for the roster format)")
    return json.loads(path.read_text())


def save_class(state: Path, klass: dict) -> None:
    (state / CLASS_FILE).write_text(json.dumps(klass, indent=1))


def students(klass: dict) -> list[str]:
    return [m["name"] for m in klass["members"] if m["role"] == "student"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def instance_id(state: Path) -> str:
    """The value of COURSE_HUB_INSTANCE in every process this hub starts: its state folder."""
    return str(Path(state).resolve())


def hub_processes(instance: str) -> list[int]:
    """Pids of live processes started by the hub whose state folder is ``instance`` (found by environment)."""
    needle = f"COURSE_HUB_INSTANCE={instance}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:
            continue  # gone, or a kernel thread
    return found


def processes_of(uids: set[int]) -> list[int]:
    """Pids of live processes whose real uid is in ``uids``."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and entry.stat().st_uid in uids:
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def terminate(pids: list[int], grace_s: float = 10) -> None:
    """SIGTERM ``pids``, then SIGKILL whatever is still alive after ``grace_s`` seconds."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and any(Path(f"/proc/{pid}").exists() for pid in pids):
            time.sleep(0.2)


def leftovers(state: Path, klass: dict) -> list[int]:
    """Processes of this hub, or of the class's accounts (students and teacher), that are still alive."""
    uids = set()
    for name in (m["name"] for m in klass["members"]):
        try:
            uids.add(pwd.getpwnam(name).pw_uid)
        except KeyError:
            pass
    return sorted(set(hub_processes(instance_id(state))) | set(processes_of(uids)))


def data_dir() -> Path:
    """The FashionMNIST root the students read: $COURSE_DATA_DIR, else data/ in the checkout; checked."""
    from lessons_src.data import raw_dir, validate_raw_dir  # imports torch: only when serving

    root = Path(os.environ.get("COURSE_DATA_DIR") or ROOT / "data").resolve()
    try:
        validate_raw_dir(raw_dir(root))
    except (OSError, RuntimeError) as error:
        raise HubError(f"FashionMNIST is not ready in {root}: {error}. Run `./course setup` first "
                       "(or point COURSE_DATA_DIR at a folder holding FashionMNIST/raw/).") from error
    return root


def require_free_port(ip: str, port: int) -> None:
    """HubError if another program listens on (``ip``, ``port``), found by binding it as the proxy will."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(ip, port, type=socket.SOCK_STREAM,
                                                             flags=socket.AI_PASSIVE)[0]
    except socket.gaierror as error:
        raise HubError(f"--ip {ip}: not an address this machine can listen on ({error.strerror})") from error
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the proxy does: TIME_WAIT is no conflict
        try:
            probe.bind(address)
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise HubError(f"--port {port} is in use by another program; pick another") from error
            raise HubError(f"--ip {ip} --port {port}: cannot listen there ({error.strerror})") from error


def lock_state(state: Path):
    """Hold ``<state>/serve.lock`` for this process's lifetime; HubError if another hub holds it."""
    handle = open(state / "serve.lock", "a+")  # noqa: SIM115  (kept open while serving)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as error:
        handle.seek(0)
        raise HubError(f"a hub is already running from {state} (pid {handle.read().strip() or '?'}); stop it "
                       "first (Ctrl-C in its terminal)") from error
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def serve_settings(args: argparse.Namespace, state: Path, klass: dict) -> dict:
    """Everything jupyterhub_config.py needs, worked out and checked here."""
    if not klass.get("admin"):
        raise HubError("the class has no teacher account; add-students with a roster naming one (role teacher)")
    course = Path(args.course).resolve()
    if not (course / "notebooks").is_dir():
        raise HubError(f"--course {course} has no notebooks/ folder; pass the course checkout")
    proxy = proxy_command()  # checks hub/node_modules; installing it is ./course setup's job
    python = student_python()
    data = data_dir()
    for path, what in ((ROOT, "the course checkout"), (course, "the course"), (data, "the FashionMNIST data")):
        require_reachable(path, what)
    class_size = args.class_size or len(students(klass))
    threads = threads_per_student(usable_cores(), max(1, class_size))
    ports = {args.port}
    while len(ports) < 3:
        ports.add(free_port())
    hub_port, proxy_api_port = sorted(ports - {args.port})
    return {
        "state": str(state), "instance": instance_id(state), "root": str(ROOT), "course": str(course),
        "ip": args.ip, "port": args.port, "hub_port": hub_port, "proxy_api_port": proxy_api_port,
        "ssl_cert": args.ssl_cert, "ssl_key": args.ssl_key, "proxy_command": proxy,
        "student_python": str(python), "student_environment": student_environment(python),
        "data_dir": str(data), "class_size": class_size, "cores": usable_cores(),
        "thread_environment": thread_environment(threads), "group": klass["group"], "admin": klass["admin"],
        "members": [m["name"] for m in klass["members"]],
        "cull_idle": args.cull_idle, "cull_every": min(300, max(5, args.cull_idle // 4)),
    }


def default_signals() -> None:
    """In the hub's process: SIGINT handled normally even if this command was started with it ignored (``&``).

    Ignored signals pass on to children, and the hub stops its servers and services with SIGINT.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def check_serve_arguments(args: argparse.Namespace) -> None:
    """ValueError naming the option and its range for a bad --port, --class-size or --cull-idle."""
    from lessons_src.validation import as_int

    as_int("--port", args.port, low=1, high=65535, remedy="pick a free port, e.g. 8000")
    as_int("--class-size", args.class_size, low=0, remedy="0 means every student on the roster")
    as_int("--cull-idle", args.cull_idle, low=10, remedy="seconds without activity before a server stops")
    if bool(args.ssl_cert) != bool(args.ssl_key):
        raise HubError("--ssl-cert and --ssl-key go together; pass both or neither")
    for option, path in (("--ssl-cert", args.ssl_cert), ("--ssl-key", args.ssl_key)):
        if path and not Path(path).is_file():
            raise HubError(f"{option} {path}: no such file")


def serve(args: argparse.Namespace) -> int:
    require_root(args)
    check_serve_arguments(args)
    state = prepare_state(args.state)
    lock = lock_state(state)
    klass = load_class(state)
    stale = hub_processes(instance_id(state))
    if stale:
        print(f"course hub: stopping {len(stale)} processes left by an earlier run", flush=True)
        terminate(stale)
    require_free_port(args.ip, args.port)
    settings = serve_settings(args, state, klass)
    (state / "serve.json").write_text(json.dumps(settings, indent=1))
    scheme = "https" if args.ssl_cert else "http"
    threads = settings["thread_environment"]["OMP_NUM_THREADS"]
    print(f"course hub: {scheme}://{args.ip}:{args.port}/  class group '{klass['group']}', "
          f"{len(students(klass))} students, teacher '{klass['admin']}'; {threads} torch thread(s) per kernel "
          f"({settings['cores']} cores / class of {settings['class_size']}); idle servers stop after "
          f"{args.cull_idle} s. Ctrl-C stops the hub and every server.", flush=True)
    env = os.environ | {"COURSE_HUB_SETTINGS": str(state / "serve.json"), "COURSE_HUB_INSTANCE": settings["instance"]}
    stopping: list[float] = []  # when the first Ctrl-C / SIGTERM arrived
    signal.signal(signal.SIGINT, lambda signum, frame: stopping.append(time.monotonic()))
    signal.signal(signal.SIGTERM, lambda signum, frame: stopping.append(time.monotonic()))
    hub = subprocess.Popen([sys.executable, "-m", "jupyterhub", "-f", str(HUB_DIR / "jupyterhub_config.py")],
                           cwd=state, env=env, start_new_session=True, preexec_fn=default_signals)
    asked = False
    while hub.poll() is None:
        if stopping and not asked:
            hub.send_signal(signal.SIGTERM)  # once: the hub stops servers, services and proxy itself
            asked = True
        if stopping and time.monotonic() - stopping[0] > STOP_GRACE_S:
            hub.kill()
        time.sleep(0.2)
    left = leftovers(state, klass)
    if left:
        print(f"course hub: stopping {len(left)} processes the hub left behind", flush=True)
        terminate(left)
    lock.close()
    print("course hub: stopped", flush=True)
    return 0 if stopping else hub.returncode


def add_students(args: argparse.Namespace) -> int:
    require_root(args)
    state = prepare_state(args.state)
    path = state / CLASS_FILE
    klass = json.loads(path.read_text()) if path.exists() else {"group": args.group, "admin": None, "members": []}
    if args.group and args.group != klass["group"]:
        raise HubError(f"this class's group is {klass['group']!r}; leave out --group or use a new --state")
    members = read_roster(args.roster, args.admin, require_teacher=klass["admin"] is None)
    teacher = next((m.name for m in members if m.role == "teacher"), None)
    if teacher and klass["admin"] not in (None, teacher):
        raise HubError(f"the class's teacher is already {klass['admin']!r}; a roster may not name another")
    actions, generated = create_accounts(members, klass["group"])
    known = {m["name"] for m in klass["members"]}
    klass["members"] += [{"name": m.name, "role": m.role} for m in members if m.name not in known]
    klass["admin"] = klass["admin"] or teacher
    save_class(state, klass)
    for name, action in actions:
        print(f"{action:8} {name}")
    written = write_passwords(state, generated, time.strftime("%Y%m%d-%H%M%S"))
    if written:
        print(f"generated passwords for {len(generated)} accounts are in {written} (readable by root only)")
    print(f"class: {len(students(klass))} students, teacher {klass['admin']}, group {klass['group']}")
    return 0


def remove_students(args: argparse.Namespace) -> int:
    require_root(args)
    state = prepare_state(args.state)
    klass = load_class(state)
    lock = lock_state(state)  # not while the hub runs: its servers hold these accounts
    names = [m.name for m in read_roster(args.roster, require_teacher=False)] if args.roster else []
    for name, action in remove_accounts(names, klass["group"], keep_homes=args.keep_homes):
        print(f"{action:8} {name}")
    klass["members"] = [m for m in klass["members"] if m["name"] not in names]
    if klass["admin"] in names:
        klass["admin"] = None
    save_class(state, klass)
    if not klass["members"] and remove_empty_group(klass["group"]):
        print(f"removed  group {klass['group']} (no accounts left in it)")
    lock.close()
    return 0


def distribute(args: argparse.Namespace) -> int:
    """Copy or update the course in every account's ~/course now, as that account."""
    require_root(args)
    state = prepare_state(args.state)
    klass = load_class(state)
    course = Path(args.course).resolve()
    python = student_python()
    require_reachable(course, "the course")
    for member in klass["members"]:
        account = pwd.getpwnam(member["name"])
        try:
            result = subprocess.run(course_sync_command(python, course, account.pw_dir), user=account.pw_uid,
                                    group=account.pw_gid, extra_groups=[], cwd=account.pw_dir, capture_output=True,
                                    text=True, timeout=120,
                                    env={"HOME": account.pw_dir, "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"})
        except subprocess.TimeoutExpired:  # run() has killed it
            print(f"{member['name']}: the copy took over 120 s and was stopped; run distribute again")
            continue
        if result.returncode != 0:
            print(f"{member['name']}: the copy failed: {result.stderr.strip()[-500:]}")
            continue
        print("\n".join(describe_sync(member["name"], json.loads(result.stdout))))
    return 0


def describe_sync(name: str, report: list[dict[str, str]]) -> list[str]:
    """Lines for one account's course copy: counts per action, then the files worth naming.

    Conflicts and blocked files are always named; updated or restored files only when there are at
    most LISTED_CHANGES of them (a first copy, all ``added``, is one line of counts).
    """
    counts = {action: sum(r["action"] == action for r in report) for action in SYNC_ORDER}
    lines = [f"{name}: " + (", ".join(f"{n} {action}" for action, n in counts.items() if n) or "no course files")]
    changed = [r for r in report if r["action"] in ("updated", "restored")]
    for record in report:
        if record["action"] == "conflict":
            lines.append(f"{name}: {record['path']} conflict: the student's version kept, the course's beside it "
                         f"as {record['beside']}")
        elif record["action"] == "blocked":
            lines.append(f"{name}: {record['path']} blocked: {record.get('detail', '')}")
        elif record in changed and len(changed) <= LISTED_CHANGES:
            lines.append(f"{name}: {record['path']} {record['action']}")
    return lines


def setup(args: argparse.Namespace) -> int:
    install_proxy()
    print(f"proxy: {' '.join(proxy_command())}")
    print(f"students' Python: {student_python()}")
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="./course hub", description=__doc__.split("\n\n")[0],
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = top.add_subparsers(dest="command", required=True)

    def command(name: str, func, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.add_argument("--state", type=Path, default=DEFAULT_STATE, help="the hub's state folder (default hub/state)")
        sub.set_defaults(func=func)
        return sub

    run = command("serve", serve, "start JupyterHub for the class (Ctrl-C stops it and every student's server)")
    run.add_argument("--port", type=int, default=8000, help="the port students connect to (default 8000)")
    run.add_argument("--ip", default="127.0.0.1",
                     help="address to listen on (default 127.0.0.1, this machine only; 0.0.0.0 for the network)")
    run.add_argument("--course", type=Path, default=ROOT,
                     help="the course checkout copied into homes (default: this one)")
    run.add_argument("--class-size", type=int, default=0,
                     help="students working at once, for threads per kernel (default: every student in the class)")
    run.add_argument("--cull-idle", type=int, default=3600, help="stop servers idle this many seconds (default 3600)")
    run.add_argument("--ssl-cert", default="", help="TLS certificate file (with --ssl-key) to serve https")
    run.add_argument("--ssl-key", default="", help="TLS private key file")
    add = command("add-students", add_students, "create one system account per roster line (see hub/README.md)")
    add.add_argument("roster", type=Path, help="CSV with header username[,password][,role]")
    add.add_argument("--admin", help="the teacher's username (instead of a roster line with role 'teacher')")
    add.add_argument("--group", default=None,
                     help="Unix group of the class (default 'course'; fixed by the first roster)")
    remove = command("remove-students", remove_students, "delete the roster's accounts and their homes")
    remove.add_argument("roster", type=Path, help="CSV with header username[,...]")
    remove.add_argument("--keep-homes", action="store_true", help="delete the accounts but keep their homes")
    dist = command("distribute", distribute, "copy or update the course in every home now (edits are kept)")
    dist.add_argument("--course", type=Path, default=ROOT, help="the course checkout (default: this one)")
    command("setup", setup, "install configurable-http-proxy (npm ci) and prepare the students' Python")
    return top


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    given = list(argv)
    if not argv or argv[0].startswith("-") and argv[0] not in ("-h", "--help"):
        argv.insert(0, "serve")
    args = parser().parse_args(argv)
    args.argv = given
    if args.command == "add-students" and args.group is None:
        args.group = None if (Path(args.state) / CLASS_FILE).exists() else "course"
    try:
        return args.func(args)
    except (HubError, RosterError, RuntimeProblem, ValueError) as error:
        print(f"course hub: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

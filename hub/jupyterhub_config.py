"""JupyterHub configuration for serving the course to a class on one server.

``./course hub`` (hub/course_hub.py) works out the machine-specific values (ports, the students'
Python, the proxy, threads per student) and writes them to ``<state>/serve.json``; this file turns
them into JupyterHub settings. Start the hub with ``./course hub``, not with ``jupyterhub`` directly.

- Accounts: PAM (the system's passwords); only members of the class's Unix group may log in; the
  teacher is the hub's admin.
- Servers: one JupyterLab per student, started as that student (LocalProcessSpawner) in their home,
  with the course copied in before each start (hub_sync.py, run as the student).
- Resources: torch/OpenMP threads per kernel from the cores and the class size; idle servers are
  stopped by jupyterhub-idle-culler.
- State (database, cookie secret, proxy token, logs) stays in ``<state>/``, mode 0700.
"""

import json
import os
import pwd
import secrets
import sys
from pathlib import Path

c = get_config()  # noqa: F821  (provided by JupyterHub when it loads this file)

HUB_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(HUB_DIR))
from hub_runtime import course_sync_command, run_as_account  # noqa: E402  (beside this file)

settings = json.loads(Path(os.environ["COURSE_HUB_SETTINGS"]).read_text())
state = Path(settings["state"])
marker = {"COURSE_HUB_INSTANCE": settings["instance"]}


def secret_file(path: Path) -> str:
    """The token stored in ``path`` (mode 0600), created on first use, so a restart keeps it."""
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32))
    return path.read_text().strip()


# -- where the hub listens and keeps its state
scheme = "https" if settings["ssl_cert"] else "http"
c.JupyterHub.bind_url = f"{scheme}://{settings['ip']}:{settings['port']}"
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = settings["hub_port"]
if settings["ssl_cert"]:
    c.JupyterHub.ssl_cert = settings["ssl_cert"]
    c.JupyterHub.ssl_key = settings["ssl_key"]
c.JupyterHub.db_url = f"sqlite:///{state / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(state / "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = str(state / "jupyterhub.pid")
c.JupyterHub.cleanup_servers = True  # stopping the hub stops every student's server
c.JupyterHub.cleanup_proxy = True

c.ConfigurableHTTPProxy.command = settings["proxy_command"]
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{settings['proxy_api_port']}"
c.ConfigurableHTTPProxy.auth_token = secret_file(state / "proxy_token")
c.ConfigurableHTTPProxy.pid_file = str(state / "proxy.pid")

# -- who may log in
c.JupyterHub.authenticator_class = "pam"
c.PAMAuthenticator.allowed_groups = {settings["group"]}
c.Authenticator.allowed_users = set(settings["members"])  # listed in the admin page before their first login
c.PAMAuthenticator.open_sessions = False
c.Authenticator.admin_users = {settings["admin"]}

# -- one JupyterLab per student, as that student
c.JupyterHub.spawner_class = "localprocess"
c.Spawner.cmd = [settings["student_python"], "-m", "jupyterhub.singleuser"]
c.Spawner.args = [
    "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    # widgets' small messages leave at once instead of waiting up to 40 ms (lessons_src/lab_socket.py)
    "--ServerApp.kernel_websocket_connection_class=lessons_src.lab_socket.NoDelayKernelConnection",
    # a kernel whose notebook tab was closed (no connection) and that sat idle 20 min gives its memory back
    "--MappingKernelManager.cull_idle_timeout=1200", "--MappingKernelManager.cull_interval=120",
]
c.Spawner.notebook_dir = "~"
c.Spawner.default_url = "/lab/tree/course/notebooks"
c.Spawner.env_keep = ["LANG", "LC_ALL"]
c.Spawner.environment = {
    **settings["student_environment"],
    **settings["thread_environment"],
    "COURSE_DATA_DIR": settings["data_dir"],  # shared, read-only for students
    "PYTHONPATH": settings["root"],  # lessons_src from the checkout the hub runs
    # torch's compile cache defaults to /tmp/torchinductor_<user>, a name another user could take first
    "TORCHINDUCTOR_CACHE_DIR": lambda spawner: f"{pwd.getpwnam(spawner.user.name).pw_dir}/.cache/torchinductor",
    **marker,
}
c.Spawner.start_timeout = 180  # a crowded machine starts servers slowly
c.Spawner.http_timeout = 180


COPY_TIMEOUT_S = 120


async def deliver_course(spawner) -> None:
    """Copy or update the course in the student's ~/course, as the student, before the server starts."""
    account = pwd.getpwnam(spawner.user.name)
    command = course_sync_command(settings["student_python"], settings["course"], account.pw_dir)
    env = {"HOME": account.pw_dir, "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", **marker}
    try:
        out = await run_as_account(command, account, env, COPY_TIMEOUT_S)
        report = json.loads(out)
    except Exception as error:  # a failed copy must not keep the student out of their own work
        spawner.log.error("course copy for %s failed: %s", spawner.user.name, error)
        return
    counts: dict[str, int] = {}
    for record in report:
        counts[record["action"]] = counts.get(record["action"], 0) + 1
    spawner.log.info("course copy for %s: %s", spawner.user.name, json.dumps(counts, sort_keys=True))
    for record in report:
        if record["action"] == "conflict":
            spawner.log.info("course copy for %s: kept the student's %s, new version beside it as %s",
                             spawner.user.name, record["path"], record["beside"])


c.Spawner.pre_spawn_hook = deliver_course

# -- stop servers nobody used for a while (their files stay in the home)
c.JupyterHub.services = [{
    "name": "idle-culler",
    "command": [sys.executable, "-m", "jupyterhub_idle_culler", f"--timeout={settings['cull_idle']}",
                f"--cull-every={settings['cull_every']}"],
    "cwd": str(state),
    "environment": marker,
}]
c.JupyterHub.load_roles = [{
    "name": "idle-culler",
    "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
    "services": ["idle-culler"],
}]

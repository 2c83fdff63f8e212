"""The kernel websocket connection the course's servers use: Nagle's algorithm off before any message."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from jupyter_server.services.kernels.connection.channels import ZMQChannelsWebsocketConnection

from lessons_src.lab_socket import NoDelayKernelConnection

ROOT = Path(__file__).resolve().parents[1]


class Handler:
    """Stands in for the websocket handler: records what the connection asks of it."""

    def __init__(self):
        self.calls = []
        self.log = type("Log", (), {"info": lambda *args: None})()

    def set_nodelay(self, value):
        self.calls.append(("set_nodelay", value))


def test_nodelay_is_set_before_the_connection_starts(monkeypatch):
    handler = Handler()

    def connect(self):
        handler.calls.append(("connect",))

    monkeypatch.setattr(ZMQChannelsWebsocketConnection, "connect", connect)
    connection = NoDelayKernelConnection.__new__(NoDelayKernelConnection)
    monkeypatch.setattr(NoDelayKernelConnection, "websocket_handler", handler, raising=False)
    monkeypatch.setattr(NoDelayKernelConnection, "kernel_id", "k1", raising=False)
    connection.connect()
    assert handler.calls == [("set_nodelay", True), ("connect",)]


@pytest.mark.skipif(Path(sys.prefix).resolve() != (ROOT / ".venv").resolve(),
                    reason="reads the server configuration ./course setup writes into .venv: run it with ./course test")
def test_the_course_environment_configures_every_server_with_it():
    """The file every server of .venv reads; test_course_script's lab test sees a real server use the class."""
    config = json.loads((ROOT / ".venv/etc/jupyter/jupyter_server_config.json").read_text())
    assert config["ServerApp"]["kernel_websocket_connection_class"] == "lessons_src.lab_socket.NoDelayKernelConnection"


def test_the_class_hub_gives_it_to_every_student_server():
    config = (ROOT / "hub/jupyterhub_config.py").read_text()
    assert "--ServerApp.kernel_websocket_connection_class=lessons_src.lab_socket.NoDelayKernelConnection" in config

"""The servers under test: how to start each, and which wire protocol the
load generator speaks to it ("ws": chatd's JSON frames on /ws; "sio": the
same JSON objects inside the Socket.IO event "chat").

chatd runs as its users run it: ``chatd start -c FILE`` with a fresh SQLite
file, persistence on, default settings except generous rate limits and
127.0.0.1 exempt from the per-address limits (the benchmark is one machine
sending as fast as it can from one address, which chatd's default limits
exist to stop).
"""

from __future__ import annotations

import shlex
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.setup_env import BENCH, FLOOR_BIN, VENV_CHATD, VENV_PYTHON

PEERS = BENCH / "peers"


def endpoint_path(flavour: str) -> str:
    """Where the WebSocket is served (the load generator's client.endpoint() agrees)."""
    return "/socket.io/?EIO=4&transport=websocket" if flavour == "sio" else "/ws"


@dataclass(frozen=True)
class Target:
    name: str  # used on the command line and in file names
    label: str  # shown in tables and the chart
    flavour: str  # "ws" or "sio"
    persistent: bool  # stores messages: can run the reconnect and write scenarios
    command: Callable[[int, Path], list[str]]  # (port, scratch dir) -> argv
    needs: str  # which part of the setup it depends on: "python", "node", "floor", "chatd"


def chatd_config(port: int, workdir: Path) -> Path:
    """Write a config for one run: keys as documented in docs/configuration.md."""
    path = workdir / "chatd.yaml"
    path.write_text(
        f"""# written by bench/harness/targets.py for one benchmark run
listen: "127.0.0.1:{port}"
database: {workdir / 'chatd.db'}
pidfile: {workdir / 'chatd.pid'}
logfile: ""
limits:
  rate_per_second: 1000000
  rate_burst: 1000000
  user_rate_per_second: 1000000
  user_rate_burst: 1000000
rooms:
  max_rooms: 100000
address:
  exempt: ["127.0.0.0/8"]  # every load generator client is 127.0.0.1: no per-address limits
"""
    )
    return path


def chatd_command(base: list[str]) -> Callable[[int, Path], list[str]]:
    return lambda port, workdir: [*base, "start", "-c", str(chatd_config(port, workdir))]


def default_chatd() -> list[str]:
    """chatd installed from this repository into bench/.venv, else one on PATH."""
    if VENV_CHATD.exists():
        return [str(VENV_CHATD)]
    found = shutil.which("chatd")
    return [found] if found else []


def all_targets(chatd_cmd: str | None = None) -> list[Target]:
    chatd = shlex.split(chatd_cmd) if chatd_cmd else default_chatd()
    node = shutil.which("node") or "node"
    py = str(VENV_PYTHON)
    return [
        Target("chatd", "chatd", "ws", True, chatd_command(chatd), "chatd"),
        Target("floor", "floor (C, 1 send/delivery)", "ws", False,
               lambda port, _: [str(FLOOR_BIN), str(port)], "floor"),
        Target("ws-node", "Node ws", "ws", False,
               lambda port, _: [node, str(PEERS / "ws_node.js"), str(port)], "node"),
        Target("socketio-node", "Node Socket.IO", "sio", False,
               lambda port, _: [node, str(PEERS / "socketio_node.js"), str(port)], "node"),
        Target("python-socketio", "python-socketio (aiohttp)", "sio", False,
               lambda port, _: [py, str(PEERS / "socketio_py.py"), str(port)], "python"),
        Target("tornado-naive", "Tornado write_message", "ws", False,
               lambda port, _: [py, str(PEERS / "tornado_naive.py"), str(port)], "python"),
    ]

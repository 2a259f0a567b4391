"""The servers under test: how to start each, and which wire protocol the
load generator speaks to it ("ws": chatd's JSON frames on /ws; "sio": the
same JSON objects inside the Socket.IO event "chat").

chatd runs as its users run it: ``chatd start -c FILE`` with a fresh SQLite
file, persistence on, default settings except generous rate limits and
127.0.0.1 exempt from the per-address limits (the benchmark is one machine
sending as fast as it can from one address, which chatd's default limits
exist to stop).

A chatd target may also be a cluster deployment (``--workers``, ``--store``):
``workers: N`` behind one port with a Redis bus, on a shared SQLite file or
on PostgreSQL. The harness starts those servers (harness/services.py) and
hands their URLs to the target's command as ``Services``.
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
class Services:
    """What one measurement's server may use besides its port and scratch dir."""

    bus: str = ""  # redis://… of a redis-server fresh for this measurement, or "" (none)
    database: str = ""  # postgresql://… of a fresh database, or "" (an SQLite file in the scratch dir)


@dataclass(frozen=True)
class Deployment:
    """How chatd runs: the default (one process, SQLite, no bus) or a cluster on one machine."""

    workers: int = 1
    store: str = "sqlite"  # "sqlite" or "postgres"
    bus: bool = False  # a Redis bus (always, with more than one worker)

    @property
    def default(self) -> bool:
        return self == Deployment()

    @property
    def suffix(self) -> str:
        """'' for the default; else e.g. '-w2-pg' (workers on a bus) or '-pg' (one process, no bus)."""
        if self.default:
            return ""
        return (f"-w{self.workers}" if self.bus else "") + ("-pg" if self.store == "postgres" else "-sqlite")

    @property
    def label(self) -> str:
        if self.default:
            return ""
        store = "PostgreSQL" if self.store == "postgres" else "SQLite"
        return f" ({self.workers} worker{'s' if self.workers > 1 else ''}, Redis, {store})" if self.bus \
            else f" ({store})"


STORES = ("sqlite", "postgres")


@dataclass(frozen=True)
class Target:
    name: str  # used on the command line and in file names
    label: str  # shown in tables and the chart
    flavour: str  # "ws" or "sio"
    persistent: bool  # stores messages: can run the reconnect and write scenarios
    command: Callable[[int, Path, Services], list[str]]  # (port, scratch dir, services) -> argv
    needs: str  # which part of the setup it depends on: "python", "node", "floor", "chatd"
    deployment: Deployment = Deployment()

    @property
    def pinned(self) -> bool:
        """One core for the server, another for the load generator; a cluster deployment
        runs unpinned, since its processes, Redis and PostgreSQL share the cores anyway."""
        return self.deployment.default


def chatd_config(port: int, workdir: Path, deployment: Deployment = Deployment(), services: Services = Services(),
                 ) -> Path:
    """Write a config for one run (``chatd_config_text``) to ``workdir/chatd.yaml``; its path."""
    path = workdir / "chatd.yaml"
    path.write_text(chatd_config_text(port, workdir, deployment, services))
    return path


def chatd_config_text(port: int, workdir: Path, deployment: Deployment = Deployment(),
                      services: Services = Services()) -> str:
    """The config of one run, keys as documented in docs/configuration.md (``run.py --print-config``
    prints it, for running a scenario by hand)."""
    cluster = f"workers: {deployment.workers}\nbus: {services.bus}\n" if deployment.bus else ""
    return (
        f"""# written by bench/harness/targets.py for one benchmark run
listen: "127.0.0.1:{port}"
{cluster}database: {services.database or workdir / 'chatd.db'}
pidfile: {workdir / 'chatd.pid'}
logfile: ""
limits:
  rate_per_second: 1000000
  rate_burst: 1000000
  user_rate_per_second: 1000000
  user_rate_burst: 1000000
rooms:
  max_rooms: 100000
  max_per_creator: 0  # the load generator's one admin user creates every room of a case
address:
  exempt: ["127.0.0.0/8"]  # every load generator client is 127.0.0.1: no per-address limits
identity:
  name_hold_seconds: 0  # names free at once: a scenario run again (by hand) reuses u0, u1…
api:  # bench/api.py: one key sends as fast as it can
  rate_per_second: 1000000
  rate_burst: 1000000
"""
    )


def chatd_command(base: list[str], deployment: Deployment = Deployment()) -> Callable[[int, Path, Services], list[str]]:
    return lambda port, workdir, services: [*base, "start", "-c",
                                            str(chatd_config(port, workdir, deployment, services))]


def chatd_targets(base: list[str], deployments: list[Deployment], name: str = "chatd", label: str = "chatd"
                  ) -> list[Target]:
    """One chatd target per deployment: ``chatd`` for the default, ``chatd-w2-pg`` etc. for the others."""
    return [Target(name + d.suffix, label + d.label, "ws", True, chatd_command(base, d), "chatd", d)
            for d in deployments]


def default_chatd() -> list[str]:
    """chatd installed from this repository into bench/.venv, else one on PATH."""
    if VENV_CHATD.exists():
        return [str(VENV_CHATD)]
    found = shutil.which("chatd")
    return [found] if found else []


def deployments(workers: list[int] | None, stores: list[str] | None) -> list[Deployment]:
    """``--workers 1,2 --store sqlite,postgres`` → every combination, each worker count on a Redis bus;
    ``--store postgres`` alone → one process on PostgreSQL, no bus; neither → the default only."""
    if not workers:
        return [Deployment(store=s) for s in stores or ["sqlite"]]
    return [Deployment(n, s, bus=True) for s in stores or ["sqlite"] for n in workers]


def all_targets(chatd_cmd: str | None = None, chatd_deployments: list[Deployment] | None = None,
                baseline_cmd: str | None = None) -> list[Target]:
    """Every server; chatd once per deployment (default: as today), and a baseline
    chatd (another install, e.g. an older commit) in the same deployments if given."""
    chatd = shlex.split(chatd_cmd) if chatd_cmd else default_chatd()
    chosen = chatd_deployments or [Deployment()]
    baseline = chatd_targets(shlex.split(baseline_cmd), chosen, "baseline", "chatd baseline") if baseline_cmd else []
    node = shutil.which("node") or "node"
    py = str(VENV_PYTHON)
    return [
        *chatd_targets(chatd, chosen),
        *baseline,
        Target("floor", "floor (C, naive: 1 send/delivery)", "ws", False,
               lambda port, _, __: [str(FLOOR_BIN), str(port)], "floor"),
        Target("floor-batched", "floor (C, batched per loop pass)", "ws", False,
               lambda port, _, __: [str(FLOOR_BIN), str(port), "--batched"], "floor"),
        Target("ws-node", "Node ws", "ws", False,
               lambda port, _, __: [node, str(PEERS / "ws_node.js"), str(port)], "node"),
        Target("socketio-node", "Node Socket.IO", "sio", False,
               lambda port, _, __: [node, str(PEERS / "socketio_node.js"), str(port)], "node"),
        Target("socketio-sqlite", "Node Socket.IO + SQLite (tutorial design)", "sio", True,
               lambda port, _, __: [node, str(PEERS / "socketio_sqlite.js"), str(port)], "node"),
        Target("python-socketio", "python-socketio (aiohttp)", "sio", False,
               lambda port, _, __: [py, str(PEERS / "socketio_py.py"), str(port)], "python"),
        Target("tornado-naive", "Tornado write_message", "ws", False,
               lambda port, _, __: [py, str(PEERS / "tornado_naive.py"), str(port)], "python"),
    ]

"""What the figures were measured on, for the head of RESULTS.md: a result
without its machine and software versions cannot be compared later."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

from harness.setup_env import BENCH, REPO


def _first(path: str, prefix: str) -> str:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(prefix):
                return line.split(":", 1)[1].strip() if ":" in line else line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return "?"


def _output(argv: list[str], cwd: Path | None = None) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=10, cwd=cwd).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def _node_package(name: str) -> str:
    try:
        return json.loads((BENCH / "node_modules" / name / "package.json").read_text())["version"]
    except (OSError, ValueError, KeyError):
        return "?"


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "?"


def describe(chatd_argv: list[str]) -> dict[str, str]:
    mem_kib = _first("/proc/meminfo", "MemTotal").split()[0]
    commit = _output(["git", "rev-parse", "--short", "HEAD"], REPO)
    dirty = _output(["git", "status", "--porcelain", "--", "chatd"], REPO)
    return {
        "cpu": f"{_first('/proc/cpuinfo', 'model name')}, {os.cpu_count()} cores",
        "memory": f"{int(mem_kib) / 1024 / 1024:.1f} GiB" if mem_kib.isdigit() else "?",
        "os": f"{_first('/etc/os-release', 'PRETTY_NAME=')}, Linux {platform.release()}",
        "python": platform.python_version(),
        "node": _output(["node", "--version"]) or "?",
        "chatd": (_output([*chatd_argv, "--version"]) if chatd_argv else "") or "?",
        "chatd commit": (commit + (" (chatd/ modified)" if dirty else "")) if commit else "?",
        "peers": (f"ws {_node_package('ws')}, socket.io {_node_package('socket.io')}, "
                  f"python-socketio {_version('python-socketio')} + aiohttp {_version('aiohttp')}, "
                  f"tornado {_version('tornado')}"),
        "load generator": f"picows {_version('picows')}, orjson {_version('orjson')}, uvloop {_version('uvloop')}",
    }

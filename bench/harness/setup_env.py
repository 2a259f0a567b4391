"""Set bench/ up on a fresh machine: a virtualenv with the load generator,
the Python peers and chatd (from this repository); the Node peers' npm
packages; the C floor. Each step is skipped when its inputs have not
changed since it last ran, so every run can call ``ensure()``.

Standard library only: this runs before the virtualenv exists.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import venv
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent
REPO = BENCH.parent
VENV = BENCH / ".venv"
VENV_PYTHON = VENV / "bin" / "python"
VENV_CHATD = VENV / "bin" / "chatd"
BUILD = BENCH / ".build"
FLOOR_SOURCE = BENCH / "peers" / "floor.c"
FLOOR_BIN = BUILD / "floor"


def _say(text: str) -> None:
    print(f"setup: {text}", file=sys.stderr, flush=True)


def _digest(*paths: Path) -> str:
    h = hashlib.sha256()
    for path in paths:
        h.update(path.read_bytes() if path.exists() else b"-")
    return h.hexdigest()


def _stamp_ok(stamp: Path, digest: str) -> bool:
    return stamp.exists() and stamp.read_text() == digest


def _run(cmd: list[str], **kw) -> None:
    """Run a setup step; its (noisy) output is shown only when it fails."""
    _say(" ".join(str(c) for c in cmd))
    done = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    if done.returncode != 0:
        print(done.stdout[-3000:] + done.stderr[-3000:], file=sys.stderr)
        raise subprocess.CalledProcessError(done.returncode, cmd)


def python_env() -> None:
    if not VENV_PYTHON.exists():
        _say(f"creating {VENV}")
        venv.EnvBuilder(with_pip=True).create(VENV)
    requirements = BENCH / "requirements.txt"
    stamp = VENV / ".bench-requirements"
    digest = _digest(requirements)
    if not _stamp_ok(stamp, digest):
        _run([VENV_PYTHON, "-m", "pip", "install", "--quiet", "--upgrade", "pip"])
        _run([VENV_PYTHON, "-m", "pip", "install", "--quiet", "-r", requirements])
        stamp.write_text(digest)


CHATD_EXTRA = "cluster"  # redis-py and psycopg: the --workers / --store postgres runs and cluster_soak.py


def chatd_env() -> bool:
    """pip install -e the repository (with its cluster extra), so the bench runs
    the chatd of this checkout. False (and the chatd target is skipped) when it
    does not install."""
    pyproject = REPO / "pyproject.toml"
    if not pyproject.exists():
        _say("no pyproject.toml above bench/: chatd is not benchmarked")
        return False
    stamp = VENV / ".bench-chatd"
    digest = _digest(pyproject) + CHATD_EXTRA
    if not (_stamp_ok(stamp, digest) and VENV_CHATD.exists()):
        try:
            _run([VENV_PYTHON, "-m", "pip", "install", "--quiet", "-e", f"{REPO}[{CHATD_EXTRA}]"])
        except subprocess.CalledProcessError:
            _say("chatd did not install from this repository: chatd is not benchmarked")
            return False
        stamp.write_text(digest)
    return VENV_CHATD.exists()


def node_env() -> bool:
    if shutil.which("node") is None or shutil.which("npm") is None:
        _say("node/npm not found: the Node peers are skipped")
        return False
    lock = BENCH / "package-lock.json"
    stamp = BENCH / "node_modules" / ".bench-lock"
    digest = _digest(BENCH / "package.json", lock)
    if not _stamp_ok(stamp, digest):
        _run(["npm", "ci" if lock.exists() else "install", "--no-audit", "--no-fund", "--loglevel=error"], cwd=BENCH)
        stamp.write_text(digest)
    return True


def floor_binary() -> bool:
    compiler = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if compiler is None:
        _say("no C compiler: the floor is skipped (apt-get install gcc)")
        return False
    if not FLOOR_BIN.exists() or FLOOR_BIN.stat().st_mtime < FLOOR_SOURCE.stat().st_mtime:
        BUILD.mkdir(exist_ok=True)
        _run([compiler, "-O2", "-o", FLOOR_BIN, FLOOR_SOURCE])
    return True


def ensure() -> dict[str, bool]:
    """Install what is missing; say which optional parts are available."""
    python_env()
    return {"chatd": chatd_env(), "node": node_env(), "floor": floor_binary()}

"""chatd.daemon: the flock'd pidfile, the readiness channel, sd_notify."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from chatd.daemon import AlreadyRunning, Channel, Handover, PidFile, running_pid, sd_notify, wait_stopped


def test_pidfile_is_locked_while_held(tmp_path: Path):
    path = str(tmp_path / "chatd.pid")
    assert running_pid(path) is None, "no file: not running"
    first = PidFile(path)
    first.acquire()
    assert running_pid(path) == os.getpid()
    with pytest.raises(AlreadyRunning) as e:
        PidFile(path).acquire()  # another open file description: the lock conflicts
    assert e.value.pid == os.getpid()
    first.clear()
    first.close()
    assert running_pid(path) is None
    assert Path(path).exists(), "the file stays (unlinking a locked file races with starters)"


def test_a_dead_holders_pidfile_does_not_block(tmp_path: Path):
    path = tmp_path / "chatd.pid"
    holder = subprocess.Popen([sys.executable, "-c", f"""
import sys
from chatd.daemon import PidFile
PidFile({str(path)!r}).acquire()
print("locked", flush=True)
sys.stdin.read()
"""], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline() == "locked\n"
    assert running_pid(str(path)) == holder.pid
    holder.kill()  # SIGKILL: no clean-up ran; the file still names it
    holder.wait()
    holder.stdin.close()
    holder.stdout.close()
    assert path.read_text().strip() == str(holder.pid)
    assert running_pid(str(path)) is None
    assert wait_stopped(str(path), holder.pid, 1)
    mine = PidFile(str(path))
    mine.acquire()
    assert path.read_text() == f"{os.getpid()}\n"
    mine.close()


def test_pid_rewrite_never_leaves_the_file_empty(tmp_path: Path):
    pidfile = PidFile(str(tmp_path / "p"))
    pidfile.acquire()
    pidfile.write(1234567)
    pidfile.write(42)
    assert (tmp_path / "p").read_text() == "42\n"
    pidfile.close()


def test_channel_carries_messages_eof_and_timeout():
    a, b = Channel.pair()
    a.send({"ready": 12})
    a.send({"go": True})
    assert b.recv(1) == {"ready": 12}
    assert b.recv(1) == {"go": True}
    with pytest.raises(TimeoutError):
        b.recv(0.05)
    a.close()
    assert b.recv(1) is None
    b.close()


async def test_channel_async_receive():
    a, b = Channel.pair()
    threading.Timer(0.01, a.send, [{"ready": 1}]).start()
    assert await b.arecv(5) == {"ready": 1}
    a.close()
    assert await b.arecv(5) is None
    b.close()


def test_handover_round_trips_through_the_environment():
    handover = Handover(listen=[3, 4], control=5, pidfile=6, channel=7, daemon=True)
    env = {"CHATD_HANDOVER": handover.encode()}
    assert Handover.from_env(env) == handover
    assert handover.fds() == [3, 4, 5, 6, 7]
    assert Handover.from_env({}) is None


def test_sd_notify(tmp_path: Path):
    assert sd_notify("READY=1", {}) is False, "not under systemd: nothing to do"
    path = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(path)
        assert sd_notify("READY=1\nSTATUS=serving", {"NOTIFY_SOCKET": path})
        assert sock.recv(100) == b"READY=1\nSTATUS=serving"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(f"\0chatd-test-{os.getpid()}")  # abstract namespace, written @name
        assert sd_notify("STOPPING=1", {"NOTIFY_SOCKET": f"@chatd-test-{os.getpid()}"})
        assert sock.recv(100) == b"STOPPING=1"
    assert sd_notify("READY=1", {"NOTIFY_SOCKET": path}) is False, "systemd gone: never an exception"


def test_a_start_that_fails_leaves_the_pidfile_as_it_found_it(tmp_path: Path):
    path = tmp_path / "chatd.pid"
    made = PidFile(str(path))
    made.acquire(write=False)
    assert made.made and path.read_text() == "", "no pid before the start can no longer be refused"
    made.write(os.getpid())
    made.abandon()
    assert not path.exists(), "made by the start: removed"

    path.write_text("4242\n")  # left by a server killed with -9
    found = PidFile(str(path))
    found.acquire(write=False)
    assert not found.made
    found.write(os.getpid())
    found.abandon()
    assert path.read_text() == "4242\n" and running_pid(str(path)) is None, "as it was, and let go"

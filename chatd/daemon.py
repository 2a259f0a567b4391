"""Process plumbing: the locked pidfile, forking a daemon that reports when it
is ready, handing sockets to a successor, and sd_notify.

    pidfile = PidFile("/run/chatd/chatd.pid")
    pidfile.acquire()                       # AlreadyRunning(pid) if another holds it
    parent, channel = fork_daemon()         # before any thread or event loop exists
    if parent:
        reply = channel.recv(timeout=60)    # {"ready": pid} or {"error": ..., "status": n}
    else:
        ...serve...; channel.send({"ready": os.getpid()})
    running_pid("/run/chatd/chatd.pid")     # the holder's pid, or None when not running
    sd_notify("READY=1", os.environ)        # no-op unless NOTIFY_SOCKET is set
    timer = watchdog(10.0)                  # a stop that takes longer ends the process

The pidfile is locked with ``flock``: the kernel drops the lock when the
holder dies, even by ``kill -9``, so a stale file never blocks a start. A
flock belongs to the open file description, so a forked child and a
successor that inherits the descriptor hold the same lock: the pidfile stays
locked all through a daemon fork and a ``chatd restart`` handover.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import socket
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any

from chatd.status import ExitStatus

HANDOVER_VAR = "CHATD_HANDOVER"  # env var naming the fds a restarted successor inherits
READY_TIMEOUT = 60.0  # seconds a daemon child or restart successor may take to be ready
LOCK_RETRY_SECONDS = 0.5  # how long to retry a lock held by someone only looking at it
KILL_MARGIN = 1.0  # a stop this far past its timeout ends the process regardless
MAX_PIDFILE = 4096  # bytes of a pidfile kept to put back after a failed start: a pid and a newline, or junk


class AlreadyRunning(Exception):
    def __init__(self, pid: int):
        super().__init__(f"already running (pid {pid})")
        self.pid = pid


def pid_running(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie whose parent has not reaped it does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rpartition(b")")[2].split()[0] not in (b"Z", b"X")
    except (OSError, IndexError):
        return True  # no /proc: trust kill()


def _read_pid(fd: int) -> int:
    """The pid in the file, 0 if it holds none."""
    text = os.pread(fd, 64, 0).decode("ascii", "replace")
    first = text.split("\n", 1)[0].strip()
    return int(first) if first.isdigit() else 0


class PidFile:
    """The pid file, locked for as long as the server (or its successor) runs."""

    def __init__(self, path: str, fd: int | None = None):
        self.path = path
        self.fd = fd  # an inherited, already locked descriptor (restart successor)
        self.made = False  # this process's acquire() made the file
        self._before: bytes | None = None  # what the file held before this process first wrote its pid in it

    def acquire(self, write: bool = True) -> None:
        """Lock the file and, if ``write``, write our pid; AlreadyRunning if a live server
        holds it (its pid 0 when the holder wrote none). ``made`` then says whether this
        call made the file. A start locks it without writing: its pid goes in only once
        the start can no longer be refused (chatd.lifecycle), so a start refused meanwhile
        never names another one that is refused too."""
        while True:
            fd, made = open_made(self.path, os.O_RDWR | os.O_CLOEXEC)
            self._lock(fd)
            if same_file(fd, self.path):
                break
            os.close(fd)  # removed by the failed start that made it (abandon): lock the file there now
        self.fd, self.made = fd, made
        if write:
            self.write(os.getpid())

    def _lock(self, fd: int) -> None:
        """flock ``fd``, waiting out a look; AlreadyRunning (``fd`` closed) if refused."""
        deadline = time.monotonic() + LOCK_RETRY_SECONDS
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                pid = _read_pid(fd)
                # A live pid means a real server. Otherwise the lock is most
                # likely a `chatd status` holding it shared for a moment.
                if (pid and pid_running(pid)) or time.monotonic() > deadline:
                    os.close(fd)
                    raise AlreadyRunning(pid if pid and pid_running(pid) else 0) from None
                time.sleep(0.02)

    def write(self, pid: int) -> None:
        """Write in place, then trim: a reader never sees an empty file."""
        assert self.fd is not None
        if self._before is None:
            self._before = os.pread(self.fd, MAX_PIDFILE, 0)
        write_whole(self.fd, f"{pid}\n".encode())

    def clear(self) -> None:
        """Empty the file on a clean stop. The file itself stays: unlinking a
        locked file lets two starters lock two different files."""
        if self.fd is not None:
            os.ftruncate(self.fd, 0)

    def abandon(self) -> None:
        """A start that failed or was refused lets go, leaving the file as it found it:
        removed if this start made it, else as it was before it wrote its pid there.
        Removed while still locked: a starter that opened it meanwhile finds the file gone
        once it has the lock, and makes its own (``acquire``)."""
        if self.fd is not None:
            if self.made:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.path)
            elif self._before is not None:
                write_whole(self.fd, self._before)
        self.close()

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def write_whole(fd: int, data: bytes) -> None:
    """The file's content made ``data``: written in place, then trimmed, so that a
    reader never sees it empty (unless ``data`` is)."""
    os.pwrite(fd, data, 0)
    os.ftruncate(fd, len(data))


def open_made(path: str, flags: int) -> tuple[int, bool]:
    """``path`` opened with ``flags``, made (mode 0644) if missing: (fd, whether this call
    made it), so that a start that fails removes only what it made. FileNotFoundError if
    its directory is missing."""
    while True:
        try:
            return os.open(path, flags | os.O_CREAT | os.O_EXCL, 0o644), True
        except FileExistsError:
            pass
        try:
            return os.open(path, flags), False
        except FileNotFoundError:
            continue  # removed between the two: make it, then


def same_file(fd: int, path: str) -> bool:
    """Whether ``fd`` is open on the file at ``path`` (False once it was removed or replaced)."""
    try:
        a, b = os.fstat(fd), os.stat(path)
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def running_pid(path: str) -> int | None:
    """The pid of the server holding the pidfile, None when none does (0 if
    it is locked but holds no pid yet)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_pid(fd)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def wait_stopped(path: str | None, pid: int, timeout: float) -> bool:
    """Poll until the server ``pid`` is gone (pidfile unlocked or held by
    another pid, e.g. after a restart; ``path`` None: the process alone);
    False on timeout."""
    deadline = time.monotonic() + timeout
    while True:  # looks once even when the time is up
        holder = running_pid(path) if path is not None else pid
        if holder is None or (holder and holder != pid) or not pid_running(pid):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


class Channel:
    """JSON lines over one end of a socketpair: how a daemon child tells its
    parent, and a successor tells the old process, that it is ready."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self._buffer = b""

    @classmethod
    def pair(cls) -> tuple[Channel, Channel]:
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        return cls(a), cls(b)

    def send(self, message: dict[str, Any]) -> None:
        self.sock.setblocking(True)  # a few bytes into an empty socket buffer: never waits
        with contextlib.suppress(OSError):  # the other side is gone: it will see EOF
            self.sock.sendall(json.dumps(message).encode() + b"\n")

    def recv(self, timeout: float | None) -> dict[str, Any] | None:
        """The next message; None at EOF; TimeoutError after ``timeout`` seconds."""
        self.sock.settimeout(timeout)
        while b"\n" not in self._buffer:
            chunk = self.sock.recv(4096)  # socket.timeout is TimeoutError
            if not chunk:
                return None
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)

    async def arecv(self, timeout: float | None) -> dict[str, Any] | None:
        """``recv`` for code running in an event loop."""
        loop = asyncio.get_running_loop()
        self.sock.setblocking(False)
        async with asyncio.timeout(timeout):
            while b"\n" not in self._buffer:
                chunk = await loop.sock_recv(self.sock, 4096)
                if not chunk:
                    return None
                self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)

    def fileno(self) -> int:
        return self.sock.fileno()

    def close(self) -> None:
        self.sock.close()


def fork_daemon() -> tuple[bool, Channel]:
    """Fork; returns (True, channel) in the parent and (False, channel) in the
    child, which is detached from the terminal in a session of its own. Call
    it before any thread or event loop exists."""
    ours, theirs = Channel.pair()
    if os.fork():
        theirs.close()
        return True, ours
    ours.close()
    os.setsid()
    return False, theirs


def redirect_stdio(logfile: str) -> None:
    """Point stdin at /dev/null and stdout/stderr at ``logfile`` (appending),
    or at /dev/null when it is "". Also what a log reopen does."""
    null = os.open(os.devnull, os.O_RDWR)
    out = os.open(logfile, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640) if logfile else null
    os.dup2(null, 0)
    os.dup2(out, 1)
    os.dup2(out, 2)
    for fd in {null, out}:
        os.close(fd)


@dataclass
class Handover:
    """The descriptors a restart successor inherits, passed in $CHATD_HANDOVER."""

    listen: list[int]
    control: int
    pidfile: int
    channel: int
    daemon: bool = False  # the old process was a daemon: log to the logfile
    dblock: int = -1  # the locked database file (chatd.dblock); -1: none (PostgreSQL)

    def encode(self) -> str:
        return json.dumps(asdict(self))

    def fds(self) -> list[int]:
        return [*self.listen, self.control, self.pidfile, self.channel, *([self.dblock] if self.dblock >= 0 else [])]

    @classmethod
    def from_env(cls, env: dict[str, str]) -> Handover | None:
        raw = env.get(HANDOVER_VAR)
        return cls(**json.loads(raw)) if raw else None


def sd_notify(message: str, env: dict[str, str]) -> bool:
    """Send a state change to systemd (READY=1, RELOADING=1, STOPPING=1,
    MAINPID=n, STATUS=...); False when not run by systemd's Type=notify."""
    path = env.get("NOTIFY_SOCKET")
    if not path:
        return False
    if path.startswith("@"):
        path = "\0" + path[1:]  # abstract namespace
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(path)
            sock.sendall(message.encode())
    except OSError:
        return False  # systemd went away; serving matters more than telling it
    return True


def watchdog(timeout: float) -> threading.Timer:
    """Ends this process (exit status 1) ``timeout`` + KILL_MARGIN seconds from
    now unless cancelled first (``.cancel()``): a stop that overruns its
    timeout never hangs."""
    timer = threading.Timer(timeout + KILL_MARGIN, _overrun)
    timer.daemon = True
    timer.start()
    return timer


def _overrun() -> None:
    logging.getLogger("chatd").error("stopping overran its timeout; exiting now")
    logging.shutdown()
    os._exit(ExitStatus.ERROR)


def monotonic_usec() -> int:
    """CLOCK_MONOTONIC in microseconds, as RELOADING=1 wants it."""
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000

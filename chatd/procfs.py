"""What Linux's ``/proc`` tells of other processes, for a refusal that names who holds
something: the processes that have a file open, those that listen on a TCP port, and the
Unix sockets a process listens on (proc(5): ``/proc/PID/fd``, ``/proc/net/tcp``,
``/proc/net/unix``).

    openers(os.fstat(fd))          # {"/var/lib/chatd/chatd.db": {4242}}: by which path each opened it
    port_listeners(8080)           # {4242}: the processes listening on TCP port 8080
    unix_listeners(4242)           # ["/run/chatd/chatd.sock"]
    command_line(4242)             # "/usr/bin/python3 -m chatd start -d -c /etc/chatd/chatd.yaml"

Best effort, never an error: another user's processes are not seen (their ``fd`` directories
cannot be read), and where there is no ``/proc`` every answer is empty.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

TCP_TABLES = ("/proc/net/tcp", "/proc/net/tcp6")
UNIX_TABLE = "/proc/net/unix"
LISTEN = "0A"  # the TCP state of a listening socket in /proc/net/tcp (include/net/tcp_states.h)
ACCEPTING = 0x10000  # __SO_ACCEPTCON in /proc/net/unix's flags: a listening socket


def _descriptors(pid: int) -> Iterator[str]:
    """The paths of the ``/proc/PID/fd`` entries of process ``pid`` (none if it cannot be read)."""
    with contextlib.suppress(OSError):
        for entry in os.scandir(f"/proc/{pid}/fd"):
            yield entry.path


def _pids() -> list[int]:
    """Every process but this one."""
    with contextlib.suppress(OSError):
        return [int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) != os.getpid()]
    return []


def openers(wanted: os.stat_result) -> dict[str, set[int]]:
    """The processes that have the file ``wanted`` (its ``stat``) open: → {the path each opened
    it by: their pids}; a hard link, a symbolic link or another spelling shows as its own path."""
    found: dict[str, set[int]] = {}
    for pid in _pids():
        for fd in _descriptors(pid):
            with contextlib.suppress(OSError):
                held = os.stat(fd)
                if (held.st_dev, held.st_ino) == (wanted.st_dev, wanted.st_ino):
                    found.setdefault(os.readlink(fd), set()).add(pid)
    return found


def _socket_holders(inodes: set[int]) -> set[int]:
    """The processes holding a socket of ``inodes`` (their fds read ``socket:[INODE]``)."""
    wanted = {f"socket:[{inode}]" for inode in inodes}
    found = set()
    for pid in _pids():
        for fd in _descriptors(pid):
            with contextlib.suppress(OSError):
                if os.readlink(fd) in wanted:
                    found.add(pid)
                    break
    return found


def port_listeners(port: int) -> set[int]:
    """The processes with a socket listening on TCP ``port`` (any address)."""
    inodes = set()
    for table in TCP_TABLES:
        with contextlib.suppress(OSError), open(table) as f:
            for line in list(f)[1:]:
                fields = line.split()
                if len(fields) > 9 and fields[3] == LISTEN and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(int(fields[9]))
    return _socket_holders(inodes) if inodes else set()


def unix_listeners(pid: int) -> list[str]:
    """The paths of the Unix sockets process ``pid`` listens on (a chatd: its control socket)."""
    held = set()
    for fd in _descriptors(pid):
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                held.add(int(target[len("socket:["):-1]))
    paths = []
    with contextlib.suppress(OSError), open(UNIX_TABLE) as f:
        for line in list(f)[1:]:
            fields = line.split()
            if len(fields) > 7 and int(fields[3], 16) & ACCEPTING and int(fields[6]) in held:
                paths.append(fields[7])
    return paths


def command_line(pid: int) -> str:
    """The command line of process ``pid``, its arguments joined by spaces ("" if it cannot be read)."""
    with contextlib.suppress(OSError), open(f"/proc/{pid}/cmdline", "rb") as f:
        return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    return ""

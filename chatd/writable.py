"""Whether chatd can write the files its config names — asked without
creating or changing anything, so that ``chatd check-config`` says what
``chatd start`` would, before the start.

    problems = unwritable(config, WRITTEN_AT_START + DAEMON_WRITES)   # `start -d`
    # ["/etc/chatd/chatd.yaml: key 'database': cannot write /srv/chat/chatd.db: its directory /srv/chat does not exist"]
    print(f"chatd: {unwritable_message(problems)}")

``chatd start`` asks this first and refuses with these lines (naming the
key and the path); ``chatd check-config`` prints the same lines. What changes
between the check and the start's own steps (each of which opens, locks or
binds, and fails cleanly) is still caught by those steps.

The answer is for the user asking: an operator who checks as root a config
that the service runs as another user must check as that user
(``sudo -u chatd chatd check-config``).
"""

from __future__ import annotations

import os
import stat
from typing import Any

from chatd.config import DEFAULTS
from chatd.control import NOT_A_SOCKET, PATH_MAX, TOO_LONG
from chatd.dblock import SIDE_FILES, holders, lock_path, same_path
from chatd.dsn import scheme
from chatd.settings import SETTINGS

# What a start does with each file: writes it in place (made if missing), also makes
# files beside it (SQLite's -wal, -shm and -journal, chatd's .lock: chatd.dblock), or
# binds a socket there, replacing one left by a chatd that died but no other kind of
# file (chatd.control.bind_control).
FILE, FILE_AND_BESIDE, SOCKET = "file", "file and beside", "socket"
WRITTEN_AT_START = (("pidfile", FILE), ("database", FILE_AND_BESIDE), ("control_socket", SOCKET))
DAEMON_WRITES = (("logfile", FILE),)  # the log file is a daemon's only (`start -d`)


def unwritable(config: Any, keys: tuple[tuple[str, str], ...] = WRITTEN_AT_START) -> list[str]:
    """One line per file of ``config``'s ``keys`` that a start could not write:
    ``"FILE: key 'K': cannot write PATH: why"``. Paths are those of the config
    (absolute); a ``postgresql://`` database is no file, and a key set to ``""``
    writes none."""
    where = str(config.source) if config.source else DEFAULTS
    problems = []
    for key, kind in keys:
        path = config.get(key)
        if not path or scheme(path):
            continue
        why = path_problem(path, kind)
        if why:
            problems.append(f"{where}: key '{key}': cannot write {path}: {why}")
    return problems


def unwritable_message(problems: list[str]) -> str:
    """What ``chatd start`` and ``chatd check-config`` say of ``unwritable``'s lines."""
    return "cannot write the files the configuration names:\n" + "\n".join(problems)


def path_problem(path: str, kind: str) -> str | None:
    """Why this process could not make or write ``path`` as a start does with a file of
    ``kind`` (FILE, FILE_AND_BESIDE, SOCKET), or None if it could. Judged by the file
    modes for this process's effective user (``access(2)``): root passes them, a
    read-only file system does not."""
    directory = os.path.dirname(path) or "."
    if not os.path.exists(directory):
        return f"its directory {directory} does not exist"
    if not os.path.isdir(directory):
        return f"{directory} is not a directory"
    if os.path.isdir(path):
        return "it is a directory"
    if kind == SOCKET and len(os.fsencode(path)) > PATH_MAX:
        return TOO_LONG
    exists = os.path.lexists(path)
    if exists and kind == SOCKET and not stat.S_ISSOCK(os.lstat(path).st_mode):
        return NOT_A_SOCKET
    if exists and kind != SOCKET and not _access(path, os.R_OK | os.W_OK):
        return "it is not writable"
    if (kind != FILE or not exists) and not _access(directory, os.W_OK | os.X_OK):
        return f"its directory {directory} is not writable"
    if kind == FILE_AND_BESIDE:  # SQLite opens these read-write beside the database, chatd its lock record
        for beside in (*(path + suffix for suffix in SIDE_FILES), lock_path(path)):
            if os.path.isdir(beside) or (os.path.lexists(beside) and not _access(beside, os.R_OK | os.W_OK)):
                return f"{beside}, beside it, is {'a directory' if os.path.isdir(beside) else 'not writable'}"
    return None


# What own_file calls the files keys name; any other path key names a file chatd reads (a secret).
_OWN_NAMES = {"pidfile": "chatd's pidfile", "logfile": "chatd's log file", "control_socket": "chatd's control socket"}


def own_file(config: Any, target: str) -> str | None:
    """What of chatd's own files ``target`` is — "the live database itself", "chatd's pidfile", "the
    file key 'identity.secret_file' names"… — or None. Any path or hard link naming it counts
    (``dblock.same_path``). chatd's own: the database and the files beside it, every file a key
    names (those chatd writes and the secrets it reads), the config file, and what the server
    running on the database recorded (its pidfile, control socket and config, which may differ from
    this config's since it started) or holds open (its log). A command that writes a file an
    operator names (``chatd backup``, ``chatd user export -o``) refuses these: writing one would
    wipe the database under a running server, a secret (every user signed out), or the files that
    find and stop the server.

    Ask before opening the database: finding the running server opens and closes its lock record,
    which would drop this process's own SQLite locks on it (``dblock.holders``)."""
    own = [(config.database + end, "the live database itself") for end in ("", *SIDE_FILES)]
    own.append((lock_path(config.database), "the database's lock record"))
    own += [(config.get(s.key), _OWN_NAMES.get(s.key, f"the file key '{s.key}' names"))
            for s in SETTINGS if s.path and s.key != "database"]
    if config.source is not None:
        own.append((str(config.source), "the config file"))
    running = [] if scheme(config.database) else holders(config.database)
    for holder in running:
        own += [(holder.pidfile, f"the pidfile of the running server (pid {holder.pid})"),
                (holder.control_socket, f"the control socket of the running server (pid {holder.pid})"),
                (holder.config, f"the config file of the running server (pid {holder.pid})")]
    found = next((what for path, what in own if path and not scheme(path) and same_path(path, target)), None)
    return found or next((f"a file the running server (pid {h.pid}) has open" for h in running
                          if _holds_open(h.pid, target)), None)


def _holds_open(pid: int, path: str) -> bool:
    """Whether process ``pid`` has the file at ``path`` open (Linux ``/proc/PID/fd``; False where
    that cannot be read: another user's process, another system)."""
    try:
        wanted = os.stat(path)
        descriptors = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in descriptors:
        try:
            held = os.stat(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if (held.st_dev, held.st_ino) == (wanted.st_dev, wanted.st_ino):
            return True
    return False


def _access(path: str, mode: int) -> bool:
    effective = os.access in os.supports_effective_ids  # the user a start runs as, also under setuid
    return os.access(path, mode, effective_ids=effective)

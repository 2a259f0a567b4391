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
from typing import Any

from chatd.dsn import scheme

# The files a start writes: (key, whether an existing file is written in place,
# whether new files are also made in its directory even when the file is there).
# SQLite makes its -wal, -shm and -journal beside the database and chatd its
# .lock (chatd.dblock); a control socket left there is replaced, not written
# (chatd.control.bind_control). The log file is a daemon's only (`start -d`).
WRITTEN_AT_START = (("pidfile", True, False), ("database", True, True), ("control_socket", False, True))
DAEMON_WRITES = (("logfile", True, False),)


def unwritable(config: Any, keys: tuple[tuple[str, bool, bool], ...] = WRITTEN_AT_START) -> list[str]:
    """One line per file of ``config``'s ``keys`` that a start could not write:
    ``"FILE: key 'K': cannot write PATH: why"``. Paths are those of the config
    (absolute); a ``postgresql://`` database is no file, and a key set to ``""``
    writes none."""
    where = str(config.source) if config.source else "config"
    problems = []
    for key, in_place, beside in keys:
        path = config.get(key)
        if not path or scheme(path):
            continue
        why = path_problem(path, in_place, beside)
        if why:
            problems.append(f"{where}: key '{key}': cannot write {path}: {why}")
    return problems


def unwritable_message(problems: list[str]) -> str:
    """What ``chatd start`` and ``chatd check-config`` say of ``unwritable``'s lines."""
    return "cannot write the files the configuration names:\n" + "\n".join(problems)


def path_problem(path: str, in_place: bool, beside: bool) -> str | None:
    """Why this process could not create or write the file ``path`` (None if it
    could). ``in_place``: a file already there is written (else replaced);
    ``beside``: new files are made in its directory in any case. Judged by the
    file modes for this process's effective user (``access(2)``): root passes
    them, a read-only file system does not."""
    directory = os.path.dirname(path) or "."
    if not os.path.exists(directory):
        return f"its directory {directory} does not exist"
    if not os.path.isdir(directory):
        return f"{directory} is not a directory"
    if os.path.isdir(path):
        return "it is a directory"
    exists = os.path.lexists(path)
    if exists and in_place and not _access(path, os.R_OK | os.W_OK):
        return "it is not writable"
    if (beside or not exists) and not _access(directory, os.W_OK | os.X_OK):
        return f"its directory {directory} is not writable"
    return None


def _access(path: str, mode: int) -> bool:
    effective = os.access in os.supports_effective_ids  # the user a start runs as, also under setuid
    return os.access(path, mode, effective_ids=effective)

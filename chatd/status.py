"""``ExitStatus``: what every ``chatd`` command and the server process exit
with. A leaf: it imports nothing from chatd, so any module may use it
(tests/test_imports.py holds that rule).

    return ExitStatus.NOT_RUNNING        # `chatd status` when no server runs

The values follow LSB init-script conventions for ``status`` (0 running,
3 not running, 4 unknown) and sysexits.h for a bad configuration (78);
docs/operations.md lists them for operators.
"""

from __future__ import annotations

from enum import IntEnum


class ExitStatus(IntEnum):
    OK = 0  # done; for `status`: running
    ERROR = 1  # the command failed; the message says why
    USAGE = 2  # bad command-line arguments (argparse's own status)
    NOT_RUNNING = 3  # no server runs for this config (LSB "program is not running")
    UNKNOWN = 4  # the pidfile is locked but the server does not answer, or the pidfile names none but a
    # server holds the database's lock (its pidfile changed: chatd.dblock) (LSB "status unknown")
    ALREADY_RUNNING = 5  # `start` or `restore` while a server holds the pidfile or the database's lock
    CONFIG = 78  # EX_CONFIG: the configuration file is invalid

"""Where chatd's log goes, and reopening it for logrotate.

    setup("info")                          # foreground / systemd: standard error (the journal)
    setup("info", logfile="/var/log/chatd/chatd.log")   # daemon: stdout+stderr → the file
    set_level("debug")                     # `chatd reload` with a new log_level
    reopen()                               # `chatd reload`: after logrotate moved the file

A daemon's standard output and error are the log file itself (file
descriptors 1 and 2), so tracebacks and anything a library prints land
there too, and a reopen is two ``dup2`` calls.
"""

from __future__ import annotations

import logging
import sys

from chatd.daemon import redirect_stdio

FORMAT = "%(asctime)s chatd[%(process)d] %(levelname)s %(name)s: %(message)s"
_state: dict[str, str | None] = {"logfile": None}


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is now (tests swap it)."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # StreamHandler.__init__ assigns it
        pass


_handler = _StderrHandler()
_handler.setFormatter(logging.Formatter(FORMAT))


def setup(level: str, logfile: str | None = None) -> None:
    """Log at ``level`` to standard error; with ``logfile`` (a daemon), make
    standard output and error that file first ("" = discard)."""
    _state["logfile"] = logfile
    if logfile is not None:
        redirect_stdio(logfile)
    root = logging.getLogger()
    if _handler not in root.handlers:
        root.addHandler(_handler)
    set_level(level)


def set_level(level: str) -> None:
    logging.getLogger().setLevel(level.upper())
    # One access line per HTTP request drowns everything else, except when debugging.
    logging.getLogger("tornado.access").setLevel(logging.DEBUG if level == "debug" else logging.WARNING)
    # peewee logs every statement with its parameters at debug: token secrets, sign-ins and
    # message texts must not reach a log file because an operator is debugging something else.
    logging.getLogger("peewee").setLevel(logging.INFO)


def reopen() -> bool:
    """Reopen the log file (a no-op when logging to the terminal or journal);
    True if there was a file to reopen."""
    logfile = _state["logfile"]
    if not logfile:
        return False
    sys.stderr.flush()
    sys.stdout.flush()
    redirect_stdio(logfile)
    return True

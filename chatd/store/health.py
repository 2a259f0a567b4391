"""Whether the database answers: the outage under way, if any, of one store.

A failure of the database itself (the server unreachable or restarted, the
connection lost, the disk full, a file locked past the busy timeout) is no
bug of chatd: the store raises ``DatabaseUnreachable`` in its place, clients
are answered ``unavailable`` (docs/protocol.md, "Errors"), and the log says
it once per outage, not once per request: a WARNING "database unreachable:
REASON" when the first operation fails, and "database back after N s" when
one succeeds again (docs/operations.md, "When the database is unreachable").
``chatd status`` and ``/healthz`` read ``down()``; ``watch`` hears both
transitions (``chatd.store.outage`` probes the database while it is down).

Which exceptions are such failures depends on the driver: each store names
its own (``failures``), peewee's wrappers of them count for every store.

    health = Health((sqlite3.OperationalError,))
    try:
        result = query()
    except Exception as e:
        if not health.is_failure(e):
            raise                      # a bug: it stays what it is
        raise health.failed(e) from e  # → DatabaseUnreachable, logged once per outage
    health.answered()
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from peewee import InterfaceError, OperationalError

from chatd.dsn import DATABASE_PASSWORD_ENV, password_advice, redacted
from chatd.store.rows import DatabaseUnreachable

log = logging.getLogger("chatd.store")
# What libpq says when the server wants a password it was not given, or refuses the one given.
PASSWORD_REFUSED = ("no password supplied", "password authentication failed")


def reason_of(error: BaseException) -> str:
    """The driver's own words for ``error``, on one line: peewee wraps a driver's
    exception as its first argument, and PostgreSQL's messages run over several
    lines (DETAIL, HINT). Never holds a password: drivers do not repeat them."""
    while error.args and isinstance(error.args[0], BaseException):
        error = error.args[0]
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def cannot_open(where: str, source: str, reason: str) -> str:
    """Why a database could not be opened, for an operator: ``where`` is its
    location (a path, or a URL without its password: ``chatd.dsn.redacted``),
    ``source`` where it was configured (``"key 'database'"``), ``reason`` the
    driver's words; with what to do when the server wants a password."""
    text = f"cannot open the database at {where} ({source}): {reason}"
    if any(sign in reason for sign in PASSWORD_REFUSED):
        text += password_advice("database_password_file", DATABASE_PASSWORD_ENV)
    return text


def database_refusal(database: str, error: BaseException) -> str:
    """``cannot_open`` of the configured ``database`` (a path or URL, its password hidden here)
    for ``error``, a DatabaseUnreachable or DatabaseRefused: what ``chatd start`` and every
    command that opens the store say, one line."""
    return cannot_open(redacted(database), "key 'database'", str(error))


class Health:
    """The outage of one store's database, noted by every thread that uses it."""

    def __init__(self, failures: tuple[type[BaseException], ...]):
        """``failures``: the driver's exception classes that mean the database failed."""
        self._failures = (*failures, OperationalError, InterfaceError)
        self._lock = threading.Lock()  # reader threads, the writer thread and the loop all note and read
        self._down_since: float | None = None  # time.monotonic() of the first failure of the outage
        self._reason = ""
        # Called with True when an outage begins and False when it ends, in the thread that noted
        # it, outside the lock; None: nobody listens.
        self.watch: Callable[[bool], None] | None = None

    def is_failure(self, error: BaseException) -> bool:
        """True if ``error`` is a failure of the database rather than of chatd."""
        return isinstance(error, self._failures)

    def failed(self, error: BaseException) -> DatabaseUnreachable:
        """Note a failure of the database (``is_failure``); → the DatabaseUnreachable to raise in its place."""
        reason = reason_of(error)
        with self._lock:
            first = self._down_since is None
            if first:
                self._down_since = time.monotonic()
            self._reason = reason
        if first:
            log.warning("database unreachable: %s", reason)
            if self.watch is not None:
                self.watch(True)
        return DatabaseUnreachable(reason)

    def answered(self) -> None:
        """Note that the database carried out an operation: an outage, if any, is over."""
        if self._down_since is None:  # the common case: one attribute read, no lock
            return
        with self._lock:
            since, self._down_since = self._down_since, None
        if since is not None:
            log.warning("database back after %.1f s", time.monotonic() - since)
            if self.watch is not None:
                self.watch(False)

    def down(self) -> tuple[str, float] | None:
        """None while the database answers (as its last use found it), else (the
        last failure's reason, seconds since the outage began)."""
        with self._lock:
            if self._down_since is None:
                return None
            return self._reason, time.monotonic() - self._down_since

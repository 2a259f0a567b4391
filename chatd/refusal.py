"""A command's refusal, said by ``chatd.cli`` in one line that names the command whole, as typed
(``chatd: admin list: ...``), for every command alike; then the command ends with the refusal's
exit status. Two kinds: ``CommandRefused``, raised where a command finds it cannot go on, and the
database's refusals (``store_refusal``), which a command leaves to rise from the store.

    raise CommandRefused(f"there is no admin account {name!r}")          # exit 1
    raise CommandRefused("not confirmed: pass --yes", ExitStatus.USAGE)  # exit 2
"""

from __future__ import annotations

import sys

from chatd.status import ExitStatus


class CommandRefused(Exception):
    """str(): why, for the terminal (lines after the first are printed as they are); ``status``:
    the exit status (``ExitStatus``)."""

    def __init__(self, why: str, status: int = ExitStatus.ERROR):
        super().__init__(why)
        self.status = status


def store_refusal(error: BaseException) -> Exception | None:
    """The database's refusal ``error`` is, said alike by every command that opens the store
    (``chatd.command_store``; its line is ``chatd.store.health.database_refusal``): the store's own
    (STORE_REFUSALS: the database unreachable, or none chatd may use), or damage a command met as
    it read (``_damage``), as a DatabaseRefused; None for any other error."""
    from chatd.command_store import STORE_REFUSALS  # (only once a command failed: peewee loads)
    from chatd.store import DatabaseRefused

    if isinstance(error, STORE_REFUSALS):
        return error
    damage = _damage(error)
    if damage is None:
        return None
    return DatabaseRefused(f"it cannot be read ({damage}): it is damaged; `chatd restore` puts a backup in its place")


def _damage(error: BaseException) -> str | None:
    """The driver's words if ``error``, or what it was raised from, says the database file is
    damaged — SQLite's plain DatabaseError ("database disk image is malformed"), which a command
    meets where the look before it did not read (a file past sqlitefile.QUICK_CHECK_MAX_BYTES),
    never an outage's or a bug's subclass of it; None otherwise."""
    import sqlite3

    peewee = sys.modules.get("peewee")
    plain = (sqlite3.DatabaseError, *((peewee.DatabaseError,) if peewee else ()))
    seen: BaseException | None = error
    while seen is not None:
        if type(seen) in plain:
            from chatd.store.health import reason_of

            return reason_of(seen)
        seen = seen.__cause__ or seen.__context__
    return None

"""Users' names as the running process last told them, so that the next process holds them.

A name its user let go stays held for that user a while (docs/protocol.md,
"Names"); the hub keeps that in memory. So that a restart — graceful, or a
crash that leaves no chance to write anything — does not hand those names to
whoever comes first, the process writes, as it goes, one row per (user, name):
online with it (``let_go`` NULL) when the user arrives or renames, let go at
a time when the user's last session ends or it renames. The next process reads
the rows at start (``held``): the names online when the previous one ended are
held from its start, those let go keep the rest of their hold.

A write is one row through the writer, batched with the pass's other jobs;
rows let go longer ago than the hold go with ``prune``, so the table is about
as big as the users online and start-up reads little of it (indexed on
``let_go``; the names online when a process ended are let go at the next start). A user
erased goes with its rows (``forget``; ``chatd.store.userdata.erase_identity``), and no
row is written for it after (checked in the write, as ``chatd.store.living`` does).

With a Redis bus the names are claimed on Redis (``chatd.cluster.names``),
whose claims outlive a node that ends: nothing is written here then.

    holds = NameHoldStore(store)
    holds.online(7, "alice")               # arrived, or renamed to it
    holds.let_go(7, "alice", at_ms)        # its last session ended, or it renamed
    holds.prune(before_ms)                 # rows let go before this go
    rows = holds.held(since_ms)            # at start: [(user id, name, let_go ms or None)]
    holds.all_let_go(start_ms)             # then: the names online at the end, let go at the start
    holds.forget(7)                        # user 7 was erased
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from chatd.store.living import DELETED

if TYPE_CHECKING:
    from chatd.store import Store

log = logging.getLogger("chatd.store")

# ON CONFLICT ... DO UPDATE: SQLite (3.24+) and PostgreSQL alike. Written only for a user not
# deleted, checked in the write (chatd.store.living): a session of a user being deleted (a resume
# that read the user before, its last session ending) must not hold a name for it after its
# erasure took its rows. The user row's lock (PostgreSQL) goes after the WHERE: {share}.
_SET = ('INSERT INTO name_hold (user_id, name, let_go) SELECT id, ?, ? FROM "user" WHERE id = ? AND kind <> ?{share} '
        "ON CONFLICT (user_id, name) DO UPDATE SET let_go = excluded.let_go")


class NameHoldStore:
    def __init__(self, store: Store):
        self._store = store

    def online(self, user_id: int, name: str) -> None:
        """The user is online with ``name`` (from now until ``let_go``)."""
        self._set(user_id, name, None)

    def let_go(self, user_id: int, name: str, at: int) -> None:
        """The user let ``name`` go at ``at`` (ms since the epoch)."""
        self._set(user_id, name, at)

    def prune(self, before: int) -> None:
        """Forget the names let go before ``before`` (ms since the epoch): their holds are over."""
        self._submit("DELETE FROM name_hold WHERE let_go < ?", (before,))

    def all_let_go(self, at: int) -> None:
        """At start, after ``held``: the names still marked online (their users were when the
        previous process ended) are let go at ``at``, the start, so that ``prune`` takes them
        once their hold is over, should their users not come back."""
        self._submit("UPDATE name_hold SET let_go = ? WHERE let_go IS NULL", (at,))

    def forget(self, user_id: int) -> None:
        """The user was erased: none of its names is held any longer (its row stays, anonymised)."""
        self._submit("DELETE FROM name_hold WHERE user_id = ?", (user_id,))

    def held(self, since: int) -> list[tuple[int, str, int | None]]:
        """(user id, name, ms let go or None: online) of the names online, or let go at
        ``since`` (ms since the epoch) or later; before serving (this thread's connection)."""
        store = self._store
        with store.db.connection_context():
            rows = store.db.execute_sql(store._q(
                "SELECT user_id, name, let_go FROM name_hold WHERE let_go IS NULL OR let_go >= ?"), (since,))
            return [(int(user_id), name, let_go) for user_id, name, let_go in rows.fetchall()]

    def _set(self, user_id: int, name: str, let_go: int | None) -> None:
        self._submit(_SET.format(share=self._store.share_user), (name, let_go, user_id, DELETED))

    def _submit(self, sql: str, params: tuple) -> None:
        store = self._store
        sql = store._q(sql)
        store.writer.submit(lambda: store.db.execute_sql(sql, params), _written)


def _written(_: Any, error: BaseException | None) -> None:
    """A row not written (the database is down, the user was erased, the server stops): the
    hold it would have kept across a restart is lost, nothing else."""
    if error is not None:
        log.debug("name hold not written: %s", error)

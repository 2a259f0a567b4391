"""Everything chatd keeps: users, rooms, messages. The store interface and what it hands out.

Two implementations: ``chatd.store.sqlite`` (one file; the default) and
``chatd.store.postgres`` (a PostgreSQL database that several chatd nodes
share). ``open_store`` picks by the configured ``database``. Both write
through one writer thread (``chatd.store.writer``) that commits in groups,
and read in a small thread pool with connections of their own: the event
loop never touches the database.

    store = open_store("chatd.db", shared=False, synchronous="normal", batch_max=512)
    store.open(loop)                      # migrate, read the epoch, start the writer
    store.epoch                           # chatd.epoch.Epoch: which database this is
    await store.newest(at_least=1207)     # the highest message id handed out here
    store.save_message(draft, on_stored)  # on_stored(Stored, error) after commit
    page = await store.room_history(room_id, before=None, after=None, limit=50)  # a Page of MessageRows
    await store.delete_room(room_id)      # True, or False when it holds messages (then it stays)
    store.close()

The interface is ``chatd.store.base``'s and the types it hands out ``chatd.store.rows``', named here.
"""

from __future__ import annotations

from chatd.dsn import is_postgres
from chatd.store.base import Store
from chatd.store.living import RecipientDeleted, UserDeleted
from chatd.store.rows import (
    USER_ID_MAX,
    DatabaseRefused,
    DatabaseUnreachable,
    Draft,
    MessageRow,
    NoDatabase,
    NoSuchUser,
    NotChatd,
    Once,
    Page,
    ReusedKey,
    RoomExists,
    RoomUse,
    Stored,
    StoreUnavailable,
)
from chatd.store.schema import now_ms
from chatd.store.writer import WriterClosed

__all__ = ["Store", "Draft", "MessageRow", "Stored", "Page", "RoomUse", "NoSuchUser", "RoomExists", "Once", "ReusedKey",
           "WriterClosed", "StoreUnavailable", "DatabaseUnreachable", "DatabaseRefused", "NoDatabase", "NotChatd",
           "USER_ID_MAX", "now_ms", "open_store", "UserDeleted", "RecipientDeleted"]


def open_store(url: str, *, shared: bool, synchronous: str, batch_max: int, create: bool = True,
               read_only: bool = False) -> Store:
    """The store of ``database`` as configured (``chatd.config.store_url``): an
    SQLite path, or a ``postgresql://`` URL (a PostgreSQL store is always shared).
    ``shared``: other processes write the same SQLite file (a bus is configured);
    ``synchronous``: SQLite's ``store.synchronous``; ``batch_max``: most jobs per commit;
    ``create``: make an SQLite database where there is none (else ``open`` raises NoDatabase);
    ``read_only``: a command that only reads an SQLite database, changing no file (``chatd.store.sqlitefile``).
    Nothing is opened until ``Store.open``. StoreUnavailable if psycopg is missing."""
    if is_postgres(url):
        try:
            from chatd.store.postgres import PostgresStore
        except ImportError as e:
            raise StoreUnavailable(f"a postgresql:// database needs psycopg 3 ({e}): "
                                   f"pip install 'chatd[cluster]'") from None
        return PostgresStore(url, batch_max=batch_max)
    from chatd.store.sqlite import SqliteStore

    return SqliteStore(url, synchronous, batch_max, shared=shared, create=create, read_only=read_only)

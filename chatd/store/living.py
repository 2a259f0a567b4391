"""Who a write is on behalf of, checked in the write's own transaction: the user exists and
is not deleted (``chatd.store.userdata``: kind ``deleted``).

A check made before the write (a read, or the hub's sessions) races a deletion: the
deletion's first step (``erase_identity``) may commit between the check and the write,
and the write then lands after the deletion's tombstones (a message left with its
author's name, a reaction, a room it created, a file it owns). Made in the writer job,
inside the write's transaction, the check and the write are one step: either the write
committed before the erasure (which then takes it back with the rest) or it sees the
user deleted and writes nothing. SQLite has one writer at a time (BEGIN IMMEDIATE when
several processes share the file); on PostgreSQL the check takes the user row FOR KEY
SHARE (as the message's foreign key does anyway) and the erasure takes it FOR UPDATE, so
each waits for the other's commit.

    name = living(store, user_id)                    # in a writer job → its name; UserDeleted, NoSuchUser
    name = living(store, to_id, RecipientDeleted)    # the user written to
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chatd.store.rows import NoSuchUser

if TYPE_CHECKING:
    from chatd.store import Store

DELETED = "deleted"  # the kind of a deleted user (chatd.store.userdata names it too)


class UserDeleted(Exception):
    """The user a write acts as (an author, a reactor, a room's creator, an uploader) was deleted;
    ``args[0]``: its id."""


class RecipientDeleted(Exception):
    """The user a private message is to was deleted; ``args[0]``: its id."""


def living(store: Store, user_id: int, deleted: type[Exception] = UserDeleted) -> str:
    """In a writer job: the name of user ``user_id``, which exists and is not deleted (see the
    module); NoSuchUser, or ``deleted(user_id)`` for a deleted user. One primary-key probe."""
    # The driver's own connection (sqlite3, psycopg): this runs with every message.
    found = store.db.connection().execute(store._q('SELECT name, kind FROM "user" WHERE id = ?') + store.share_user,
                                          (user_id,)).fetchone()
    if found is None:
        raise NoSuchUser(user_id)
    if found[1] == DELETED:
        raise deleted(user_id)
    return found[0]

"""Changes to stored messages in the store (``chatd.store.changes``), on SQLite and PostgreSQL:
one change counter in commit order, reactions with their caps, a tombstone dropping them, and a
database from before edits getting their columns and tables."""

from __future__ import annotations

import asyncio

from chatd.store import Draft, now_ms
from chatd.store.changes import DELETED, PER_MESSAGE, PER_USER, Caps, revision_now
from chatd.store.schema import MESSAGE_REV
from tests.stores import migrations_until, new_user, opened, save

CAPS = Caps(per_message=2, per_user=1)


async def message(store, text: str = "hi") -> tuple[int, int]:
    """(message id, sender id) of a new room message."""
    sender = await new_user(store, f"u{now_ms()}{text}")
    room = store.rooms()[0][0] if store.rooms() else await store.create_room("lobby", "")
    stored = await save(store, Draft(sender, "u", text, room_id=room, room_name="lobby"))
    return stored.row.id, sender


async def test_changes_are_numbered_in_order_and_reactions_keep_their_caps(any_store):
    store = any_store
    first = await store.read(lambda: revision_now(store))
    message_id, alice = await message(store)
    bob, carol = await new_user(store, "bob"), await new_user(store, "carol")

    # Two nodes' writers at once (here: many jobs in one batch): every change its own number.
    done = await asyncio.gather(store.changes.react(message_id, alice, "👍", now_ms(), CAPS),
                                store.changes.react(message_id, bob, "🎉", now_ms(), CAPS),
                                store.changes.react(message_id, carol, "🚀", now_ms(), CAPS),
                                store.changes.react(message_id, bob, "👍", now_ms(), CAPS))
    assert [(d.changed, d.refused) for d in done] == [(True, None), (True, None),
                                                      (False, PER_MESSAGE), (False, PER_USER)], "which cap each hit"
    assert done[1].row.rev > done[0].row.rev > first
    assert [(r.emoji, r.count) for r in done[1].row.reactions] == [("👍", 1), ("🎉", 1)]
    again = await store.changes.react(message_id, alice, "👍", now_ms(), CAPS)
    assert (again.changed, again.row.rev) == (False, done[1].row.rev), "nothing changed: no number drawn for it"

    edited = await store.changes.edit(message_id, alice, "hi!", 1234)
    assert (edited.text, edited.edited) == ("hi!", 1234) and edited.rev > done[1].row.rev
    (tomb,) = await store.moderation.delete(message_id)
    assert tomb.rev > edited.rev and tomb.reactions == ()
    assert await store.changes.edit(message_id, alice, "back", 1) is None
    assert (await store.changes.react(message_id, carol, "🚀", now_ms(), CAPS)).refused == DELETED
    gone = await store.changes.message(message_id)
    assert gone.reactions == () and gone.text == ""


async def test_a_database_from_before_edits_gets_their_columns_and_tables(store_url, monkeypatch):
    before = migrations_until(monkeypatch, "_v18_edits")
    store = opened(store_url)
    message_id, alice = await message(store)
    with store.db.connection_context():  # as the chatd before edits left it
        for sql in ('DROP INDEX "message_rev"', "DROP TABLE reaction", "DROP TABLE counter",
                    "ALTER TABLE message DROP COLUMN edited", "ALTER TABLE message DROP COLUMN reply_to",
                    "ALTER TABLE message DROP COLUMN rev"):
            store.db.execute_sql(sql)
        store.db.execute_sql(store._q("UPDATE meta SET value = ? WHERE key = 'schema_version'"), (str(before),))
    store.close()
    store = opened(store_url)
    try:
        assert (await store.read(lambda: revision_now(store))) == 0
        done = await store.changes.react(message_id, alice, "👍", now_ms(), CAPS)
        assert done.changed and done.row.rev == 1
        assert (await store.read(lambda: revision_now(store))) == 1
        with store.db.connection_context():
            assert store.db.execute_sql(store._q("SELECT name FROM counter")).fetchall() == [(MESSAGE_REV,)]
    finally:
        store.close()

"""Tombstones, mutes and bans in the store (chatd.store.moderation), on SQLite and PostgreSQL."""

from __future__ import annotations

from chatd.protocol.frames import message_frame
from chatd.store import Draft
from chatd.store.moderation import tombstone
from chatd.store.schema import now_ms
from tests.stores import migrations_until, new_user, opened, save, set_back


async def test_a_tombstone_keeps_the_id_and_loses_the_text_in_history(any_store):
    lobby = await any_store.create_room("lobby", "")
    alice = await new_user(any_store, "alice")
    bob = await new_user(any_store, "bob")
    kept = await save(any_store, Draft(alice, "alice", "hello", "c1", room_id=lobby, room_name="lobby"))
    gone = await save(any_store, Draft(alice, "alice", "a secret", "c2", room_id=lobby, room_name="lobby"))
    private = await save(any_store, Draft(alice, "alice", "psst", "c3", recipient_id=bob))

    (row,) = await any_store.moderation.delete(gone.row.id)
    assert (row.id, row.text, row.room) == (gone.row.id, "", "lobby") and row.deleted >= gone.row.ts
    assert await any_store.moderation.delete(gone.row.id) == [], "deleted already: nothing more to do"
    assert await any_store.moderation.delete(10**12) == [], "no such message"

    page = await any_store.room_history(lobby, before=None, after=None, limit=10)
    assert [message_frame(r) for r in page.rows] == [
        message_frame(kept.row),
        {"type": "message", "id": gone.row.id, "room": "lobby", "ts": gone.row.ts, "deleted": True}]
    (private_row,) = await any_store.moderation.delete(private.row.id)
    page = await any_store.private_history(bob, before=None, after=None, limit=10)
    assert message_frame(page.rows[0]) == {"type": "message", "id": private.row.id,
                                           "to": {"id": bob, "name": "bob"}, "from": {"id": alice, "name": "alice"},
                                           "ts": private.row.ts, "deleted": True}
    assert private_row.deleted is not None
    text = await any_store.read(lambda: any_store.db.execute_sql(any_store._q("SELECT text FROM message WHERE id = ?"),
                                                                 (gone.row.id,)).fetchone()[0])
    assert text == "", "the text is gone from the store itself"


async def test_many_messages_become_tombstones_in_one_writer_job(any_store):
    lobby = await any_store.create_room("lobby", "")
    alice = await new_user(any_store, "alice")
    ids = [(await save(any_store, Draft(alice, "alice", f"m{i}", f"c{i}", room_id=lobby, room_name="lobby"))).row.id
           for i in range(1203)]
    rows = await any_store.writer.run(lambda: tombstone(any_store, ids[::-1] + ids[:5], now_ms()))
    assert [r.id for r in rows] == ids and all(r.text == "" and r.deleted for r in rows)


async def test_mutes_and_bans_in_force_are_read_back_and_replaced(any_store):
    lobby = await any_store.create_room("lobby", "")
    alice = await new_user(any_store, "alice")
    now = now_ms()
    await any_store.moderation.mute(alice, lobby, now + 60_000, "spam")
    again = (await any_store.moderation.mute(alice, lobby, None, "more spam")).sanction  # replaces the one in lobby
    everywhere = (await any_store.moderation.mute(alice, None, now - 1, "ended")).sanction
    ban = (await any_store.moderation.ban(alice, None, None, "for good")).sanction
    net = (await any_store.moderation.ban(None, "203.0.113.0/24", now + 1000, "a bot farm")).sanction
    mutes, bans = await any_store.moderation.active(now)
    assert mutes == [again] and bans == [ban, net]
    assert everywhere.until < now
    assert await any_store.moderation.unmute(alice, lobby) is True
    assert await any_store.moderation.unmute(alice, lobby) is False
    assert await any_store.moderation.unban(ban.id) == ban
    assert await any_store.moderation.unban(ban.id) is None
    assert await any_store.moderation.active(now) == ([], [net])


async def test_a_shorter_mute_or_ban_leaves_the_longer_one_in_force(any_store):
    lobby = await any_store.create_room("lobby", "")
    alice = await new_user(any_store, "alice")
    now = now_ms()
    mute = (await any_store.moderation.mute(alice, lobby, now + 60_000, "spam")).sanction
    assert await any_store.moderation.mute(alice, lobby, now + 1000, "less") == (mute, True)
    everywhere = await any_store.moderation.mute(alice, None, now + 1000, "elsewhere")
    assert not everywhere.kept, "another place: its own mute"
    ban = (await any_store.moderation.ban(alice, None, None, "for good")).sanction
    assert await any_store.moderation.ban(alice, None, now + 1000, "shorter") == (ban, True)
    longer = await any_store.moderation.ban(None, "203.0.113.0/24", now + 60_000, "a bot farm")
    assert await any_store.moderation.ban(None, "203.0.113.0/24", now + 1000, "") == (longer.sanction, True)
    replaced = await any_store.moderation.ban(None, "203.0.113.0/24", None, "for good")
    assert not replaced.kept, "a longer one replaces it"
    assert await any_store.moderation.active(now) == ([mute, everywhere.sanction], [ban, replaced.sanction])


async def test_a_database_from_before_moderation_gets_it(tmp_path, monkeypatch):
    before = migrations_until(monkeypatch, "_v13_moderation")
    path = str(tmp_path / "chatd.db")
    store = opened(path)
    lobby = await store.create_room("lobby", "")
    alice = await new_user(store, "alice")
    old = await save(store, Draft(alice, "alice", "from before", "c1", room_id=lobby, room_name="lobby"))
    store.close()
    set_back(path, before, "DROP TABLE mute", "DROP TABLE ban", "ALTER TABLE message DROP COLUMN deleted")
    store = opened(path)
    try:
        page = await store.room_history(lobby, before=None, after=None, limit=10)
        assert page.rows == [old.row] and page.rows[0].deleted is None
        assert [r.id for r in await store.moderation.delete(old.row.id)] == [old.row.id]
    finally:
        store.close()

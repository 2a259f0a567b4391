"""Bots in the store (chatd.store.bots), on SQLite and PostgreSQL."""

from __future__ import annotations

from chatd.session import BOT
from chatd.store.schema import User
from tests.stores import migrations_until, new_user, opened, set_back

URL = "https://bots.example/hook"


def key(n: int = 0) -> tuple[str, str]:
    """A bot's API key as the store takes it: (public id, digest)."""
    return (f"{n:012x}", "0" * 64)


async def test_a_bot_is_a_user_with_a_webhook_a_secret_and_rooms(any_store):
    lobby = await any_store.create_room("lobby", "")
    other = await any_store.create_room("other", "")
    await new_user(any_store, "alice")
    bot = await any_store.bots.create("helper", URL, "ab" * 32, [lobby, other, lobby], key())
    (row,) = await any_store.bots.all()
    assert (row.user_id, row.name, row.webhook_url, row.secret, row.room_ids) == (bot, "helper", URL, "ab" * 32,
                                                                                    (lobby, other))
    assert await any_store.user_name(bot) == "helper"
    # A user of kind bot: its name may be shared as app users' are, and its ref says "bot" (chatd.session).
    assert await any_store.read(lambda: User.select(User.kind).where(User.id == bot).scalar(any_store.db)) == BOT
    assert await any_store.bots.update(bot, name="helper2", webhook_url=URL + "2", secret="cd" * 32, room_ids=[other])
    (row,) = await any_store.bots.all()
    assert (row.name, row.webhook_url, row.secret, row.room_ids) == ("helper2", URL + "2", "cd" * 32, (other,))
    assert not await any_store.bots.update(bot + 1, name="x")


async def test_a_removed_room_leaves_its_bots_and_a_deleted_bot_keeps_its_user(any_store):
    lobby = await any_store.create_room("lobby", "")
    bot = await any_store.bots.create("helper", URL, "ab" * 32, [lobby], key())
    assert await any_store.delete_room(lobby)
    (row,) = await any_store.bots.all()
    assert row.room_ids == ()
    assert await any_store.bots.delete(bot)
    assert not await any_store.bots.delete(bot)
    assert await any_store.bots.all() == []
    assert await any_store.user_name(bot) == "helper"  # its messages still name it


async def test_bots_are_read_at_start_up(store_url):
    store = opened(store_url)
    try:
        bot = await store.bots.create("helper", URL, "ab" * 32, [], key())
    finally:
        store.close()
    store = opened(store_url)
    try:
        assert [row.user_id for row in store.bots.load()] == [bot]
    finally:
        store.close()


async def test_a_database_from_before_bots_gets_them(tmp_path, monkeypatch):
    before = migrations_until(monkeypatch, "_v11_bots")
    path = str(tmp_path / "chatd.db")
    store = opened(path)
    store.close()
    set_back(path, before, "DROP TABLE bot_room", "DROP TABLE bot")
    store = opened(path)
    try:
        assert await store.bots.create("helper", URL, "ab" * 32, [], key()) > 0
    finally:
        store.close()

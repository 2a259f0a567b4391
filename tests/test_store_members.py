"""Members-only rooms in the store (``chatd.store.members``) on a real SQLite file
and a real PostgreSQL database: the flag, members of both sources, the token
claim's replacement, the app's deletion, and the migration to them."""

from __future__ import annotations

import pytest

from chatd.store import Draft, NoSuchUser
from chatd.store.migrations import MIGRATIONS, _v8_room_members
from chatd.store.schema import MODELS
from tests.stores import new_user, save


async def test_a_members_only_room_keeps_its_flag_and_members_of_either_source(any_store):
    alice, bob = await new_user(any_store, "alice"), await new_user(any_store, "bob")
    club = await any_store.create_room("club", "members", None, members_only=True)
    open_room = await any_store.create_room("hall", "", None)
    assert any_store.room_uses()[club].members_only and not any_store.room_uses()[open_room].members_only
    assert await any_store.members.add(club, [alice, bob], "api") == {alice, bob}
    assert await any_store.members.add(club, [alice], "api") == set(), "added twice: one membership"
    assert await any_store.members.add(club, [alice], "token") == set(), "a member already, by the other source"
    assert await any_store.members.room_members(club) == ([(alice, "alice", ["api", "token"]), (bob, "bob", ["api"])],
                                                          False)
    assert await any_store.members.room_members(club, limit=1) == ([(alice, "alice", ["api", "token"])], True)
    assert await any_store.members.room_members(club, after=alice) == ([(bob, "bob", ["api"])], False)
    assert await any_store.members.remove(club, alice, "api") is True, "still a member through its token"
    assert await any_store.members.remove(club, alice, None) is False
    assert not await any_store.members.is_member(club, alice) and await any_store.members.is_member(club, bob)
    with any_store.db.connection_context():
        assert any_store.members.memberships() == {club: {bob}}


async def test_adding_an_unknown_user_adds_nobody(any_store):
    alice = await new_user(any_store, "alice")
    club = await any_store.create_room("club", "", None, members_only=True)
    with pytest.raises(NoSuchUser) as refused:
        await any_store.members.add(club, [alice, 999_999], "api")
    assert refused.value.args == (999_999,)
    assert await any_store.members.room_members(club) == ([], False)


async def test_a_token_claim_replaces_the_token_memberships_and_leaves_the_api_ones(any_store):
    alice = await new_user(any_store, "alice")
    a, b, c = [await any_store.create_room(name, "", None, members_only=True) for name in ("a", "b", "c")]
    await any_store.members.add(c, [alice], "api")
    assert await any_store.members.set_token_rooms(alice, {a, b}) == ({a, b}, set())
    assert await any_store.members.set_token_rooms(alice, {b, c, 424242}) == (set(), {a}), \
        "c is hers through the API already; a room that does not exist is skipped"
    assert await any_store.members.set_token_rooms(alice, set()) == (set(), {b})
    assert [m[0] for m in (await any_store.members.room_members(c))[0]] == [alice]


async def test_the_apps_deletion_takes_the_room_its_messages_and_members(any_store):
    alice = await new_user(any_store, "alice")
    club = await any_store.create_room("club", "", None, members_only=True)
    await any_store.members.add(club, [alice], "api")
    await save(any_store, Draft(alice, "alice", "hi", room_id=club, room_name="club"))
    assert await any_store.members.update_room(club, "new topic", False) is True
    assert (await any_store.read(any_store.room_rows))[-1] == (club, "club", "new topic", None, False, False, False)
    assert await any_store.members.delete_room(club) is True
    assert await any_store.members.delete_room(club) is False
    assert await any_store.members.update_room(club, None, True) is False
    assert (await any_store.room_history(club, before=None, after=None, limit=10)).rows == []
    assert await any_store.members.room_members(club) == ([], False)
    await any_store.create_room("club", "", None)  # the name (and its keys) are free again


async def test_the_migration_step_gives_every_room_of_an_older_database_open(any_store):
    """The step itself on both dialects (the chain from version 1 runs in
    tests/test_store_rooms.py): a database without this step's table and column
    gets them, its rooms all open."""
    any_store.ensure_rooms(["lobby"])
    db = any_store.db
    with db.connection_context(), db.bind_ctx(MODELS):
        db.execute_sql("DROP TABLE room_member")
        db.execute_sql("ALTER TABLE room DROP COLUMN members_only")
        with db.atomic():
            _v8_room_members(db)
    lobby = any_store.rooms()[0][0]
    assert not any_store.room_uses()[lobby].members_only
    alice = await new_user(any_store, "alice")
    club = await any_store.create_room("club", "", None, members_only=True)
    assert await any_store.members.add(club, [alice], "token") == {alice}
    assert _v8_room_members in MIGRATIONS

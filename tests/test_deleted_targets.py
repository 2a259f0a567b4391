"""Writes that name a deleted user as whom they are for or about — a room membership, a mute, a ban —
and rows a deleted user's old tokens would bring back (a sign-in, a name held, its token rooms), on a
real server with real clients: each is refused (``recipient_deleted``, HTTP 410; a token:
``bad_token`` with cause ``account_deleted``) or written before the erasure, which takes it back;
nothing is left naming the deleted user (docs/operations.md, "User data")."""

from __future__ import annotations

import asyncio

import pytest

from chatd.store import UserDeleted
from tests.adminclient import ROOT, admin_login
from tests.apiclient import api_call, api_key
from tests.test_deletion_races import called, count, erasure_queued, raced, uid

NOT_STORED_SIGN_IN = 10**6  # a sign-in id this database never handed out (a token of a database a restore replaced)


async def deleted(server, user) -> int:
    """A user made and deleted; → its id."""
    gone = await user("gone")
    await server.chat.user_care.delete(ROOT, uid(gone))
    return uid(gone)


async def test_a_deleted_user_is_not_made_a_member_and_nobody_is_added_with_it(server, user):
    manage = api_key(server, "manage", "read")
    await api_call(server, "POST", "/rooms", {"name": "team-7", "members_only": True}, key=manage)
    gid, alice = await deleted(server, user), await user("alice")
    status, body, _ = await api_call(server, "POST", "/rooms/team-7/members", {"user_ids": [uid(alice), gid]},
                                     key=manage)
    assert (status, body["error"]["code"]) == (410, "recipient_deleted"), body
    assert f"user {gid} was deleted" in body["error"]["message"]
    assert await count(server, "SELECT count(*) FROM room_member") == 0, "all or none: alice is no member either"
    status, body, _ = await api_call(server, "GET", "/rooms/team-7/members", key=manage)
    assert body["members"] == []


async def test_a_member_added_while_it_is_deleted_is_refused_and_not_kept(server, user, monkeypatch):
    manage = api_key(server, "manage")
    await api_call(server, "POST", "/rooms", {"name": "team-7", "members_only": True}, key=manage)
    gone = await user("gone")
    adding = called(server.store.members, "add", monkeypatch)
    status, body, _ = await raced(server, uid(gone), lambda: api_call(
        server, "POST", "/rooms/team-7/members", {"user_ids": [uid(gone)]}, key=manage), adding)
    assert (status, body["error"]["code"]) == (410, "recipient_deleted"), body
    assert await count(server, "SELECT count(*) FROM room_member") == 0


async def test_an_app_tokens_rooms_are_not_made_memberships_of_a_deleted_user(server, user):
    manage = api_key(server, "manage")
    await api_call(server, "POST", "/rooms", {"name": "team-7", "members_only": True}, key=manage)
    gid = await deleted(server, user)
    with pytest.raises(UserDeleted):
        await server.chat.room_admin.set_token_rooms(gid, ["team-7"])
    assert await count(server, "SELECT count(*) FROM room_member") == 0


@pytest.mark.parametrize("path, body", [("/moderation/mutes", {}), ("/moderation/mutes", {"room": "lobby"}),
                                        ("/moderation/bans", {})])
async def test_a_deleted_user_is_neither_muted_nor_banned(server, user, path, body):
    gid = await deleted(server, user)
    admin = await admin_login(server)
    status, answer, _ = await admin.call("POST", path, {"user": gid, **body})
    assert (status, answer["error"]["code"]) == (410, "recipient_deleted"), answer
    assert await count(server, "SELECT count(*) FROM mute") + await count(server, "SELECT count(*) FROM ban") == 0
    assert (await admin.call("GET", "/moderation"))[1] == {"mutes": [], "bans": []}


async def test_a_mute_placed_while_the_user_is_deleted_is_refused_and_not_kept(server, user, monkeypatch):
    gone = await user("gone")
    admin = await admin_login(server)
    muting = called(server.store.moderation, "mute", monkeypatch)
    status, answer, _ = await raced(server, uid(gone), lambda: admin.call(
        "POST", "/moderation/mutes", {"user": uid(gone)}), muting)
    assert (status, answer["error"]["code"]) == (410, "recipient_deleted"), answer
    assert await count(server, "SELECT count(*) FROM mute") == 0


async def test_a_resume_whose_sign_in_is_made_while_the_user_is_deleted_makes_none(server, user, connect,
                                                                                  monkeypatch):
    gone = await user("gone")
    await gone.close()
    # A token whose sign-in this database does not hold: the resume stores one for it (SignInStore.ensure).
    token = server.chat.tokens.issue(uid(gone), server.store.epoch.id, NOT_STORED_SIGN_IN, generation=0)
    again = await connect()
    ensuring = called(server.store.sign_ins, "ensure", monkeypatch)
    async with erasure_queued(server, uid(gone)):
        answer = asyncio.ensure_future(again.request("identify", token=token))
        await ensuring.wait()
    refused = await answer
    assert (refused["code"], refused["cause"]) == ("bad_token", "account_deleted"), refused
    assert await count(server, "SELECT count(*) FROM sign_in WHERE user_id = ?", uid(gone)) == 0


async def test_a_resume_while_the_user_is_deleted_leaves_no_name_held_for_it(server, user, connect, monkeypatch):
    gone = await user("gone")
    token = gone.welcome["token"]
    await gone.close()
    again = await connect()
    holding = called(server.store.name_holds, "online", monkeypatch)
    async with erasure_queued(server, uid(gone)):
        resumed = await again.request("identify", token=token)  # read before the erasure: welcomed, then kicked
        await holding.wait()
    assert resumed["type"] == "welcome", resumed
    await server.store.writer.run(lambda: None)  # the name hold's write, queued before, is done
    assert await count(server, "SELECT count(*) FROM name_hold WHERE user_id = ?", uid(gone)) == 0


async def test_the_history_with_a_deleted_user_says_its_account_was_deleted(server, user):
    bob, gone = await user("bob"), await user("gone")
    await gone.request("say", to=uid(bob), text="hello bob")
    await server.chat.user_care.delete(ROOT, uid(gone))
    answer = await bob.request("history", **{"with": uid(gone)})
    assert answer["type"] == "history" and answer["account_deleted"] is True, answer
    assert [m["from"]["name"] for m in answer["messages"]] == ["[deleted]"]
    alive = await bob.request("history", **{"with": uid(bob)})
    assert "account_deleted" not in alive, alive


async def test_a_resume_that_read_the_user_before_its_deletion_ended_its_sessions_is_refused(
        server, user, connect, monkeypatch):
    gone = await user("gone")
    token, gid = gone.welcome["token"], uid(gone)
    await gone.close()
    read = server.store.sign_ins.state

    async def read_then_deleted(*args):  # the user read as it was, then deleted and its sessions ended
        state = await read(*args)
        await server.chat.user_care.delete(ROOT, gid)
        return state

    monkeypatch.setattr(server.store.sign_ins, "state", read_then_deleted)
    again = await connect()
    refused = await again.request("identify", token=token)
    assert (refused["code"], refused["cause"]) == ("bad_token", "account_deleted"), refused
    assert gid not in server.chat.hub.users, "no session of a deleted user lives on"


async def test_a_notification_not_stored_to_a_deleted_user_is_refused_as_a_stored_one_is(server, user):
    gid = await deleted(server, user)
    publish = api_key(server, "publish")
    for store in (False, True):
        status, body, _ = await api_call(server, "POST", "/events", {"to": gid, "name": "order.shipped",
                                                                      "store": store}, key=publish)
        assert (status, body["error"]["code"]) == (410, "recipient_deleted"), (store, body)


async def test_the_api_history_with_a_deleted_user_says_its_account_was_deleted(server, user):
    bob, gone = await user("bob"), await user("gone")
    await gone.request("say", to=uid(bob), text="hello bob")
    await server.chat.user_care.delete(ROOT, uid(gone))
    read = api_key(server, "read")
    status, body, _ = await api_call(server, "GET", f"/users/{uid(bob)}/history?with={uid(gone)}", key=read)
    assert status == 200 and body["account_deleted"] is True and len(body["messages"]) == 1, body
    status, body, _ = await api_call(server, "GET", f"/users/{uid(gone)}/history?with={uid(bob)}", key=read)
    assert status == 200 and "account_deleted" not in body, body

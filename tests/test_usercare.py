"""A user's data (``chatd.usercare``, ``chatd.store.userdata``): its export, and its
deletion leaving tombstones and nothing identifying, with its sessions ended on
every node; two nodes of one database (SQLite, and PostgreSQL)."""

from __future__ import annotations

import asyncio
import json

import pytest

from chatd.audit import cli_actor
from chatd.protocol.codes import ProtocolError
from chatd.store.userdata import ANONYMOUS
from chatd.usercare import erase_blocking
from tests.adminclient import ROOT
from tests.conftest import until
from tests.test_uploads import upload


def uid(client) -> int:
    return client.welcome["user"]["id"]


async def alice_and_bob(two_nodes, web_app):
    """alice (an app user, on a and b) and bob (a guest, on b) in the lobby, a private word each way."""
    a, b = two_nodes.nodes
    token = web_app.token("shop-7", name="Alice Liddell", roles=["member"], avatar="https://x.example/a.png")
    alice_a = await (await two_nodes.client(a)).enter("lobby", app_token=token)
    alice_b = await (await two_nodes.client(b)).enter("lobby", token=alice_a.welcome["token"])
    bob = await two_nodes.user(b, "bob", "lobby")
    said = [(await alice_a.say("lobby", f"hello {i}"))["id"] for i in range(3)]
    to_bob = (await alice_a.request("say", to=uid(bob), text="psst bob"))["id"]
    to_alice = (await bob.request("say", to=uid(alice_a), text="hi alice"))["id"]
    await a.chat.room_admin.create("club", "", members_only=True)
    await a.chat.room_admin.add_members("club", [uid(alice_a)])
    return alice_a, alice_b, bob, said, to_bob, to_alice


async def export_of(server, user_id: int) -> dict:
    return json.loads("".join([piece async for piece in server.chat.user_care.export(ROOT, user_id)]))


async def test_the_export_holds_the_profile_memberships_messages_and_private_conversations(two_nodes, web_app):
    a, _ = two_nodes.nodes
    alice, _, bob, said, to_bob, to_alice = await alice_and_bob(two_nodes, web_app)
    data = await export_of(a, uid(alice))
    assert data["user"] | {"created": 0} == {"id": uid(alice), "name": "Alice Liddell", "kind": "app",
                                            "created": 0, "external_id": "shop-7", "roles": ["member"],
                                            "avatar": "https://x.example/a.png"}
    assert [(m["room"], m["source"]) for m in data["memberships"]] == [("club", "api")]
    assert [(m["id"], m["room"], m["text"]) for m in data["messages"]] == [
        (i, "lobby", f"hello {n}") for n, i in enumerate(said)]
    assert [(m["id"], m["from"]["id"], m["to"]["id"], m["text"]) for m in data["private"]] == [
        (to_bob, uid(alice), uid(bob), "psst bob"), (to_alice, uid(bob), uid(alice), "hi alice")]
    assert data["uploads"] == [] and data["reactions"] == []
    assert (await a.store.audit.page(None, 5)).rows[0]["action"] == "user.export"

    await a.chat.moderation.delete(ROOT, said[1])  # a tombstone says so, as the chat log's export does
    messages = (await export_of(a, uid(alice)))["messages"]
    assert [(m["id"], m["text"], m["deleted"]) for m in messages] == [
        (said[0], "hello 0", False), (said[1], "", True), (said[2], "hello 2", False)]


async def test_the_export_lists_the_users_files_and_reactions(two_nodes, web_app):
    a, _ = two_nodes.nodes
    alice, _, bob, said, *_ = await alice_and_bob(two_nodes, web_app)
    code, sent = await upload(a, alice.welcome["token"], b"minutes of the meeting\n", name="minutes.txt")
    assert code == 201, sent
    with_file = await alice.request("say", room="lobby", text="the minutes", attachments=[sent["id"]])
    assert (await bob.request("react", id=said[0], emoji="\N{THUMBS UP SIGN}"))["type"] == "done"
    assert (await alice.request("react", id=said[1], emoji="\N{PARTY POPPER}"))["type"] == "done"

    data = await export_of(a, uid(alice))
    assert [(f["id"], f["name"], f["url"], f["message"]) for f in data["uploads"]] == [
        (sent["id"], "minutes.txt", sent["url"], with_file["id"])]
    assert [(r["message"], r["emoji"]) for r in data["reactions"]] == [(said[1], "\N{PARTY POPPER}")]


async def test_an_export_is_read_a_page_at_a_time(two_nodes, web_app, monkeypatch):
    from chatd.store import userdata

    a, _ = two_nodes.nodes
    alice, *_ = await alice_and_bob(two_nodes, web_app)
    monkeypatch.setattr(userdata, "PAGE_ROWS", 2)
    pieces = [piece async for piece in a.chat.user_care.export(ROOT, uid(alice))]
    assert len(pieces) >= 5, "3 messages in pages of 2, each a piece"
    assert len(json.loads("".join(pieces))["messages"]) == 3


async def test_a_deleted_user_leaves_tombstones_and_nothing_identifying_and_its_sessions_end_everywhere(
        two_nodes, web_app):
    a, b = two_nodes.nodes
    alice_a, alice_b, bob, said, to_bob, to_alice = await alice_and_bob(two_nodes, web_app)
    user_id = uid(alice_a)

    made = await a.chat.user_care.delete(ROOT, user_id, reason="asked to be forgotten")
    assert made == 4  # three room messages and one private
    for tab in (alice_a, alice_b):
        kicked = await tab.expect("kicked")  # on both nodes: the cause crosses the bus
        assert kicked == {"type": "kicked", "reason": "this account was deleted", "cause": "account_deleted",
                          "default": True}
    for message_id in said:  # bob's page loses them at once
        await bob.expect("deleted", id=message_id)
    history = await bob.request("history", room="lobby")
    tombstones = [m for m in history["messages"] if m["id"] in said]
    assert [m["id"] for m in tombstones] == said
    assert all(m["deleted"] is True and set(m) == {"type", "id", "room", "ts", "deleted"} for m in tombstones)

    def stored() -> tuple:
        db, q = a.store.db, a.store._q
        user = db.execute_sql(q('SELECT name, kind, external_id, roles, avatar FROM "user" WHERE id = ?'),
                              (user_id,)).fetchall()
        messages = json.dumps(db.execute_sql("SELECT * FROM message").fetchall())
        left = [db.execute_sql(q(f"SELECT count(*) FROM {table} WHERE user_id = ?"), (user_id,)).fetchone()[0]
                for table in ("sign_in", "room_member")]
        return user, messages, left

    user, messages, left = await a.store.read(stored)
    assert user == [(ANONYMOUS, "deleted", None, "[]", None)]
    for identifying in ("Alice", "hello", "psst", "shop-7"):
        assert identifying not in messages
    assert "hi alice" in messages, "bob's words stay, to a nameless recipient"
    assert left == [0, 0]
    await until(lambda: user_id not in b.hub.room("club").allowed, what="out of the club everywhere")

    again = await (await two_nodes.client(b)).identify(token=alice_a.welcome["token"])
    assert again["code"] == "bad_token", "its tokens are refused"
    fresh = await (await two_nodes.client(a)).identify(app_token=web_app.token("shop-7", name="Alice Liddell"))
    assert fresh["type"] == "welcome" and fresh["user"]["id"] != user_id, "the app's next token is a new user"
    assert [u for u in await a.chat.user_care.find("Alice Liddell") if u[0] == user_id] == []
    assert await a.chat.user_care.find(str(user_id)) == [(user_id, ANONYMOUS, "deleted")], "found by id, to redo"
    audit = (await a.store.audit.page(None, 5)).rows[0]
    assert (audit["action"], audit["target"], audit["reason"]) == ("user.delete", f"user:{user_id}",
                                                                    "asked to be forgotten")

    assert await b.chat.user_care.delete(ROOT, user_id) == 0, "deleting again finds nothing more to do"
    audit = (await a.store.audit.page(None, 5)).rows[0]
    assert (audit["action"], audit["detail"]) == ("user.delete", {"again": True})


async def test_a_deleted_users_reactions_are_taken_back_live_on_every_node_and_in_history(two_nodes, web_app):
    a, b = two_nodes.nodes
    alice, _, bob, *_ = await alice_and_bob(two_nodes, web_app)
    liked = (await bob.say("lobby", "bob's news"))["id"]
    for who, emoji in ((alice, "\N{THUMBS UP SIGN}"), (alice, "\N{PARTY POPPER}"), (bob, "\N{THUMBS UP SIGN}")):
        assert (await who.request("react", id=liked, emoji=emoji))["type"] == "done"
    for _ in range(3):  # the three reactions, live
        before = (await bob.expect("reactions", id=liked))["rev"]

    await a.chat.user_care.delete(ROOT, uid(alice))
    frame = await bob.expect("reactions", id=liked)
    bobs = {"emoji": "\N{THUMBS UP SIGN}", "count": 1, "users": [{"id": uid(bob), "name": "bob"}]}
    assert frame["reactions"] == [bobs]
    assert frame["rev"] > before
    history = await bob.request("history", room="lobby")
    assert [m["reactions"] for m in history["messages"] if m["id"] == liked] == [frame["reactions"]]
    gone = await a.store.read(lambda: a.store.db.execute_sql(a.store._q(
        "SELECT count(*) FROM reaction WHERE user_id = ?"), (uid(alice),)).fetchone()[0])
    assert gone == 0


async def test_a_user_a_command_erased_is_finished_by_the_server_it_asks_and_every_open_page_sees_it(
        two_nodes, web_app):
    a, b = two_nodes.nodes
    alice_a, alice_b, bob, said, *_ = await alice_and_bob(two_nodes, web_app)  # bob is on node b
    liked = (await bob.say("lobby", "bob's news"))["id"]
    assert (await alice_a.request("react", id=liked, emoji="\N{THUMBS UP SIGN}"))["type"] == "done"
    await bob.expect("reactions", id=liked)

    # `chatd user delete`: the identity erased on the database by the command, then node a asked for the rest
    assert await asyncio.to_thread(erase_blocking, a.store, uid(alice_a), cli_actor(), "asked")
    assert await a.user_deleted(uid(alice_a)) == 4  # three room messages and one private
    for tab in (alice_a, alice_b):
        assert "deleted" in (await tab.expect("kicked"))["reason"]
    for message_id in said:  # as the admin page's deletion sends them: bob's page loses them at once
        await bob.expect("deleted", id=message_id)
    assert (await bob.expect("reactions", id=liked))["reactions"] == []
    refused = await (await two_nodes.client(b)).identify(token=alice_a.welcome["token"])
    assert (refused["code"], refused["message"], refused["cause"]) == (
        "bad_token", "the user's account was deleted", "account_deleted"), "its cause as a field, for the page"


async def test_deleting_a_user_that_is_not_there_or_a_bot_is_refused(two_nodes):
    a, _ = two_nodes.nodes
    with pytest.raises(ProtocolError) as missing:
        await a.chat.user_care.delete(ROOT, 4242)
    assert missing.value.code == "no_such_user"
    bot, *_ = await a.chat.bots.create("helper", "https://hooks.example/h", [])
    with pytest.raises(ProtocolError) as refused:
        await a.chat.user_care.delete(ROOT, bot.user_id)
    assert refused.value.code == "forbidden" and "bot" in refused.value.message

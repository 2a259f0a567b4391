"""Bots (chatd.bots): a mention or a private message calls the bot's webhook; its answer is its reply."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from chatd.protocol.codes import Code, ProtocolError
from chatd.webhooks import EVENT_HEADER, SIGNATURE_HEADER, verify
from tests.conftest import until


@pytest.fixture
def config_overrides():
    return {"webhooks": {"allowed_hosts": ["127.0.0.1"], "backoff_seconds": 0.05},
            "rooms": {"default": ["lobby", "other"]}}


async def test_a_bot_answers_a_mention_through_its_webhook(server, user, hook):
    bot, secret, _ = await server.chat.bots.create("helper", hook.url(), ["lobby"])
    hook.answer((200, json.dumps({"text": "at your service"}).encode()))
    alice = await user("alice", "lobby")
    bob = await user("bob", "lobby")
    ack = await alice.say("lobby", "hello @Helper, are you there?")
    (call,) = await hook.next_request(1)
    assert verify(secret.encode(), call.headers[SIGNATURE_HEADER], call.body, now=time.time())
    assert call.headers[EVENT_HEADER] == "bot.message"
    sent = json.loads(call.body)
    assert sent["bot"] == {"id": bot.user_id, "name": "helper"}
    assert sent["message"] == {"type": "message", "id": ack["id"], "room": "lobby", "ts": ack["ts"],
                               "from": {"id": alice.welcome["user"]["id"], "name": "alice"},
                               "text": "hello @Helper, are you there?"}
    reply = await bob.expect("message", room="lobby", text="at your service")
    assert reply["from"] == {"id": bot.user_id, "name": "helper"}
    await alice.expect("message", room="lobby", text="at your service")


async def test_a_private_message_to_a_bot_is_answered_privately(server, user, hook):
    bot, _, _ = await server.chat.bots.create("helper", hook.url(), [])
    hook.answer((200, b'{"text": "psst"}'))
    alice = await user("alice")
    await alice.request("say", to=bot.user_id, text="no mention needed")
    (call,) = await hook.next_request(1)
    assert json.loads(call.body)["message"]["to"] == {"id": bot.user_id, "name": "helper"}
    reply = await alice.expect("message", text="psst")
    assert reply["to"] == {"id": alice.welcome["user"]["id"], "name": "alice"}
    assert reply["from"]["id"] == bot.user_id


@pytest.mark.parametrize("text", ["@helpers hi", "mail me at a@helper", "@@helper", "helper", "@help"])
async def test_what_is_not_a_mention_calls_nothing(server, user, hook, text):
    await server.chat.bots.create("helper", hook.url(), ["lobby"])
    alice = await user("alice", "lobby")
    await alice.say("lobby", text)
    await alice.say("lobby", "now @helper")  # the one that calls: everything before it was not
    (call,) = await hook.next_request(1)
    assert json.loads(call.body)["message"]["text"] == "now @helper"
    assert len(hook.received) == 1


async def test_a_mention_in_a_room_the_bot_is_not_in_calls_nothing(server, user, hook):
    await server.chat.bots.create("helper", hook.url(), ["other"])
    alice = await user("alice", "lobby", "other")
    await alice.say("lobby", "@helper?")
    await alice.say("other", "@helper!")
    (call,) = await hook.next_request(1)
    assert json.loads(call.body)["message"]["room"] == "other"


async def test_bots_never_set_each_other_off(server, user, hook):
    """Two bots that mention each other in every reply: one call, one reply, no loop."""
    hook.answer((200, b'{"text": "ask @ping or @pong"}'))
    await server.chat.bots.create("ping", hook.url("/ping"), ["lobby"])
    await server.chat.bots.create("pong", hook.url("/pong"), ["lobby"])
    alice = await user("alice", "lobby")
    await alice.say("lobby", "@ping")
    await hook.next_request(1)
    await alice.expect("message", text="ask @ping or @pong")
    await alice.say("lobby", "done")
    await alice.expect("message", text="done")
    assert [r.path for r in hook.received] == ["/ping"]


async def test_a_hanging_webhook_does_not_slow_the_chat(hook, server, user):
    """Every message is acknowledged and delivered while no call to the webhook has been answered:
    nothing waits for it. (``hook`` first: it outlives the server, which gives up the calls.)"""
    hook.answer(None)
    await server.chat.bots.create("helper", hook.url(), ["lobby"])
    alice = await user("alice", "lobby")
    bob = await user("bob", "lobby")
    count = 300
    for n in range(count):
        await alice.send({"type": "say", "room": "lobby", "text": f"@helper {n}", "cid": f"c{n}"})
    for n in range(count):
        assert (await alice.expect_cid(f"c{n}"))["type"] == "ack"
    await bob.expect("message", text=f"@helper {count - 1}")
    concurrency = server.config.webhooks.concurrency
    await hook.next_request(concurrency)
    assert server.chat.webhooks.stats()["sent"] == 0  # none answered, and none will be
    figures = server.chat.webhooks.stats()
    assert figures["running"] == server.config.webhooks.concurrency
    assert figures["queued"] + figures["running"] + figures["dropped"] == count


async def test_a_bots_name_cannot_be_taken_by_a_user(server, connect, hook):
    await server.chat.bots.create("helper", hook.url(), ["lobby"])
    client = await connect()
    for name in ("helper", "HELPER", "hеlper"):  # the last with a Cyrillic е
        refused = await client.identify(name=name)
        assert refused["code"] == Code.NAME_TAKEN, refused


async def test_a_bot_cannot_take_a_name_in_use(server, user, hook):
    await user("alice")
    with pytest.raises(ProtocolError) as refused:
        await server.chat.bots.create("Alice", hook.url(), [])
    assert refused.value.code == Code.NAME_TAKEN
    await server.chat.bots.create("helper", hook.url(), [])
    with pytest.raises(ProtocolError) as refused:
        await server.chat.bots.create("helper", hook.url(), [])
    assert refused.value.code == Code.NAME_TAKEN


async def test_a_guest_cannot_take_the_name_of_a_bot_being_made(server, connect, hook, monkeypatch):
    """The bot's name is reserved from its check on, not from its write: a guest identifying
    meanwhile got the look-alike name, and the bot was made all the same."""
    written, store = asyncio.Event(), server.chat.store.bots
    write = store.create

    async def slow_write(*args, **kwargs):
        await written.wait()
        return await write(*args, **kwargs)

    monkeypatch.setattr(store, "create", slow_write)
    making = asyncio.ensure_future(server.chat.bots.create("kite", hook.url(), []))
    await until(lambda: server.chat.hub.reserved, what="the name reserved")
    refused = await (await connect()).identify(name="KITE")
    assert refused["code"] == Code.NAME_TAKEN, refused
    written.set()
    bot, _, _ = await making
    assert bot.name == "kite"
    assert (await (await connect()).identify(name="Kite"))["code"] == Code.NAME_TAKEN  # the bot's, from now on


@pytest.mark.parametrize(("fields", "code"), [
    ({"name": "two words"}, Code.BAD_NAME), ({"name": "a@b"}, Code.BAD_NAME), ({"name": ""}, Code.BAD_NAME),
    ({"name": 7}, Code.BAD_NAME), ({"webhook_url": "ftp://x.example/"}, Code.BAD_FRAME),
    ({"webhook_url": "https://u:p@x.example/"}, Code.BAD_FRAME), ({"rooms": ["nowhere"]}, Code.NO_SUCH_ROOM),
    ({"rooms": "lobby"}, Code.BAD_FRAME),
])
async def test_bad_bots_are_refused_with_a_reason(server, fields, code):
    with pytest.raises(ProtocolError) as refused:
        await server.chat.bots.create(**{"name": "helper", "webhook_url": "https://x.example/", "rooms": [],
                                         **fields})
    assert refused.value.code == code
    assert server.chat.bots.all() == []


@pytest.mark.parametrize("answer", [b"not json", b'{"text": 7}', b'{"text": ""}', b'{"text": "\\ud800"}',
                                    b'["text"]', b'{"other": 1}', json.dumps({"text": "x" * 5000}).encode()])
async def test_an_answer_that_is_no_reply_posts_nothing(server, user, hook, answer):
    hook.answer((200, answer))
    await server.chat.bots.create("helper", hook.url(), ["lobby"])
    alice = await user("alice", "lobby")
    await alice.say("lobby", "@helper")
    await until(lambda: server.chat.webhooks.stats()["sent"] == 1, what="the call answered")
    await alice.say("lobby", "after")
    await alice.expect("message", text="after")
    assert not [f for f in alice.backlog if f.get("from", {}).get("name") == "helper"]


async def test_a_changed_bot_calls_its_new_webhook_and_a_deleted_one_none(server, user, hook):
    bot, _, _ = await server.chat.bots.create("helper", hook.url("/old"), ["lobby"])
    await server.chat.bots.update(bot.user_id, webhook_url=hook.url("/new"), rooms=["lobby", "other"])
    alice = await user("alice", "lobby", "other")
    await alice.say("other", "@helper")
    (call,) = await hook.next_request(1)
    assert call.path == "/new"
    await server.chat.bots.delete(bot.user_id)
    await alice.say("other", "@helper again")
    await alice.expect("message", text="@helper again")
    await asyncio.sleep(0)  # nothing was queued: the call would have started by now
    assert len(hook.received) == 1 and server.chat.webhooks.stats()["queued"] == 0
    with pytest.raises(ProtocolError):
        await server.chat.bots.delete(bot.user_id)


async def test_bots_are_kept_across_a_restart(server, hook, tmp_path):
    from chatd.server import Server

    bot, _, _ = await server.chat.bots.create("helper", hook.url(), ["lobby"])
    await server.stop(timeout=5)
    again = Server(server.config)
    await again.start()
    try:
        (kept,) = again.chat.bots.all()
        assert (kept.user_id, kept.name, kept.url) == (bot.user_id, "helper", hook.url())
        assert kept.room_ids == {again.hub.room("lobby").id}
    finally:
        await again.stop(timeout=5)

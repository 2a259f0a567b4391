"""``/api/v1/bots`` (chatd.api.bots) against a real server: a bot made over the API answers
through its webhook and posts with its own key, as itself only."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from chatd.webhooks import SIGNATURE_HEADER, verify
from tests.apiclient import api_call, api_key


@pytest.fixture
def config_overrides():
    return {"webhooks": {"allowed_hosts": ["127.0.0.1"]}}


async def test_a_bot_made_over_the_api_answers_and_posts_with_its_own_key(server, user, hook):
    manage = api_key(server, "manage")
    hook.answer((200, b'{"text": "on it"}'))
    status, made, _ = await api_call(server, "POST", "/bots", {"name": "helper", "webhook_url": hook.url(),
                                                               "rooms": ["lobby"]}, key=manage)
    assert status == 201, made
    bot = made["bot"]
    assert bot["name"] == "helper" and bot["rooms"] == ["lobby"]
    alice = await user("alice", "lobby")
    await alice.say("lobby", "@helper deploy")
    (call,) = await hook.next_request(1)
    assert verify(made["webhook_secret"].encode(), call.headers[SIGNATURE_HEADER], call.body, time.time())
    await alice.expect("message", text="on it")
    # Later, through the API, with the bot's key: as the bot, and only as the bot.
    status, sent, _ = await api_call(server, "POST", "/messages", {"room": "lobby", "text": "done"},
                                     key=made["api_key"])
    assert status == 201, sent
    got = await alice.expect("message", text="done")
    assert got["from"] == {"id": bot["id"], "name": "helper"}
    status, refused, _ = await api_call(server, "POST", "/messages",
                                        {"room": "lobby", "text": "x", "as": alice.welcome["user"]["id"]},
                                        key=made["api_key"])
    assert status == 403, refused


async def test_bots_are_listed_changed_and_deleted(server, hook):
    manage = api_key(server, "manage")
    _, made, _ = await api_call(server, "POST", "/bots", {"name": "helper", "webhook_url": hook.url()}, key=manage)
    bot_id = made["bot"]["id"]
    status, listed, _ = await api_call(server, "GET", "/bots", key=manage)
    assert status == 200 and listed == {"bots": [{"id": bot_id, "name": "helper", "webhook_url": hook.url(),
                                                  "rooms": []}]}
    status, changed, _ = await api_call(server, "PATCH", f"/bots/{bot_id}",
                                        {"rooms": ["lobby"], "new_secret": True}, key=manage)
    assert status == 200, changed
    assert changed["bot"]["rooms"] == ["lobby"] and changed["webhook_secret"] != made["webhook_secret"]
    status, deleted, _ = await api_call(server, "DELETE", f"/bots/{bot_id}", key=manage)
    assert (status, deleted) == (200, {"id": bot_id, "deleted": True})
    status, refused, _ = await api_call(server, "POST", "/messages", {"room": "lobby", "text": "x"},
                                        key=made["api_key"])
    assert status == 401, refused  # its key went with it
    status, gone, _ = await api_call(server, "DELETE", f"/bots/{bot_id}", key=manage)
    assert (status, gone["error"]["code"]) == (404, "no_such_user")


@pytest.mark.parametrize(("body", "status", "code"), [
    ({"name": "two words", "webhook_url": "https://x.example/"}, 400, "bad_name"),
    ({"name": "helper", "webhook_url": "ftp://x.example/"}, 400, "bad_request"),
    ({"name": "helper", "webhook_url": "https://x.example/", "rooms": ["nowhere"]}, 404, "no_such_room"),
    ({"name": "helper", "webhook_url": "https://x.example/", "rooms": "lobby"}, 400, "bad_request"),
    ({"name": "helper"}, 400, "bad_request"),
    ({"name": "helper", "webhook_url": "https://x.example/", "extra": 1}, 400, "bad_request"),
])
async def test_bad_bots_are_refused_with_a_stable_code(server, body, status, code):
    manage = api_key(server, "manage")
    got, refused, _ = await api_call(server, "POST", "/bots", body, key=manage)
    assert (got, refused["error"]["code"]) == (status, code), refused
    assert server.chat.bots.all() == []


async def test_a_bots_name_in_use_is_a_conflict_and_managing_needs_the_scope(server, user):
    manage = api_key(server, "manage")
    await user("alice")
    status, refused, _ = await api_call(server, "POST", "/bots", {"name": "alice", "webhook_url": "https://x.example/"},
                                        key=manage)
    assert (status, refused["error"]["code"]) == (409, "name_taken")
    status, refused, _ = await api_call(server, "POST", "/bots", {"name": "b", "webhook_url": "https://x.example/"},
                                        key=api_key(server, "publish"))
    assert (status, refused["error"]["code"]) == (403, "forbidden")
    assert json.dumps(server.chat.bots.all()) == "[]"


async def test_bots_made_or_renamed_at_once_never_get_names_alike(server):
    """The check of the bots' names runs again under the write: of several look-alike names
    asked for at once, one bot gets its name and the others 409."""
    manage = api_key(server, "manage")
    names = ["rbot", "RBOT", "rbot", "Rbot", "rBOT", "RBot"]
    answers = await asyncio.gather(*(api_call(server, "POST", "/bots", {"name": n, "webhook_url": "https://x.example/"},
                                              key=manage) for n in names))
    assert sorted(status for status, _, _ in answers) == [201] + [409] * 5
    assert {body["error"]["code"] for status, body, _ in answers if status == 409} == {"name_taken"}
    assert [bot.name.casefold() for bot in server.chat.bots.all()] == ["rbot"]
    ids = []
    for n in ("one", "two"):
        _, made, _ = await api_call(server, "POST", "/bots", {"name": n, "webhook_url": "https://x.example/"},
                                    key=manage)
        ids.append(made["bot"]["id"])
    answers = await asyncio.gather(*(api_call(server, "PATCH", f"/bots/{bot_id}", {"name": n}, key=manage)
                                     for bot_id, n in zip(ids, ("zed", "ZED"), strict=True)))
    assert sorted(status for status, _, _ in answers) == [200, 409]
    assert sorted(bot.name.casefold() for bot in server.chat.bots.all()) == ["one", "rbot", "zed"] \
        or sorted(bot.name.casefold() for bot in server.chat.bots.all()) == ["rbot", "two", "zed"]

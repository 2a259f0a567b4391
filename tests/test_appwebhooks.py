"""The app webhook (chatd.appwebhooks): users online and offline (debounced), messages posted."""

from __future__ import annotations

import json
import time

import pytest

from chatd.webhooks import EVENT_HEADER, SIGNATURE_HEADER, verify
from tests.conftest import until

SECRET = "7f3a9c1e5b2d8f4a6c0e9b3d7f1a5c8e2b6d0f4a"


@pytest.fixture
def config_overrides(hook_port):
    return {"webhooks": {"allowed_hosts": ["127.0.0.1"], "app_url": f"http://127.0.0.1:{hook_port}/app",
                         "app_secret": SECRET, "presence_debounce_seconds": 2}}  # a reconnect takes far less


@pytest.fixture
def hook_port(hook):
    return hook.port


def events(hook) -> list[tuple[str, dict]]:
    return [(r.headers[EVENT_HEADER], json.loads(r.body)) for r in hook.received]


async def test_online_message_and_offline_are_told_signed(hook, server, user):
    alice = await user("alice", "lobby")
    uid = alice.welcome["user"]["id"]
    ack = await alice.say("lobby", "hi")
    await hook.next_request(2)
    await alice.close()
    await hook.next_request(3)
    (online, first), (message, second), (offline, third) = events(hook)
    assert (online, first["user"]) == ("user_online", {"id": uid, "name": "alice"})
    assert (message, second["message"]["id"], second["message"]["text"]) == ("message", ack["id"], "hi")
    assert (offline, third["user"]) == ("user_offline", {"id": uid, "name": "alice"})
    assert all(verify(SECRET.encode(), r.headers[SIGNATURE_HEADER], r.body, time.time()) for r in hook.received)


async def test_a_reload_within_the_debounce_says_nothing(hook, server, user, connect):
    alice = await user("alice")
    await hook.next_request(1)
    await alice.close()
    await until(lambda: not server.hub.users, what="alice gone")
    back = await (await connect()).enter(token=alice.welcome["token"])  # the page reloaded
    bob = await user("bob")
    await hook.next_request(2)
    await bob.close()
    await hook.next_request(3)  # bob's offline, after the debounce alice's would have ended in
    assert [(e, b["user"]["name"]) for e, b in events(hook)] == [("user_online", "alice"), ("user_online", "bob"),
                                                                ("user_offline", "bob")]
    await back.close()

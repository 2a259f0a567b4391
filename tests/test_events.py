"""Notifications (chatd.events): the rules, and event frames reaching real clients of a real server."""

from __future__ import annotations

import math

import pytest

from chatd.config import ConfigError
from chatd.events import NAME_MAX, SECONDS_PER_DAY, Target, check_name, config_problem, encode_data, ttl_ms
from chatd.protocol.codes import ProtocolError
from chatd.strictjson import NESTING_MAX
from tests.conftest import make_config

DAY_MS = SECONDS_PER_DAY * 1000


@pytest.fixture
def config_overrides(request):
    """The server's config: a test's ``indirect`` parameter, else the defaults."""
    return getattr(request, "param", {})


# The rules (pure)


@pytest.mark.parametrize("name", ["order.shipped", "a", "chat.unread_count", "build-7.done", "X" * NAME_MAX])
def test_dotted_identifiers_are_event_names(name):
    assert check_name(name) == name


@pytest.mark.parametrize("name", ["", ".a", "a.", "a..b", "7up", "a b", "order/shipped", "é.t", "x" * (NAME_MAX + 1),
                                  "a.\n", None, 7])
def test_anything_else_is_refused_as_bad_frame(name):
    with pytest.raises(ProtocolError) as e:
        check_name(name)
    assert e.value.code == "bad_frame" and "dotted identifier" in e.value.message


def test_data_is_kept_as_compact_json_within_its_byte_limit():
    assert encode_data({"order": 7, "items": ["é"]}, 100) == '{"order":7,"items":["é"]}'
    assert encode_data(None, 4) == "null"
    with pytest.raises(ProtocolError) as e:
        encode_data("é" * 10, 21)  # 20 bytes of UTF-8 and two quotes
    assert e.value.code == "bad_frame" and "22 bytes" in e.value.message and "events.max_data_bytes" in e.value.message


@pytest.mark.parametrize("data, problem", [
    ({"a": math.nan}, "not JSON"),
    ({"a": "\ud83d"}, "surrogate"),
    ({"a": b"bytes"}, "not JSON"),
])
def test_data_that_is_not_json_is_refused_saying_why(data, problem):
    with pytest.raises(ProtocolError) as e:
        encode_data(data, 10_000)
    assert e.value.code == "bad_frame" and problem in e.value.message


def test_data_nested_deeper_than_the_protocol_allows_is_refused():
    data: list = []
    for _ in range(NESTING_MAX):
        data = [data]  # NESTING_MAX + 1 levels
    with pytest.raises(ProtocolError) as e:
        encode_data(data, 10_000)
    assert f"deeper than {NESTING_MAX}" in e.value.message
    encode_data(data[0], 10_000)  # NESTING_MAX levels are fine


def test_ttl_defaults_to_and_is_capped_by_events_ttl_days():
    assert ttl_ms(None, True, 2) == 2 * DAY_MS
    assert ttl_ms(60, True, 2) == 60_000
    assert ttl_ms(None, False, 2) is None
    for bad in (0, 2 * SECONDS_PER_DAY + 1, 1.5, True, "60"):
        with pytest.raises(ProtocolError, match="from 1 to 172800"):
            ttl_ms(bad, True, 2)
    with pytest.raises(ProtocolError, match="stored events"):
        ttl_ms(60, False, 2)


def test_a_notification_must_fit_in_the_live_quarter_of_a_send_queue(tmp_path):
    assert config_problem(8192, 1048576) is None
    assert config_problem(65536 // 4 - 512, 65536) is None
    assert "at most 15872" in config_problem(15873, 65536)
    with pytest.raises(ConfigError, match="'events.max_data_bytes' \\(20000\\) must be at most 15872"):
        make_config(tmp_path, limits={"send_queue_bytes": 65536, "max_text_chars": 1000}, history={"page_bytes": 16384},
                    rooms={"member_list_max": 10}, events={"max_data_bytes": 20000})


# To real clients


async def event(client, **match):
    return await client.expect("event", **match)


async def test_an_event_to_a_user_reaches_all_its_sessions_and_nobody_else(server, user, connect):
    alice = await user("alice")
    alice2 = await (await connect()).enter(token=alice.welcome["token"])
    bob = await user("bob")
    sent = await server.chat.events.send(Target(user=alice.welcome["user"]["id"]), "order.shipped", {"order": 7})
    assert sent.id is None and sent.expires is None
    for client in (alice, alice2):
        frame = await event(client)
        assert frame == {"type": "event", "name": "order.shipped", "data": {"order": 7}, "ts": sent.ts}
    await server.chat.events.send(Target(), "everyone.now", 1)
    assert (await event(bob))["name"] == "everyone.now"  # bob got nothing before it


async def test_an_event_to_a_room_reaches_the_sessions_in_it(server, user):
    alice, bob, carol = await user("alice", "lobby"), await user("bob", "lobby"), await user("carol")
    sent = await server.chat.events.send(Target(room="LOBBY"), "poll.closed", {"poll": 3})
    for client in (alice, bob):
        assert await event(client) == {"type": "event", "name": "poll.closed", "data": {"poll": 3}, "ts": sent.ts,
                                       "room": "lobby"}
    await server.chat.events.send(Target(), "everyone.now", 1)
    assert (await event(carol))["name"] == "everyone.now"  # carol, not in the room, got nothing before it


async def test_an_event_to_everyone_reaches_every_identified_session(server, user, connect):
    clients = [await user(f"u{i}") for i in range(3)]
    anonymous = await connect()
    await server.chat.events.send(Target(), "maintenance.soon", {"minutes": 10})
    for client in clients:
        assert (await event(client))["data"] == {"minutes": 10}
    welcome = await anonymous.identify(name="late")  # not identified when it was sent: not for it
    assert welcome["type"] == "welcome"
    await server.chat.events.send(Target(user=welcome["user"]["id"]), "sentinel", 0)
    assert (await event(anonymous))["name"] == "sentinel"


async def test_a_stored_event_to_an_offline_user_arrives_after_the_welcome_when_it_connects(server, user, connect):
    alice = await user("alice")
    uid, token = alice.welcome["user"]["id"], alice.welcome["token"]
    await alice.close()
    sent = await server.chat.events.send(Target(user=uid), "invoice.paid", {"invoice": "A-1"}, store=True, ttl=600)
    assert sent.id == 1 and sent.expires == sent.ts + 600_000

    again = await connect()
    await again.send({"type": "identify", "cid": "i", "token": token})
    first = await again._first(lambda f: True, 10)
    assert first["type"] == "welcome"
    assert await event(again) == {"type": "event", "name": "invoice.paid", "data": {"invoice": "A-1"},
                                  "ts": sent.ts, "id": 1}


async def test_a_stored_event_to_an_online_user_comes_live_with_its_id_and_is_not_replayed(server, user, connect):
    alice = await user("alice")
    uid = alice.welcome["user"]["id"]
    await server.chat.events.send(Target(user=uid), "a", 1, store=True)
    seen = await event(alice)
    assert seen["id"] == 1
    again = await (await connect()).enter(token=alice.welcome["token"], events_since=seen["id"])
    await server.chat.events.send(Target(user=uid), "sentinel", 0)
    assert (await event(again))["name"] == "sentinel"  # nothing replayed before it


@pytest.mark.parametrize("config_overrides", [{"events": {"replay_max": 3}}], indirect=True)
async def test_replay_sends_what_is_above_events_since_and_at_most_replay_max_of_the_newest(server, user, connect):
    alice = await user("alice")
    uid, token = alice.welcome["user"]["id"], alice.welcome["token"]
    await alice.close()
    for i in range(1, 8):
        await server.chat.events.send(Target(user=uid), "n", i, store=True)

    since_five = await (await connect()).enter(token=token, events_since=5)
    assert [(await event(since_five))["id"] for _ in range(2)] == [6, 7]
    everything = await (await connect()).enter(token=token)
    assert [(await event(everything))["id"] for _ in range(3)] == [5, 6, 7]  # the newest 3, oldest first
    for client in (since_five, everything):
        await server.chat.events.send(Target(user=uid), "sentinel", 0)
        assert (await event(client))["name"] == "sentinel"


@pytest.mark.parametrize("config_overrides", [{"history": {"page_bytes": 2048}}], indirect=True)
async def test_replay_sends_no_more_than_fits_in_half_a_page_the_newest_and_at_least_one(server, user, connect):
    alice = await user("alice")
    uid, token = alice.welcome["user"]["id"], alice.welcome["token"]
    await alice.close()
    for _ in range(5):
        await server.chat.events.send(Target(user=uid), "n", "é" * 200, store=True)  # frames of ~460 bytes
    again = await (await connect()).enter(token=token)
    assert [(await event(again))["id"] for _ in range(2)] == [4, 5]  # two fit in 1024 bytes, three do not
    await server.chat.events.send(Target(user=uid), "sentinel", 0)
    assert (await event(again))["name"] == "sentinel"
    await server.chat.events.send(Target(user=uid), "big", "x" * 5000, store=True)
    once_more = await (await connect()).enter(token=token, events_since=5)
    assert (await event(once_more))["name"] == "big"  # larger than the budget alone: sent all the same


async def test_an_expired_event_is_not_delivered_and_is_purged(server, user, connect):
    alice = await user("alice")
    uid, token = alice.welcome["user"]["id"], alice.welcome["token"]
    await alice.close()
    await server.store.events.save(uid, "stale", "1", 0)  # expired as it was stored
    await server.store.events.save(uid, "stale", "2", 0)
    fresh = await server.chat.events.send(Target(user=uid), "fresh", 3, store=True)
    again = await (await connect()).enter(token=token)
    assert (await event(again))["id"] == fresh.id == 3
    assert await server.chat.events.purge() == 2


async def test_events_since_from_another_database_is_ignored(server, user, connect):
    alice = await user("alice")
    uid, token = alice.welcome["user"]["id"], alice.welcome["token"]
    await server.chat.events.send(Target(user=uid), "a", 1, store=True)
    again = await (await connect()).enter(token=token, events_since=99, epoch="0123456789abcdef")
    assert (await event(again))["id"] == 1


@pytest.mark.parametrize("target, kwargs, code", [
    (Target(user=424242), {}, "no_such_user"),
    (Target(user=424242), {"store": True}, "no_such_user"),
    (Target(user=2**63 - 1), {"store": True}, "no_such_user"),
    (Target(room="nowhere"), {}, "no_such_room"),
    (Target(room="no room"), {}, "bad_room"),
    (Target(room="lobby"), {"store": True}, "bad_frame"),
    (Target(), {"store": True}, "bad_frame"),
    (Target(user=1), {"ttl": 60}, "bad_frame"),
    (Target(user=1, room="lobby"), {}, "bad_frame"),
])
async def test_a_refused_event_says_why_and_stores_nothing(server, user, target, kwargs, code):
    await user("alice")
    with pytest.raises(ProtocolError) as e:
        await server.chat.events.send(target, "x", {}, **kwargs)
    assert e.value.code == code
    assert await server.store.read(lambda: server.store.db.execute_sql("SELECT count(*) FROM event").fetchone()[0]) == 0


@pytest.mark.parametrize("config_overrides", [{"events": {"max_data_bytes": 10}}], indirect=True)
async def test_max_data_bytes_is_the_configured_one(server):
    await server.chat.events.send(Target(), "ok", "12345678")
    with pytest.raises(ProtocolError, match="at most 10"):
        await server.chat.events.send(Target(), "big", "123456789")

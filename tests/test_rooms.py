"""Rooms coming and going, through a real server and real clients: the
limits on creating them, the room list kept live by `room` events, and the
removal of rooms nobody uses — with a clock the test moves by hand, and the
server's once-a-second tick called by the test rather than waited for."""

from __future__ import annotations

import asyncio
import math
import time

import pytest

from chatd.config import build_config
from chatd.hub import Hub
from chatd.rooms import PUSH_BYTES, Rooms
from chatd.server import Server
from chatd.session import Session
from tests.adminclient import ROOT
from tests.conftest import Clock, make_config, until
from tests.wsclient import ChatClient

EXPIRY = 3600  # rooms.unused_expiry_seconds, the default
INTERVAL = 10  # rooms.online_interval, the default


@pytest.fixture
def clock(server: Server) -> Clock:
    # Going on from the real clock (the rooms the server loaded count as unused from its start),
    # in whole seconds, so that sums of whole seconds are exact.
    server.chat.clock = clock = Clock(float(math.ceil(time.monotonic())))
    return clock


def tick(server: Server, clock: Clock, seconds: float = 0) -> None:
    """Let ``seconds`` pass, then run the server's rooms tick (it runs once a second)."""
    clock.now += seconds
    server.tick_rooms()


async def written(server: Server) -> None:
    """Wait until what the server gave its store's writer so far is committed (it commits in order)."""
    await server.store.writer.run(lambda: None)


async def listener(user) -> ChatClient:
    client = await user("watcher")
    assert (await client.request("rooms"))["type"] == "rooms"
    return client


async def no_room_events(client: ChatClient) -> list[dict]:
    """The `room` events received up to now (a round trip makes sure)."""
    assert (await client.request("ping"))["type"] == "pong"
    events = [f for f in client.backlog if f["type"] == "room"]
    client.backlog = [f for f in client.backlog if f["type"] != "room"]
    return events


# The live list


async def test_rooms_created_and_removed_reach_listeners_live(user, server, clock):
    bob = await listener(user)
    alice = await user("alice")
    assert (await alice.request("create", room="games", topic="board games"))["type"] == "created"
    event = await bob.expect("room")
    assert event == {"type": "room", "event": "created", "room": {"name": "games", "topic": "board games",
                                                                  "online": 0}}
    tick(server, clock, EXPIRY)
    assert await bob.expect("room") == {"type": "room", "event": "removed", "room": {"name": "games"}}
    refused = await alice.request("join", room="games")
    assert refused["code"] == "no_such_room" and "removed" in refused["message"]
    assert [r["name"] for r in (await bob.request("rooms"))["rooms"]] == ["lobby"]
    await written(server)
    assert [name for _, name, _ in server.store.rooms()] == ["lobby"]  # gone from the database too


async def test_a_connection_that_never_listed_rooms_gets_no_room_events(user, server, clock):
    alice = await user("alice", "lobby")
    assert (await alice.request("create", room="games"))["type"] == "created"
    tick(server, clock, INTERVAL)
    assert await no_room_events(alice) == []


async def test_online_counts_are_pushed_at_most_once_per_interval_per_room(user, server, clock):
    watcher = await listener(user)
    tick(server, clock)  # the first push: nothing has changed yet
    visitors = [await user(f"visitor{i}", "lobby") for i in range(3)]
    await visitors[2].close()
    await visitors[2].ws.wait_closed()
    # The server sees the close a moment after the client.
    await until(lambda: len(server.hub.room("lobby").members) == 2, 5, "the server to see the close")
    tick(server, clock, INTERVAL / 2)
    assert await no_room_events(watcher) == []  # not yet: less than an interval since the last push
    tick(server, clock, INTERVAL / 2)
    # Four changes (three joins, a leave) in the interval: one event, with the count as it is now.
    assert await no_room_events(watcher) == [{"type": "room", "event": "changed",
                                              "room": {"name": "lobby", "online": 2}}]
    tick(server, clock, INTERVAL)
    assert await no_room_events(watcher) == []


@pytest.mark.parametrize("config_overrides", [{"rooms": {"max_per_creator": 0}}])
async def test_the_list_pages_on_past_a_room_removed_while_the_client_paged(user, server, clock):
    alice = await user("alice")
    names = [f"room{i:02d}" for i in range(30)]
    for name in names:
        assert (await alice.request("create", room=name, topic="x" * 200))["type"] == "created"
    server.chat.config.history.page_bytes = 2048  # about 8 rooms a page
    bob = await listener(user)
    first = await bob.request("rooms")
    assert first["more"]
    cursor = names.index(first["rooms"][-1]["name"])
    gone = {names[0], names[cursor], names[cursor + 1]}  # the cursor and the room after it among them
    for name in set(names) - gone:
        assert (await alice.request("join", room=name))["type"] == "joined"  # in use: stays
    tick(server, clock, EXPIRY)
    await written(server)
    assert server.hub.room(names[cursor]) is None
    listed = [r["name"] for r in first["rooms"]]
    after = names[cursor]
    while True:
        page = await bob.request("rooms", after=after)
        assert page["type"] == "rooms", page
        listed += [r["name"] for r in page["rooms"]]
        if not page["more"]:
            break
        after = page["rooms"][-1]["name"]
    assert listed == ["lobby", *names[: cursor + 1], *names[cursor + 2:]]


# Expiry


async def test_rooms_in_use_or_written_in_or_default_never_expire(user, server, clock):
    alice = await user("alice")
    for name in ("quiet", "talked", "occupied"):
        assert (await alice.request("create", room=name))["type"] == "created"
    assert (await alice.request("join", room="talked"))["type"] == "joined"
    assert (await alice.say("talked", "hello"))["type"] == "ack"
    assert (await alice.request("leave", room="talked"))["type"] == "left"
    assert (await alice.request("join", room="occupied"))["type"] == "joined"
    tick(server, clock, EXPIRY * 10)
    await written(server)
    rooms = {name for _, name, _ in server.store.rooms()}
    assert rooms == {"lobby", "talked", "occupied"}  # lobby is in rooms.default and was never written in
    # Once nobody is in it, an unused room has its full time again from then.
    assert (await alice.request("leave", room="occupied"))["type"] == "left"
    tick(server, clock)
    tick(server, clock, EXPIRY - 1)
    assert server.hub.room("occupied") is not None
    tick(server, clock, 1)
    await written(server)
    assert server.hub.room("occupied") is None


async def test_a_room_the_store_finds_a_message_in_is_kept_and_nobody_hears_of_a_removal(user, server, clock,
                                                                                          seed):
    """Nothing stored is lost to a removal: if the room holds a message after all
    (here stored behind the server's back), the store keeps it; no removal is
    announced before the store has deleted the room, so nobody hears of one."""
    watcher = await listener(user)
    alice = await user("alice")
    assert (await alice.request("create", room="odd"))["type"] == "created"
    await watcher.expect("room", event="created")
    await seed(1, "stored around the server", room="odd")
    tick(server, clock, EXPIRY)
    entering = asyncio.ensure_future(server.chat.rooms.enter("odd", 1))  # while the store deletes it
    assert (await entering).name == "odd"  # waited for the store: it keeps the room
    tick(server, clock, EXPIRY)  # and it is not tried again
    await written(server)
    assert await no_room_events(watcher) == []
    joined = await alice.request("join", room="odd")
    assert [m["text"] for m in joined["messages"]] == ["stored around the server"]


async def test_a_join_as_the_room_expires_is_either_joined_or_no_such_room(user, server, clock):
    alice = await user("alice")
    bob = await user("bob")
    for i in range(20):
        assert (await alice.request("create", room=f"r{i}"))["type"] == "created"
    clock.now += EXPIRY
    # Joins sent, then the tick runs while they are on their way or being carried out.
    for i in range(20):
        await bob.send({"type": "join", "room": f"r{i}", "cid": f"j{i}"})
    tick(server, clock)
    answers = [await bob.expect_cid(f"j{i}") for i in range(20)]
    for i, answer in enumerate(answers):
        if answer["type"] == "joined":
            assert server.hub.room(f"r{i}") is not None
        else:
            assert answer["code"] == "no_such_room" and "removed" in answer["message"], answer
    assert (await bob.request("ping"))["type"] == "pong"


# Creation limits


@pytest.mark.parametrize("config_overrides", [{"rooms": {"max_per_creator": 3},
                                               "address": {"room_burst": 4, "rooms_per_hour": 2}}])
async def test_rooms_per_creator_and_per_address_are_limited(user, server, clock):
    alice = await user("alice")
    for i in range(3):
        assert (await alice.request("create", room=f"a{i}"))["type"] == "created"
    refused = await alice.request("create", room="a3")
    assert refused["code"] == "too_many_rooms" and "you have created 3 rooms" in refused["message"]
    assert (refused["limit"], refused["count"]) == ("creator", 3)
    bob = await user("bob")
    assert (await bob.request("create", room="b0"))["type"] == "created"
    refused = await bob.request("create", room="b1")  # the address's burst of 4 is spent
    assert refused["code"] == "rate_limited"
    assert refused["message"] == ("too many new rooms from your network address (all its users together); "
                                  "try again in 30 minutes")
    assert (refused["retry_ms"], refused["limit"]) == (1_800_000, "new_rooms")
    clock.now += 1800
    assert (await bob.request("create", room="b1"))["type"] == "created"
    # A room that expires gives its creator room for another.
    tick(server, clock, EXPIRY)
    await written(server)
    clock.now += 1800
    assert (await alice.request("create", room="a3"))["type"] == "created"


async def test_rooms_per_creator_hold_across_a_restart(tmp_path):
    config = make_config(tmp_path, rooms={"max_per_creator": 2})
    server = Server(config)
    await server.start()
    try:
        alice = await ChatClient.connect(f"ws://127.0.0.1:{server.port}/ws")
        welcome = await alice.identify(name="alice")
        for name in ("one", "two"):
            assert (await alice.request("create", room=name))["type"] == "created"
        await alice.close()
    finally:
        await server.stop(timeout=5)
    server = Server(config)
    await server.start()
    try:
        alice = await ChatClient.connect(f"ws://127.0.0.1:{server.port}/ws")
        await alice.identify(token=welcome["token"])
        assert (await alice.request("create", room="three"))["code"] == "too_many_rooms"
        await alice.close()
    finally:
        await server.stop(timeout=5)


async def test_concurrent_creates_of_one_user_cannot_pass_its_limit_together(user, server):
    server.chat.config.rooms.max_per_creator = 2
    alice = await user("alice")
    tabs = [alice]
    for _ in range(5):
        tab = await ChatClient.connect(f"ws://127.0.0.1:{server.port}/ws")
        await tab.identify(token=alice.welcome["token"])
        tabs.append(tab)
    for i, tab in enumerate(tabs):
        await tab.send({"type": "create", "room": f"r{i}", "cid": "c"})
    answers = [await tab.expect_cid("c") for tab in tabs]
    assert sum(a["type"] == "created" for a in answers) == 2
    for tab in tabs[1:]:
        await tab.close()


# The pushes, on their own (a hub, no server)


def test_a_push_of_online_counts_is_bounded_in_bytes_and_the_rest_follows():
    hub = Hub()
    config = build_config({})
    rooms = Rooms(hub, None, lambda: config, lambda kind, address: None, lambda event, room: None)
    got: list[bytes] = []
    watcher = Session("w", got.append)
    hub.attach(watcher, 1, "watcher", 0.0, 0)
    hub.listen(watcher)
    for i in range(2000):
        room = hub.add_room(i, f"{'é' * 24}{i:04d}")
        member = Session(f"s{i}", lambda data: None)
        hub.attach(member, 10 + i, f"user{i}", 0.0, 0)
        hub.join(member, room)
    pushes, largest = [], 0
    for t in range(0, 100 * INTERVAL, INTERVAL):
        rooms.tick(float(t))
        pushes.append(sum(map(len, got)))
        largest = max([largest, *map(len, got)])
        got.clear()
    assert max(pushes) < PUSH_BYTES + largest  # the last event may go past the bound, no more
    assert sum(p > 0 for p in pushes) > 1  # spread over several pushes
    assert sum(pushes) > 2000 * 40  # and every room's count got there


async def test_a_room_taken_out_of_rooms_default_is_removed_once_unused(user, server, clock):
    server.chat.config.rooms.default = ["lobby", "news"]
    server.load_rooms()  # as a reload that adds a default room does
    tick(server, clock, EXPIRY * 2)
    assert server.hub.room("news") is not None
    server.chat.config.rooms.default = ["lobby"]
    tick(server, clock, EXPIRY)
    await written(server)
    assert server.hub.room("news") is None and server.hub.room("lobby") is not None


async def test_no_such_room_names_the_room_and_whether_it_was_removed_as_fields(user, server):
    """docs/protocol.md, "error": what the message says, as fields for a client in any language."""
    alice = await user("alice")
    assert (await alice.request("create", room="games"))["type"] == "created"
    await server.chat.room_care.delete(ROOT, "games")
    removed = await alice.request("join", room="games")
    assert (removed["code"], removed["room"], removed["removed"]) == ("no_such_room", "games", True)
    never = await alice.request("join", room="nowhere")
    assert (never["code"], never["room"]) == ("no_such_room", "nowhere") and "removed" not in never

"""The Redis bus between nodes, with a real redis-server: items of one node
reach the others in publish order, never come back to their own node,
survive an outage in the outbox, and a node that may have missed items
hears lost() (chatd.bus.redis, chatd.bus.codec)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
import redis.asyncio as redis

from chatd.bus import Delivery, Notice, new_node_id
from chatd.bus import redis as redis_bus
from chatd.bus.codec import BadItem, decode, decode_batch, encode, encode_batch, origin
from chatd.bus.redis import BusUnavailable, RedisBus
from tests.conftest import until

pytestmark = pytest.mark.redis

GENEROUS = 30.0


class Recorder:
    """A receiver that records what it is given."""

    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        self.notices: list[Notice] = []
        self.heard: list[Delivery | Notice] = []  # both, in the order given
        self.losses = 0

    def delivery(self, item: Delivery) -> None:
        self.deliveries.append(item)
        self.heard.append(item)

    def notice(self, item: Notice) -> None:
        self.notices.append(item)
        self.heard.append(item)

    def lost(self) -> None:
        self.losses += 1


async def start(bus: RedisBus) -> None:
    """Start ``bus`` with a Recorder, or fail the test with TimeoutError after GENEROUS seconds."""
    async with asyncio.timeout(GENEROUS):
        await bus.start(Recorder())


def item(i: int) -> Delivery:
    return Delivery(("room:1",), i, (i - 1,), b"\x81\x05hello" + bytes([i % 256]))


@pytest.fixture
async def pair(redis_server):
    """Two nodes on the test's Redis: (bus, receiver) each."""
    made = []
    for _ in range(2):
        bus, receiver = RedisBus(redis_server.url, new_node_id()), Recorder()
        await bus.start(receiver)
        made.append((bus, receiver))
    yield made
    for bus, _ in made:
        await bus.close()


def test_items_are_the_frame_bytes_untouched_behind_a_small_header():
    data = "é \" \\ \n ✓".encode() * 3
    payload = encode(Delivery(("user:1", "user:2"), 9, (3, 8), data), b"node1")
    assert payload.endswith(data) and len(payload) - len(data) < 64
    assert origin(payload) == b"node1"
    assert decode(payload) == Delivery(("user:1", "user:2"), 9, (3, 8), data)
    assert decode(encode(Notice("presence", {"room": "é"}), b"n2")) == Notice("presence", {"room": "é"}, "n2")
    assert decode(encode(Delivery(("room:1",), 4, None, b"x"), b"n")).prev is None
    for bad in (b"", b"\x01D\x00\x00\x00\x00\x00", b"\x02X\x00\x00\x00\x00\x02[]",
                b"\x02D\x00\x00\x00\x00\x05[1,2", b"\x02D\x00\x00\x00\x00\x02{}"):
        with pytest.raises(BadItem):
            decode(bad)


def test_a_batch_holds_deliveries_in_order_and_a_notice_of_any_size_encodes():
    items = [item(i) for i in range(1, 4)]
    batch = encode_batch(items, b"node1")
    assert origin(batch) == b"node1" and decode_batch(batch) == items
    notice = encode(Notice("x", {}), b"")
    for bad in (batch[:-1], batch + b"\x00\x00", encode(item(1), b"n"),
                batch + len(notice).to_bytes(4, "big") + notice):
        with pytest.raises(BadItem):
            decode_batch(bad)
    big = Notice("state", {"users": [[i, f"user{i}"] for i in range(20_000)]})  # ~300 KB of JSON
    assert decode(encode(big, b"n2")) == big._replace(origin="n2")


async def test_items_reach_the_other_node_in_publish_order_and_not_their_own_twice(pair):
    (one, mine), (_, theirs) = pair
    for i in range(1, 1001):
        one.publish(item(i))
    one.publish(Notice("hello", {"n": 1}))
    await until(lambda: len(theirs.notices) == 1, GENEROUS, "the notice behind the deliveries")
    assert theirs.deliveries == [item(i) for i in range(1, 1001)]
    assert theirs.notices == [Notice("hello", {"n": 1}, one.node)]
    assert mine.deliveries == theirs.deliveries, "delivered here at once, on publish"
    assert mine.notices == theirs.notices
    marker = Notice("marker", {})
    pair[1][0].publish(marker)
    await until(lambda: len(mine.notices) == 2, GENEROUS, "a notice from the other node")
    assert len(mine.deliveries) == 1000, "its own items came back from Redis and were dropped"


async def test_runs_of_deliveries_go_as_batches_and_notices_keep_their_place(pair, redis_server):
    (one, _), (_, theirs) = pair
    published = await _publishes(redis_server.url)
    sent: list[Delivery | Notice] = []
    for i in range(1, 601):
        sent.append(Delivery(("room:1",), i, (i - 1,), bytes([i % 256]) * 2000))  # 1.2 MB: several batches
        if i % 200 == 0:
            sent.append(Notice("mark", {"after": i, "pad": "x" * 70_000}))  # past what 2 bytes could say
    for one_item in sent:
        one.publish(one_item)
    await until(lambda: len(theirs.notices) == 3, GENEROUS, "the last notice")
    assert [x if type(x) is Delivery else x._replace(origin="") for x in theirs.heard] == sent, "in publish order"
    assert await _publishes(redis_server.url) - published < 60, "600 deliveries, 3 notices: far fewer PUBLISHes"


async def _publishes(url: str) -> int:
    client = redis.Redis.from_url(url)
    try:
        return (await client.info("commandstats")).get("cmdstat_publish", {}).get("calls", 0)
    finally:
        await client.aclose()


async def test_after_an_outage_the_outbox_is_sent_and_every_node_hears_lost(pair, redis_server):
    (one, mine), (_, theirs) = pair
    redis_server.stop()
    for i in range(1, 51):
        one.publish(item(i))  # Redis is away: kept
    redis_server.start()
    await until(lambda: mine.losses == 1 and theirs.losses == 1, GENEROUS, "both nodes to resubscribe")
    one.publish(item(51))
    await until(lambda: any(d.id == 51 for d in theirs.deliveries), GENEROUS, "the item after the outage")
    ids = [d.id for d in theirs.deliveries]
    # Those sent before node two had subscribed again are missed: its lost() covers them.
    assert ids == sorted(set(ids)) and ids[-1] == 51, "what came, came in publish order"


async def test_a_full_outbox_drops_items_and_then_makes_every_node_fill(pair, monkeypatch):
    (one, _), (_, theirs) = pair
    monkeypatch.setattr(redis_bus, "OUTBOX_MAX", 10)
    send, link_back = one._send, asyncio.Event()

    async def stuck(connection: Any, payloads: list[bytes]) -> None:  # a link that takes its time
        await link_back.wait()
        await send(connection, payloads)

    monkeypatch.setattr(one, "_send", stuck)
    for i in range(1, 31):
        one.publish(item(i))
    link_back.set()
    await until(lambda: theirs.losses == 1, GENEROUS, "the notice of the dropped items")
    assert [d.id for d in theirs.deliveries] == list(range(1, 11)), "the first ones kept, in order; the rest dropped"


async def test_close_sends_what_is_queued(redis_server):
    listener, heard = RedisBus(redis_server.url, new_node_id()), Recorder()
    await listener.start(heard)
    leaving = RedisBus(redis_server.url, new_node_id())
    await leaving.start(Recorder())
    for i in range(1, 101):
        leaving.publish(item(i))
    await leaving.close()
    await until(lambda: len(heard.deliveries) == 100, GENEROUS, "the last items")
    leaving.publish(item(101))  # closed: nothing more goes out, nothing fails
    await listener.close()


async def test_an_item_this_node_cannot_read_is_logged_once_and_skipped(pair, caplog: Any):
    (one, _), (two, theirs) = pair
    connection = one._connections["pub"]
    for _ in range(3):
        await one._send(connection, [b"\x09Zgarbage"])
    one.publish(item(1))
    await until(lambda: theirs.deliveries, GENEROUS, "the item after the bad ones")
    assert sum("cannot read" in r.message for r in caplog.records) == 2, "once by each node, not per item"


async def test_starting_without_redis_says_where_it_looked(redis_server):
    redis_server.stop()
    bus = RedisBus(redis_server.url.replace("redis://", "redis://:s3cret@"), new_node_id())
    with pytest.raises(BusUnavailable) as refused:
        await start(bus)
    assert f"127.0.0.1:{redis_server.port}" in str(refused.value) and "s3cret" not in str(refused.value)


@pytest.mark.parametrize("given", ["none", "a wrong one"])
async def test_a_password_redis_refuses_is_said_with_where_it_came_from(redis_server, given: str):
    client = redis.Redis.from_url(redis_server.url)
    await client.config_set("requirepass", "the-right-one")
    await client.aclose()
    url = redis_server.url if given == "none" else redis_server.url.replace("redis://", "redis://:wrong@")
    with pytest.raises(BusUnavailable) as refused:
        await start(RedisBus(url, new_node_id()))
    said = str(refused.value)
    assert "the password comes from the file named by bus_password_file, else $CHATD_BUS_PASSWORD, else the URL" \
        in said, said
    assert "wrong" not in said and "the-right-one" not in said


async def test_a_password_changed_under_a_running_node_is_said_with_where_it_came_from(redis_server, caplog):
    """Redis's password changed while the node runs, its connections then dropped: the reconnects are
    refused, and the log says so (once) with where the node's password comes from, not only that the
    connection was lost."""
    admin = redis.Redis.from_url(redis_server.url)
    await admin.config_set("requirepass", "old-one")
    await admin.aclose()
    bus = RedisBus(redis_server.url.replace("redis://", "redis://:old-one@"), new_node_id())
    await start(bus)
    admin = redis.Redis.from_url(redis_server.url.replace("redis://", "redis://:old-one@"))
    await admin.config_set("requirepass", "new-one")
    with caplog.at_level(logging.WARNING, "chatd.bus"):
        await admin.client_kill_filter(_type="pubsub")
        await admin.client_kill_filter(_type="normal", skipme=True)
        await until(lambda: "refuses this node's password" in caplog.text, what="the refusal logged")
    await admin.aclose()
    await bus.close()
    said = caplog.text
    assert "the password comes from the file named by bus_password_file, else $CHATD_BUS_PASSWORD, else the URL" \
        in said, said
    assert said.count("refuses this node's password") == 1 and "old-one" not in said and "new-one" not in said


async def test_a_close_cut_short_still_closes_every_connection_to_redis(redis_server):
    """A stop out of time cancels the bus's close while items still wait for Redis (paused here): the
    node's connections are closed all the same, not left open in a process that goes on (a restart in
    place, an embedding program)."""
    bus = RedisBus(redis_server.url, new_node_id())
    await start(bus)
    admin = redis.Redis.from_url(redis_server.url)
    await admin.execute_command("CLIENT", "PAUSE", int(GENEROUS * 1000), "WRITE")  # PUBLISH waits
    bus.publish(item(1))
    connections = list(bus._connections.values())
    with pytest.raises(TimeoutError):  # the stop's time is up: the close is cancelled
        async with asyncio.timeout(redis_bus.CLOSE_FLUSH / 10):
            await bus.close()
    await admin.execute_command("CLIENT", "UNPAUSE")
    await admin.aclose()
    assert connections and not [c for c in connections if c.is_connected]


async def test_a_cancel_that_lands_as_redis_answers_is_not_lost():
    """close() cancels the probe while Redis's answer to it is arriving: the probe must end, not
    take the answer and go on probing for ever (asyncio.wait_for on Python 3.11, gh-86296)."""

    class Answering:
        """A connection whose reply arrives in the same loop pass as a cancel of its reader."""

        async def read_response(self) -> bytes:
            reader.cancel()
            return b"OK"

    reader = asyncio.current_task()
    with pytest.raises(asyncio.CancelledError):
        await RedisBus._answer(Answering())
        await asyncio.sleep(0)  # the probe's next wait: the cancel must still be there
    reader.uncancel()

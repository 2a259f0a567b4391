"""The load generator's receiving side: what it counts, from frames shaped as
each server sends them, without a server (the bench runs with real ones).

    cd bench && .venv/bin/python -m unittest discover -s tests -t .
"""

from __future__ import annotations

import asyncio
import itertools
import unittest
from unittest import mock

from loadgen import deliveries
from loadgen.client import ChatClient
from loadgen.deliveries import Deliveries
from loadgen.metrics import KEY_DIGITS, message_text, verdict
from loadgen.persistence import WRITE_KEY
from loadgen.traffic import key_of, listen
from picows import WSMsgType
from picows.picows import _make_test_ws_frame

# A message frame as chatd writes it (chatd/protocol/frames.py) and as the Socket.IO peers emit it
# (peers/socketio_node.js: "type" first too, then id, room, from, text, ts).
CHATD = '{"type":"message","id":%d,"room":"r","from":{"id":3,"name":"u\\"0"},"text":"%s","ts":1764612345678}'
SIO = '42["chat",{"type":"message","id":%d,"room":"r","from":{"id":3,"name":"u0"},"text":"%s","ts":1}]'
# A server that orders the fields otherwise takes the slow path (orjson)
REORDERED = '{"id":%d,"text":"%s","type":"message","room":"r"}'


def frame(shape: str, text: str, id_: int = 7):
    return _make_test_ws_frame(WSMsgType.TEXT, (shape % (id_, text)).encode(), True, False)


class Run:
    """Clients of one room and a tracker, as traffic.run_talkers sets them up."""

    def __init__(self, members: int = 3, flavour: str = "ws"):
        self.clients = [ChatClient(flavour) for _ in range(members)]
        self.tracker = Deliveries()
        listen(self.clients, self.tracker)
        self.room = frozenset(self.clients)
        self.texts: list[str] = []
        self.done: list[int] = []

    def say(self, seq: int, sender: int = 0, receivers: frozenset | None = None) -> str:
        text = self.tracker.expect(key_of(1, sender, seq), self.room if receivers is None else receivers,
                                   self.clients[sender], lambda: self.done.append(seq))
        self.texts.append(text)
        return text

    def deliver(self, client: int, text: str, shape: str = CHATD) -> None:
        self.clients[client].on_ws_frame(None, frame(shape, text))

    def summary(self) -> dict:
        return self.tracker.summary()


def in_loop(test):
    """ChatClient needs a running loop (its futures)."""
    def run(self):
        async def body():
            test(self)
        asyncio.run(body())
    return run


class TestDeliveries(unittest.TestCase):
    @in_loop
    def test_every_delivery_once_in_order_is_counted_with_its_latency(self):
        clock = itertools.count(1_000_000, 1_000_000)  # each reading 1 ms after the last
        with mock.patch.object(deliveries, "_now", lambda: next(clock)):
            run = Run()
            texts = [run.say(seq) for seq in range(3)]  # sent at 1, 2, 3 ms
            for text in texts:
                for client in range(3):
                    run.deliver(client, text)  # received at 4 … 12 ms
        s = run.summary()
        self.assertEqual((s["messages_sent"], s["deliveries"], s["lost"], s["duplicated"], s["out_of_order"]),
                         (3, 9, 0, 0, 0))
        self.assertEqual(run.done, [0, 1, 2])  # each message's window slot freed once, when complete
        self.assertEqual(sorted(run.tracker.latencies), [3e6, 4e6, 5e6, 5e6, 6e6, 7e6, 7e6, 8e6, 9e6])
        self.assertEqual((s["latency_p50_ms"], s["latency_max_ms"]), (5.0, 9.0))  # nearest rank

    @in_loop
    def test_a_duplicate_is_seen_while_the_message_is_in_flight_and_after_it_is_complete(self):
        run = Run()
        text = run.say(0)
        run.deliver(0, text)
        run.deliver(0, text)  # the others still miss it
        run.deliver(1, text)
        run.deliver(2, text)
        run.deliver(2, text)  # every receiver had it
        s = run.summary()
        self.assertEqual((s["deliveries"], s["duplicated"], s["lost"]), (3, 2, 0))
        self.assertEqual(run.done, [0])

    @in_loop
    def test_a_message_a_client_never_gets_is_lost_and_keeps_the_window_slot(self):
        run = Run()
        text = run.say(0)
        run.deliver(0, text)
        run.deliver(2, text)
        s = run.summary()
        self.assertEqual((s["deliveries"], s["lost"], s["out_of_order"]), (2, 1, 0))
        self.assertEqual(run.done, [])
        self.assertEqual(run.tracker.inflight[text[:KEY_DIGITS].encode()].missing, {run.clients[1]})

    @in_loop
    def test_a_message_overtaking_the_senders_previous_one_is_out_of_order(self):
        run = Run(members=2)
        first, second = run.say(0), run.say(1)
        run.deliver(0, first)
        run.deliver(0, second)
        run.deliver(1, second)  # before first
        run.deliver(1, first)
        s = run.summary()
        self.assertEqual((s["deliveries"], s["lost"], s["duplicated"], s["out_of_order"]), (4, 0, 0, 1))

    @in_loop
    def test_a_gap_is_a_loss_not_a_reordering(self):
        run = Run(members=2)
        first, second = run.say(0), run.say(1)
        for client in range(2):
            run.deliver(client, second)
        run.deliver(0, first)  # client 1 never gets the first
        s = run.summary()
        self.assertEqual((s["deliveries"], s["lost"], s["out_of_order"]), (3, 1, 1))

    @in_loop
    def test_order_is_per_sender(self):
        run = Run(members=2)
        a0, b0 = run.say(0, sender=0), run.say(0, sender=1)
        for client in range(2):  # b's message before a's: two senders, no order between them
            run.deliver(client, b0)
            run.deliver(client, a0)
        self.assertEqual(run.summary()["out_of_order"], 0)

    @in_loop
    def test_a_message_to_a_client_outside_its_room_or_from_elsewhere_is_not_a_delivery(self):
        run = Run()
        text = run.say(0, receivers=frozenset(run.clients[:2]))
        run.deliver(2, text)  # not in that room
        run.deliver(0, message_text(key_of(0, 0, 5)))  # a warm-up phase's message
        s = run.summary()
        self.assertEqual((s["deliveries"], s["misdelivered"], s["strays"], s["duplicated"], s["lost"]),
                         (0, 1, 1, 0, 2))
        self.assertEqual(run.tracker.received, 2)


class TestVerdict(unittest.TestCase):
    def test_a_delivery_out_of_order_or_outside_its_room_fails_the_run(self):
        for scenario in ("fanout", "rooms", "latency"):
            for key in ("out_of_order", "misdelivered"):
                result = verdict(scenario, {"messages_sent": 10, "deliveries": 99, key: 1})
                self.assertIn(f"{key} 1", result.get("error", ""), (scenario, key))
        self.assertNotIn("error", verdict("fanout", {"messages_sent": 10, "deliveries": 100, "out_of_order": 0,
                                                     "misdelivered": 0, "strays": 0}))


class TestFrames(unittest.TestCase):
    """The key read without decoding the JSON, for each server's frame shape."""

    @in_loop
    def test_each_shape_gives_the_key_of_the_text(self):
        for shape, flavour in ((CHATD, "ws"), (SIO, "sio"), (REORDERED, "ws")):
            with self.subTest(shape=shape):
                run = Run(members=1, flavour=flavour)
                texts = [run.say(seq, receivers=run.room) for seq in (0, 1, 999_999)]
                for text in texts:
                    run.deliver(0, text, shape)
                s = run.summary()
                self.assertEqual((s["deliveries"], s["lost"], s["strays"]), (3, 0, 0))

    def test_an_ack_goes_to_whoever_waits_for_it_and_is_dropped_otherwise(self):
        async def body():
            for shape, flavour in (('%s', "ws"), ('42["chat",%s]', "sio")):
                client = ChatClient(flavour)
                client.ready.cancel()
                acks = []
                ack = shape % '{"type":"ack","id":5,"ts":1,"cid":"q1"}'
                client.on_ws_frame(None, _make_test_ws_frame(WSMsgType.TEXT, ack.encode(), True, False))
                client.on_ack = lambda _, obj, acks=acks: acks.append(obj["id"])  # the write case's hook
                client.on_ws_frame(None, _make_test_ws_frame(WSMsgType.TEXT, ack.encode(), True, False))
                client.on_ack = None
                client.pending["q1"] = waiting = asyncio.get_running_loop().create_future()  # request()
                client.on_ws_frame(None, _make_test_ws_frame(WSMsgType.TEXT, ack.encode(), True, False))
                self.assertEqual((acks, waiting.result()["id"], client.errors), ([5], 5, 0), flavour)
        asyncio.run(body())

    def test_a_key_too_long_for_the_text_is_refused(self):
        with self.assertRaises(ValueError):
            message_text(10 ** KEY_DIGITS)

    @in_loop
    def test_a_replayed_message_keeps_its_key_as_a_number(self):
        # the biggest keys: the write case's (persistence.write), read back this way from Socket.IO + SQLite
        biggest = 999_999 * WRITE_KEY ** 2 + 99_999 * WRITE_KEY + 999_999
        client = ChatClient("sio", auth={"serverOffset": 0, "rooms": ["r"]})
        for key in (900_000_000_042, biggest):
            client.on_ws_frame(None, frame(SIO, message_text(key)))
        self.assertEqual(client.replayed_keys, [900_000_000_042, biggest])


if __name__ == "__main__":
    unittest.main()

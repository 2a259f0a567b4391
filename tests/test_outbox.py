"""chatd.web.outbox: frames coalesced per connection and loop pass, written
mid-pass in runs of EARLY_CHUNK connections while coalescing gains nothing."""

from __future__ import annotations

import asyncio

from chatd.web.outbox import EARLY_CHUNK, EARLY_EXTRA, Outbox


class Conn:
    """A connection as the outbox sees it (ChatConnection's write_wire, in short):
    frames queued in ``out``, each write one entry of ``writes``."""

    def __init__(self, outbox: Outbox, inbox: bool = False):
        self.outbox = outbox
        self.written_in = 0
        self.out: list[bytes] = []
        self.writes: list[bytes] = []
        self.inbox = inbox

    def write_wire(self, data: bytes) -> None:
        self.out.append(data)
        if len(self.out) == 1:
            self.outbox.queue(self)

    def has_inbox(self) -> bool:
        return self.inbox

    def send_now(self) -> bool:
        self.writes.append(b"".join(self.out))
        self.out.clear()
        return True

    def send_queued(self) -> int:
        frames = len(self.out)
        if frames:
            self.send_now()
        return frames


async def next_pass() -> None:
    """Let the loop end this pass (the flush) and run the callbacks it scheduled."""
    await asyncio.sleep(0)
    await asyncio.sleep(0)


async def test_a_fan_out_is_written_in_runs_before_the_pass_ends():
    outbox = Outbox()
    room = [Conn(outbox) for _ in range(EARLY_CHUNK * 2 + 5)]
    for conn in room:
        conn.write_wire(b"m1")
    # Still the same pass: the first two runs are written, the last 5 wait for its end.
    assert all(conn.writes == [b"m1"] for conn in room[:EARLY_CHUNK * 2])
    assert all(conn.writes == [] for conn in room[EARLY_CHUNK * 2:])
    await next_pass()
    assert all(conn.writes == [b"m1"] for conn in room)
    assert outbox.early


async def test_a_second_frame_after_an_early_write_goes_at_the_end_of_the_pass_in_order():
    outbox = Outbox()
    room = [Conn(outbox) for _ in range(EARLY_CHUNK)]
    for conn in room:
        conn.write_wire(b"m1")
    room[0].write_wire(b"m2")
    room[0].write_wire(b"m3")
    assert room[0].writes == [b"m1"]
    await next_pass()
    assert room[0].writes == [b"m1", b"m2m3"]
    assert outbox.early  # one connection written twice in a pass: not a burst


async def test_a_burst_turns_early_writes_off_at_once_and_coalesces_again():
    outbox = Outbox()
    room = [Conn(outbox) for _ in range(EARLY_CHUNK + EARLY_EXTRA + 1)]
    for message in (b"m1", b"m2"):  # two messages to everyone in one pass: a writer batch of two
        for conn in room:
            conn.write_wire(message)
    assert not outbox.early  # found out mid-pass: the rest of the burst waits for the pass's end
    await next_pass()
    assert not outbox.early
    assert room[0].writes == [b"m1", b"m2"]  # the cost of the pass that found out: one write more
    assert room[-1].writes == [b"m1m2"]
    before = [len(conn.writes) for conn in room]
    for message in (b"m3", b"m4", b"m5"):
        for conn in room:
            conn.write_wire(message)
    assert [len(conn.writes) for conn in room] == before  # nothing mid-pass now
    await next_pass()
    assert all(conn.writes[-1] == b"m3m4m5" and len(conn.writes) == n + 1 for conn, n in zip(room, before, strict=True))
    assert not outbox.early
    for conn in room:  # a pass with one frame per connection: early writes again
        conn.write_wire(b"m6")
    await next_pass()
    assert outbox.early
    for conn in room:
        conn.write_wire(b"m7")
    assert all(conn.writes[-1] == b"m7" for conn in room[:EARLY_CHUNK])


async def test_a_connection_with_requests_waiting_is_written_at_the_end_of_the_pass():
    outbox = Outbox()
    waiting = Conn(outbox, inbox=True)
    room = [waiting] + [Conn(outbox) for _ in range(EARLY_CHUNK - 1)]
    for conn in room:
        conn.write_wire(b"m1")
    assert room[1].writes == [b"m1"]
    assert waiting.writes == []  # its next request must not start inside this fan-out
    waiting.write_wire(b"m2")
    await next_pass()
    assert waiting.writes == [b"m1m2"]


async def test_a_room_larger_than_a_run_gets_a_burst_and_a_lone_message_once_in_order(user):
    """A real server: a burst (early writes, then coalescing mid-pass) and a lone message
    after it (early writes again) reach every member once, in order."""
    members = [await user(f"m{i}", "lobby") for i in range(EARLY_CHUNK + EARLY_EXTRA + 4)]
    sender = members[0]
    texts = [f"burst {i}" for i in range(20)]
    for i, text in enumerate(texts):
        await sender.send({"type": "say", "room": "lobby", "text": text, "cid": f"b{i}"})
    assert (await sender.expect_cid(f"b{len(texts) - 1}"))["type"] == "ack"
    assert (await sender.say("lobby", "lone"))["type"] == "ack"
    for member in members:
        got = [await member.expect("message") for _ in range(len(texts) + 1)]
        assert [m["text"] for m in got] == [*texts, "lone"]
        assert [m["id"] for m in got] == sorted({m["id"] for m in got})


async def test_no_early_writes_while_more_fan_outs_follow_in_the_pass():
    """A writer batch of several messages: the first one's members are not written
    before the others are queued, so each member gets the batch in one write."""
    more = True
    outbox = Outbox(lambda: more)
    room = [Conn(outbox) for _ in range(EARLY_CHUNK * 2)]
    for message in (b"m1", b"m2"):
        for conn in room:
            conn.write_wire(message)
    assert all(conn.writes == [] for conn in room)
    await next_pass()
    assert all(conn.writes == [b"m1m2"] for conn in room)
    assert outbox.early
    more = False
    for conn in room:
        conn.write_wire(b"m3")
    assert all(conn.writes[-1] == b"m3" for conn in room)

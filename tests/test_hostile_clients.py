"""Hostile and broken clients: every bad frame gets an error frame, the
connection survives it, and everybody else keeps chatting."""

from __future__ import annotations

import asyncio
import contextlib
import socket

import pytest
from websockets.exceptions import ConnectionClosed

from chatd.paging import SEND_BUFFER_SHARE
from chatd.web.connection import ChatConnection
from tests.conftest import until
from tests.test_store import hold_writer
from tests.test_upgrade import HANDSHAKE
from tests.wsclient import ChatClient

HOSTILE_FRAMES = [
    ("{nope", "bad_json"),
    ("[1, 2, 3]", "bad_json"),
    ('"just a string"', "bad_json"),
    ("null", "bad_json"),
    ("[" * 30_000 + "]" * 30_000, "bad_json"),  # nesting bomb
    ('{"cid": "c"}', "bad_frame"),
    ('{"type": 7}', "bad_frame"),
    ('{"type": "nope"}', "unknown_type"),
    ('{"type": "say", "room": "lobby"}', "bad_frame"),
    ('{"type": "say", "room": "lobby", "text": 5}', "bad_frame"),
    ('{"type": "say", "room": "lobby", "to": 2, "text": "x"}', "bad_frame"),
    ('{"type": "say", "text": "x"}', "bad_frame"),
    ('{"type": "say", "room": "../etc", "text": "x"}', "bad_room"),
    ('{"type": "say", "room": "lobby", "text": "   "}', "empty_text"),
    ('{"type": "say", "room": "lobby", "text": "' + "x" * 4001 + '"}', "text_too_long"),
    ('{"type": "say", "to": true, "text": "x"}', "bad_frame"),
    ('{"type": "say", "to": -3, "text": "x"}', "bad_frame"),
    ('{"type": "history", "room": "lobby", "before": "yesterday"}', "bad_frame"),
    ('{"type": "history", "room": "lobby", "limit": 0}', "bad_frame"),
    ('{"type": "history", "room": "lobby", "before": 1e400}', "bad_frame"),
    ('{"type": "history", "room": "nowhere"}', "no_such_room"),
    ('{"type": "join", "room": "nowhere"}', "no_such_room"),
    ('{"type": "rooms", "after": "nowhere"}', "no_such_room"),
    ('{"type": "join"}', "bad_frame"),
    ('{"type": "leave", "room": "lobby", "cid": ""}', "bad_frame"),
    ('{"type": "identify", "name": "again"}', "already_identified"),
    ('{"type": "create", "room": "x", "topic": "' + "t" * 201 + '"}', "bad_frame"),
    ('{"type": "say", "room": "lobby", "text": "\\ud800"}', "bad_frame"),
    ('{"type": "say", "room": "lobby", "text": "a\\u0000b"}', "bad_frame"),
    ('{"type": "say", "room": "lobby", "text": "a", "text": "b"}', "bad_frame"),
    ('{"type": "join", "room": "lobby", "since": ' + "9" * 5000 + "}", "bad_frame"),
    ('{"type": "rooms", "x": NaN}', "bad_json"),
    ('{"type": "join", "room": "lobby\\n"}', "bad_room"),
    ('{"type": "join", "room": "lob\\u0000by"}', "bad_room"),
]


@pytest.mark.parametrize(("frame", "code"), HOSTILE_FRAMES, ids=[str(i) for i in range(len(HOSTILE_FRAMES))])
async def test_hostile_frame_gets_error_and_connection_survives(user, frame, code):
    mallory = await user("mallory", "lobby")
    await mallory.send(frame)
    answer = await mallory.expect("error")
    assert answer["code"] == code, answer
    assert answer["message"]
    # the same connection still works
    ack = await mallory.say("lobby", "still here")
    assert ack["type"] == "ack"


async def test_error_carries_the_offending_cid(user):
    mallory = await user("mallory", "lobby")
    answer = await mallory.request("say", room="games", text="x", cid="mine-1")
    assert answer == {"type": "error", "code": "no_such_room", "message": answer["message"], "cid": "mine-1",
                      "room": "games"}


async def test_requests_before_identify_are_refused(connect):
    client = await connect()
    answer = await client.request("join", room="lobby")
    assert answer["code"] == "not_identified"


@pytest.mark.parametrize("name,problem", [("", "empty"), (" " * 5, "empty"), ("x" * 33, "longer"),
                                          ("bad\nname", "control"), ("rtl\u202eover", "bidirectional")])
async def test_bad_names_are_refused_with_reason(connect, name, problem):
    client = await connect()
    answer = await client.identify(name=name)
    assert answer["code"] == "bad_name" and problem in answer["message"]


async def test_binary_frame_is_refused(user):
    mallory = await user("mallory")
    await mallory.ws.send(b"\x00\x01binary")
    assert (await mallory.expect("error"))["code"] == "bad_frame"


async def test_oversized_frame_closes_with_1009_and_others_keep_chatting(user):
    alice = await user("alice", "lobby")
    mallory = await user("mallory", "lobby")
    await mallory.ws.send("x" * 70_000)
    with pytest.raises(ConnectionClosed) as closed:
        await mallory.expect("never")
    assert closed.value.rcvd.code == 1009
    ack = await alice.say("lobby", "unbothered")
    assert ack["type"] == "ack"


# Refill rates as slow as config allows (one token per 100 s): no token comes back
# during a test, however slow the machine, so what is refused is exact.
SLOWEST_REFILL = 0.01


@pytest.mark.parametrize("config_overrides",
                         [{"limits": {"rate_per_second": SLOWEST_REFILL, "rate_burst": 3, "flood_strikes": 5}}])
async def test_flooding_is_limited_then_disconnected_with_1008(user, config_overrides):
    alice = await user("alice", "lobby")  # its identify and join used 2 of the 3-frame burst
    mallory = await user("mallory", "lobby")
    for i in range(10):
        await mallory.send({"type": "say", "room": "lobby", "text": f"spam {i}"})
    limited = await mallory.expect("error")
    assert limited["code"] == "rate_limited" and "on this connection" in limited["message"]
    assert 0 < limited["retry_ms"] <= 1000 / SLOWEST_REFILL  # the time one token takes
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await mallory.expect("never")
    assert closed.value.rcvd.code == 1008
    assert (await alice.expect("message"))["text"] == "spam 0"


@pytest.mark.parametrize("config_overrides",
                         [{"limits": {"user_rate_per_second": SLOWEST_REFILL, "user_rate_burst": 3}}])
async def test_user_rate_limit_spans_connections(user, connect, config_overrides):
    alice = await user("alice", "lobby")  # join takes 1 of the user's 3; identify counts per connection only
    tab2 = await connect()
    await tab2.identify(token=alice.welcome["token"])
    answers = [await tab2.request("rooms") for _ in range(2)] + [await alice.request("rooms")]
    assert [a["type"] for a in answers] == ["rooms", "rooms", "error"]
    assert answers[-1]["code"] == "rate_limited" and "all its connections together" in answers[-1]["message"]
    assert answers[-1]["limit"] == "user"  # which limit, as a field too


UNLIMITED_RATE = {"rate_per_second": 1e9, "rate_burst": 1e9, "user_rate_per_second": 1e9, "user_rate_burst": 1e9}
SEND_QUEUE_BYTES = 262144
# Socket buffers for the slow-reader test. Left to the kernel, loopback buffers
# autotune to megabytes (and differ from machine to machine), so how much a
# non-reader absorbs before the server's own queue grows would be anyone's guess.
# Linux doubles the value asked for and raises it to its minimum (about 4.5 KiB).
SMALL_SOCKET_BUFFER = 4096


async def small_receive_buffer_socket(port: int) -> socket.socket:
    """A connected client socket whose receive buffer (and so its TCP window) is small:
    SO_RCVBUF must be set before connect, as the window scale is agreed in the SYN."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL_SOCKET_BUFFER)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    return sock


async def stops_reading(server, connect, *rooms: str) -> tuple[ChatClient, ChatConnection, int]:
    """The client "sloth", identified and joined to ``rooms`` with small socket buffers at both
    ends, then no longer reading. → (the client, its connection in the server, the most bytes
    the kernel holds for it, both ends together)."""
    sloth = await connect(sock=await small_receive_buffer_socket(server.port))
    await sloth.identify(name="sloth")
    for room in rooms:
        assert (await sloth.request("join", room=room))["type"] == "joined"
    sloth.ws.transport.pause_reading()  # a client that stops reading
    connection = next(s for s in server.sockets if s.session.user.name == "sloth")
    kernel_bytes = (sloth.ws.transport.get_extra_info("socket").getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
                    + small_send_buffer(connection))
    return sloth, connection, kernel_bytes


def small_send_buffer(connection: ChatConnection) -> int:
    """Give the server's side of ``connection`` a small kernel send buffer (chatd sets its own
    when the connection is made); → the bytes it may hold (Linux doubles what is asked)."""
    sock = connection._transport.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SMALL_SOCKET_BUFFER)
    return sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)


# A small send queue (so the test is quick), and replies small enough for it.
SMALL_QUEUE = {"limits": {"send_queue_bytes": SEND_QUEUE_BYTES, **UNLIMITED_RATE}, "history": {"page_bytes": 65536},
               "rooms": {"member_list_max": 50}}


@pytest.mark.parametrize("config_overrides", [SMALL_QUEUE])
async def test_client_that_does_not_read_is_cut_off(server, user, connect, config_overrides):
    alice = await user("alice", "lobby")
    sloth, sloth_socket, kernel_bytes = await stops_reading(server, connect, "lobby")
    text = "y" * 3900
    # Whatever the kernel holds plus the queue, with room to spare for TCP's per-packet overhead.
    most = 2 * (SEND_QUEUE_BYTES + kernel_bytes) // len(text)
    for _ in range(most):
        ack = await alice.say("lobby", text)
        # alice's copy left in the same write pass as sloth's: the server has
        # decided by now whether sloth's queue is over the limit.
        await alice.expect("message", id=ack["id"])
        if sloth_socket.closed:
            break
    assert sloth_socket.closed, "a client that never reads must be disconnected"
    assert sloth_socket.bytes_out > SEND_QUEUE_BYTES, "cut off only once its queue was over the limit"
    assert len(server.hub.sessions) == 1
    ack = await alice.say("lobby", "alice is fine")
    assert ack["type"] == "ack"
    sloth.ws.transport.abort()  # the test client itself would wait forever to close


@pytest.mark.parametrize("config_overrides", [SMALL_QUEUE])
async def test_the_kernel_holds_a_fixed_share_of_the_send_queue_for_a_client(server, user, config_overrides):
    """Not left to grow by itself (to MiBs): a grown send buffer took pages a client asked for
    ahead of the live frames and, full, let live frames pile up past the limit for a client
    that read faster than they came (chatd.paging)."""
    await user("alice")
    sock = next(iter(server.sockets))._transport.get_extra_info("socket")
    # Linux doubles what is asked (socket(7)); a buffer it tunes itself starts at tcp_wmem's 16 KiB.
    assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) == 2 * SEND_QUEUE_BYTES // SEND_BUFFER_SHARE


# A client's ping with the most a control frame carries (RFC 6455 §5.5), masked with a zero mask; its pong.
BIG_PING = bytes((0x89, 0x80 | 125)) + bytes(4) + b"p" * 125
BIG_PONG_BYTES = 2 + 125


@pytest.mark.parametrize("config_overrides", [SMALL_QUEUE])
async def test_a_flood_of_pings_never_read_is_cut_off_at_the_limit(server, config_overrides, caplog):
    """Pongs count towards the send queue as they are queued: however many pings one
    read brings (uvloop reads up to ~2 MiB a pass), at most one pong passes the limit."""
    loop = asyncio.get_running_loop()
    sock = await small_receive_buffer_socket(server.port)
    await loop.sock_sendall(sock, HANDSHAKE.format(host=f"127.0.0.1:{server.port}", extra="").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += await loop.sock_recv(sock, 1)
    assert head.startswith(b"HTTP/1.1 101 ")
    await until(lambda: server.sockets, what="the connection in the server")
    kernel_bytes = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) + small_send_buffer(next(iter(server.sockets)))
    pings = 2 * (SEND_QUEUE_BYTES + kernel_bytes) // BIG_PONG_BYTES  # never read: pongs past any buffer
    with caplog.at_level("WARNING", logger="chatd.connection"):
        with contextlib.suppress(ConnectionResetError):  # cut off (aborted) while pings were still coming
            await loop.sock_sendall(sock, BIG_PING * pings)
        await until(lambda: any("cutting off" in r.getMessage() for r in caplog.records), what="the cut-off")
    unread = next(r.args[-1] for r in caplog.records if "cutting off" in r.getMessage())
    assert SEND_QUEUE_BYTES < unread <= SEND_QUEUE_BYTES + BIG_PONG_BYTES
    sock.close()


# A message frame around a text of 3,900 "y": the text, then at most this much of JSON around it (id, ts, from, to).
MESSAGE_FRAME_OVERHEAD = 1024
# Messages each sender sends in the batch: its own copies (a private message goes to the sender's sessions too)
# stay far below the limit, so only the client that does not read can be cut off.
SENT_EACH = 8


@pytest.mark.parametrize("config_overrides", [SMALL_QUEUE])
async def test_a_committed_batch_to_a_client_that_does_not_read_passes_the_limit_by_one_frame(
        server, user, connect, config_overrides, caplog):
    """The send queue is counted as frames are queued: the messages of one committed batch,
    all delivered in one loop pass, pass the limit by at most one frame (not by the rest of
    the batch) before the client that does not read is cut off."""
    sloth, sloth_socket, kernel_bytes = await stops_reading(server, connect)
    sloth_id = sloth_socket.session.user.id
    text = "y" * 3900
    # Twice what the kernel holds plus the queue: on their own, the batch's last messages overshoot the limit.
    messages = 2 * (SEND_QUEUE_BYTES + kernel_bytes) // len(text)
    senders = [await user(f"sender{i}") for i in range(-(-messages // SENT_EACH))]
    release = await hold_writer(server.store)  # what is said meanwhile commits as one batch
    for sender in senders:
        for i in range(SENT_EACH):
            await sender.send({"type": "say", "to": sloth_id, "text": text, "cid": f"c{i}"})
        await sender.request("rooms")  # answered after the says before it: they are with the writer
    with caplog.at_level("WARNING", logger="chatd.connection"):
        release.set()
        for sender in senders:
            for i in range(SENT_EACH):
                assert (await sender.expect_cid(f"c{i}"))["type"] == "ack"
    assert sloth_socket.closed or sloth_socket.closing, "a client that never reads must be cut off"
    unread = next(r.args[-1] for r in caplog.records if "cutting off" in r.getMessage())
    assert SEND_QUEUE_BYTES < unread <= SEND_QUEUE_BYTES + len(text) + MESSAGE_FRAME_OVERHEAD
    sloth.ws.transport.abort()  # the test client itself would wait forever to close


async def test_server_survives_abrupt_disconnects_mid_request(user, ws_url):
    alice = await user("alice", "lobby")
    for i in range(20):
        ghost = await user(f"ghost{i}", "lobby")
        await ghost.send({"type": "say", "room": "lobby", "text": "boo"})
        await ghost.send({"type": "join", "room": "lobby", "since": 0})
        ghost.ws.transport.abort()
    ack = await alice.say("lobby", "still serving")
    assert ack["type"] == "ack"
    late = await user("late", "lobby")
    assert (await late.say("lobby", "hello"))["type"] == "ack"

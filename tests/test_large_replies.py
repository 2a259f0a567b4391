"""Resumes of many megabytes, end to end: every answer is a page bounded in
bytes, the client pages through the rest, gets every message once, in order,
and is never cut off as a slow reader (the issue: a `join` since 0 in a room of
600 messages of 4,000 emoji built one 8 MB answer and cut the client off).

The server's socket send buffer and the client's receive buffer are made small,
so what waits for the client sits in the server's own queue, where the
slow-reader limit counts it, whatever the machine's defaults."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest

from chatd.paging import reply_bytes_max
from tests.wsclient import ChatClient

EMOJI_TEXT = "😀" * 4000  # the longest text at the default limits.max_text_chars: 16,000 bytes
COUNT = 600  # about 9.6 MB
SOCKET_BUFFER = 16384


@pytest.fixture
def config_overrides() -> dict[str, Any]:
    # Defaults but the rate limits: a test client pages faster than a person types.
    return {"limits": {"rate_per_second": 1000, "rate_burst": 1000, "user_rate_per_second": 1000,
                       "user_rate_burst": 1000}}


def ids(frame: dict[str, Any]) -> list[int]:
    return [m["id"] for m in frame["messages"]]


def small_buffers(server, client: ChatClient) -> None:
    """Shrink the kernel's buffers between the server and this client (its latest connection)."""
    client.ws.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SOCKET_BUFFER)
    for sock in server.sockets:
        sock._transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SOCKET_BUFFER)


async def reader(server, connect, name: str, token: str | None = None, **identify: Any) -> ChatClient:
    client = await connect()
    small_buffers(server, client)
    client.welcome = await client.identify(**({"token": token} if token else {"name": name}), **identify)
    assert client.welcome["type"] == "welcome", client.welcome
    return client


def assert_bounded(server, client: ChatClient) -> None:
    """Every answer fits in half the send queue (what the config check promises),
    and the connection is still open: the slow-reader limit never tripped."""
    config = server.config
    bound = reply_bytes_max(config.history.page_bytes, config.limits.max_text_chars, config.rooms.member_list_max)
    assert client.largest_frame <= bound <= config.limits.send_queue_bytes // 2
    assert len(server.sockets) >= 1 and not any(s.closed for s in server.sockets)


async def page_forward(client: ChatClient, first: dict[str, Any], **target: Any) -> list[int]:
    """The ids of ``first`` and of the `history` pages after it, until `more` is false."""
    got = ids(first)
    more = first["more"]
    while more:
        page = await client.request("history", after=got[-1], **target)
        assert page["type"] == "history" and page["messages"], page
        got += ids(page)
        more = page["more"]
    return got


async def test_join_since_0_in_a_room_of_megabytes_pages_through_every_message_once(server, connect, seed):
    stored = await seed(COUNT, EMOJI_TEXT, room="lobby")
    bob = await reader(server, connect, "bob")
    joined = await bob.request("join", room="lobby", since=0)
    assert joined["type"] == "joined" and joined["more"] is True
    assert 0 < len(joined["messages"]) < COUNT  # a page, cut by bytes well before history.replay_max
    assert joined["messages"][0]["text"] == EMOJI_TEXT
    assert await page_forward(bob, joined, room="lobby") == stored
    assert_bounded(server, bob)
    # and the room is live on the same connection
    await bob.say("lobby", "still here")
    assert (await bob.expect("message"))["text"] == "still here"


async def test_scrolling_back_through_megabytes_keeps_the_newest_of_each_page(server, connect, seed):
    stored = await seed(COUNT, EMOJI_TEXT, room="lobby")
    bob = await reader(server, connect, "bob")
    joined = await bob.request("join", room="lobby")  # the latest page
    assert joined["more"] is True and ids(joined) == stored[-len(joined["messages"]):]
    got = ids(joined)
    more = joined["more"]
    while more:
        page = await bob.request("history", room="lobby", before=got[0])
        got = ids(page) + got
        more = page["more"]
    assert got == stored
    assert_bounded(server, bob)


async def test_private_resume_of_megabytes_through_welcome_and_history(server, connect, seed):
    bob_id, sign_in = await server.store.sign_ins.sign_up("bob")
    stored = await seed(COUNT, EMOJI_TEXT, to=bob_id)
    token = server.chat.tokens.issue(bob_id, server.store.epoch.id, sign_in, generation=0)
    bob = await reader(server, connect, "bob", token=token, since=0)
    assert bob.welcome["more"] is True and 0 < len(bob.welcome["messages"]) < COUNT
    assert await page_forward(bob, bob.welcome) == stored  # history with neither room nor with
    assert_bounded(server, bob)
    seeder = bob.welcome["messages"][0]["from"]["id"]
    latest = await bob.request("history", **{"with": seeder})
    assert latest["more"] is True and ids(latest) == stored[-len(latest["messages"]):]
    rest = await bob.request("history", after=stored[99], before=stored[200], **{"with": seeder})
    assert rest["more"] is True and ids(rest) == stored[100:100 + len(rest["messages"])]


async def test_pipelined_joins_all_answered_and_never_cut_off(server, connect, seed):
    """Several joins and history requests sent back to back, each answered by a
    full page: the answers wait for the client to read, they do not pile up."""
    stored = await seed(COUNT, EMOJI_TEXT, room="lobby")
    bob = await reader(server, connect, "bob")
    cids = [f"j{i}" for i in range(8)]
    for cid in cids:
        await bob.send({"type": "join", "room": "lobby", "since": 0, "cid": cid})
        await bob.send({"type": "history", "room": "lobby", "after": stored[300], "cid": "h" + cid})
    for cid in cids:
        joined = await bob.expect_cid(cid)
        assert joined["type"] == "joined" and ids(joined) == stored[:len(joined["messages"])]
        page = await bob.expect_cid("h" + cid)
        assert page["type"] == "history" and ids(page) == stored[301:301 + len(page["messages"])]
    assert_bounded(server, bob)


async def test_messages_sent_while_a_cut_page_loads_arrive_exactly_once(server, connect, seed, user):
    """Exact resume across a page cut by bytes: live messages held back during the
    join are released above the page's last id, and the gap up to the first live
    message is fetched with `history` after/before (docs/protocol.md, "joined")."""
    stored = await seed(COUNT, EMOJI_TEXT, room="lobby")
    alice = await user("alice", "lobby")
    bob = await reader(server, connect, "bob")
    await bob.send({"type": "join", "room": "lobby", "since": 0, "cid": "join"})
    during = [(await alice.say("lobby", f"during {i}"))["id"] for i in range(20)]
    joined = await bob.expect_cid("join")
    assert joined["more"] is True
    last = (await alice.say("lobby", "after the join"))["id"]
    live: list[int] = []
    while not live or live[-1] != last:
        live.append((await bob.expect("message"))["id"])
    gap = await page_forward(bob, {"messages": joined["messages"], "more": True}, room="lobby", before=live[0])
    assert gap + live == stored + during + [last]  # every message once, in order
    assert_bounded(server, bob)


async def test_room_list_is_paged_by_bytes(server, connect, config_overrides):
    bob = await reader(server, connect, "bob")
    names = [f"room{i:04d}" for i in range(600)]  # about 510 KB of room list
    topic = "😀" * 200  # the longest topic
    room_ids = await asyncio.gather(*[server.store.create_room(name, topic) for name in names])
    for room_id, name in zip(room_ids, names, strict=True):
        server.hub.add_room(room_id, name, topic)  # as `create` does
    listed: list[str] = []
    page = await bob.request("rooms")
    listed += [r["name"] for r in page["rooms"]]
    while page["more"]:
        page = await bob.request("rooms", after=listed[-1])
        listed += [r["name"] for r in page["rooms"]]
    assert sorted(listed) == sorted(["lobby", *names]) and len(listed) == len(set(listed))
    assert bob.largest_frame <= server.config.history.page_bytes + 4096


async def test_a_client_that_stops_reading_with_requests_pending_is_still_cut_off(server, connect, seed, user):
    """Requests wait while the client does not read; live frames do not, so a
    client that has stopped reading still meets the slow-reader limit."""
    await seed(COUNT, EMOJI_TEXT, room="lobby")
    alice = await user("alice", "lobby")
    sloth = await reader(server, connect, "sloth")
    sloth.ws.transport.pause_reading()
    for i in range(8):
        await sloth.send({"type": "join", "room": "lobby", "since": 0, "cid": f"j{i}"})
    sloth_socket = next(s for s in server.sockets if s.session.user and s.session.user.name == "sloth")
    limit = server.config.limits.send_queue_bytes
    for _ in range(4 * limit // len(EMOJI_TEXT.encode())):  # live frames enough to fill the queue four times
        if sloth_socket.closed:
            break
        assert (await alice.say("lobby", EMOJI_TEXT))["type"] == "ack"
    assert sloth_socket.closed, "a client that never reads must be disconnected"
    assert (await alice.say("lobby", "alice is fine"))["type"] == "ack"
    sloth.ws.transport.abort()  # the test client itself would wait forever to close

"""The feed's gap logic on its own: a real hub and sessions that record what
they get, a store that is a list of rows and counts its reads (chatd.feed)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from chatd.bus import Delivery, room_channel, user_channel
from chatd.feed import Feed
from chatd.hub import Hub
from chatd.protocol.codes import CloseCode
from chatd.protocol.frames import message_frame
from chatd.session import PRIVATE, Session
from chatd.store import MessageRow, Page
from chatd.wsframe import wire

NOW, HOLD = 1000.0, 300.0
ROOM_ID = 7


class Rows:
    """The store: rows of the lobby and of private messages; each read is counted
    and, while ``gate`` is set, waits for it (a read under way)."""

    def __init__(self) -> None:
        self.rows: list[MessageRow] = []
        self.reads: list[tuple[str, int]] = []  # (channel, after)
        self.gate: asyncio.Event | None = None
        self.fail = False

    def add(self, message_id: int, to: int | None = None) -> MessageRow:
        row = MessageRow(message_id, None if to else "lobby", 1, "a", to, "b" if to else None, f"t{message_id}", 0)
        self.rows.append(row)
        return row

    async def _page(self, channel: str, keep: Any, after: int, limit: int, **_: Any) -> Page:
        self.reads.append((channel, after))
        if self.gate is not None:
            await self.gate.wait()
        if self.fail:
            raise OSError("disk gone")
        rows = [r for r in self.rows if keep(r) and r.id > after]
        return Page(rows[:limit], len(rows) > limit, True)

    def room_history(self, room_id: int, **page: Any) -> Any:
        return self._page(room_channel(room_id), lambda r: r.room is not None, **page)

    def private_history(self, user_id: int, **page: Any) -> Any:
        def mine(r: MessageRow) -> bool:
            return r.recipient_id is not None and user_id in (r.sender_id, r.recipient_id)

        return self._page(user_channel(user_id), mine, **page)


class Member:
    """A session of the hub that records the message ids it gets, in order."""

    def __init__(self, hub: Hub, sid: str, user_id: int, last_id: int = 0, room: bool = True):
        self.frames: list[bytes] = []
        self.closed: tuple[int, str] | None = None
        self.session = Session(sid, self.frames.append, lambda code, reason: setattr(self, "closed", (code, reason)))
        hub.attach(self.session, user_id, f"u{sid}", NOW, HOLD)
        self.session.release(PRIVATE, last_id)
        if room:
            lobby = hub.rooms_by_id[ROOM_ID]
            hub.join(self.session, lobby)
            self.session.release(lobby.key, last_id)

    @property
    def ids(self) -> list[int]:
        return [json.loads(f[f.index(b"{"):])["id"] for f in self.frames]


@pytest.fixture
def hub() -> Hub:
    hub = Hub()
    hub.add_room(ROOM_ID, "lobby")
    return hub


@pytest.fixture
def rows() -> Rows:
    return Rows()


@pytest.fixture
async def feed(hub: Hub, rows: Rows):
    feed = Feed(hub, rows, lambda: 262144, lambda: 1 << 20)  # type: ignore[arg-type]
    yield feed
    await feed.close()


def delivery(row: MessageRow, prev: int | None) -> Delivery:
    channel = room_channel(ROOM_ID) if row.room else user_channel(row.recipient_id)
    return Delivery((channel,), row.id, None if prev is None else (prev,), wire(message_frame(row)))


async def settled(feed: Feed) -> None:
    """Until no fill is under way (each round is a few loop passes)."""
    while feed._rounds:
        await asyncio.sleep(0)


async def test_messages_in_order_go_straight_through_without_a_read(hub, rows, feed):
    alice = Member(hub, "a", 1)
    for i in range(1, 4):
        feed.delivery(delivery(rows.add(i), i - 1))
    assert alice.ids == [1, 2, 3] and rows.reads == []


async def test_without_prev_nothing_is_checked(hub, rows, feed):
    """One process (LocalBus, prev None): order is commit order, no read ever."""
    alice = Member(hub, "a", 1)
    feed.delivery(delivery(rows.add(5), None))
    assert alice.ids == [5] and rows.reads == []


async def test_a_gap_is_filled_from_the_store_once_for_every_session_of_the_channel(hub, rows, feed):
    members = [Member(hub, f"s{i}", i + 1, last_id=1) for i in range(3)]
    rows.add(1)
    rows.add(2)  # its delivery is lost, or late
    feed.delivery(delivery(rows.add(3), 2))
    assert all(m.ids == [] for m in members), "held: 2 comes first"
    await settled(feed)
    assert rows.reads == [(room_channel(ROOM_ID), 1)], "one read for the channel, not one per session"
    assert all(m.ids == [2, 3] for m in members)
    feed.delivery(delivery(rows.rows[1], 1))  # 2 arrives late after all
    feed.delivery(delivery(rows.add(4), 3))
    assert all(m.ids == [2, 3, 4] for m in members), "exactly once, in order"
    assert members[0].frames[0] is members[1].frames[0], "a frame read is built once for all"


async def test_what_arrives_during_a_fill_waits_behind_it_and_gaps_found_meanwhile_take_one_more_read(
        hub, rows, feed):
    early = Member(hub, "a", 1, last_id=1)
    rows.add(1)
    rows.add(2)
    rows.gate = asyncio.Event()
    feed.delivery(delivery(rows.add(3), 2))  # early's gap: a read starts and waits
    await asyncio.sleep(0)
    late = Member(hub, "b", 2, last_id=3)  # joined after the read began
    rows.add(4)
    rows.add(5)
    feed.delivery(delivery(rows.add(6), 5))  # early: held behind the fill; late: a gap of its own
    assert len(rows.reads) == 1, "never two reads of a channel at once"
    rows.gate.set()
    await settled(feed)
    assert early.ids == [2, 3, 4, 5, 6] and late.ids == [4, 5, 6]
    assert len(rows.reads) == 2


async def test_private_gaps_are_per_user_inbox(hub, rows, feed):
    bob = Member(hub, "b", 2, room=False)
    rows.add(1, to=2)
    feed.delivery(delivery(rows.add(2, to=2), 1))
    await settled(feed)
    assert bob.ids == [1, 2] and rows.reads == [(user_channel(2), 0)]


async def test_lost_fills_every_channel_a_session_is_in_once_per_channel(hub, rows, feed):
    alice, bob = Member(hub, "a", 1), Member(hub, "b", 2)
    rows.add(1)
    rows.add(2, to=2)
    feed.lost()
    await settled(feed)
    assert sorted(rows.reads) == sorted([(room_channel(ROOM_ID), 0), (user_channel(1), 0), (user_channel(2), 0)])
    assert sorted(alice.ids) == sorted(bob.ids) == [1, 2], "the room's, and the private one to and from"


async def test_a_page_cut_short_is_completed_by_the_client_not_by_a_fill(hub, rows, feed):
    """joined with since=10 and more: true ended at 20; the client pages 20..first live itself."""
    lobby = hub.rooms_by_id[ROOM_ID]
    carol = Member(hub, "c", 3, room=False)
    hub.join(carol.session, lobby)
    mark = feed.losses
    feed.lost()  # while the page was on its way: still no fill of what the client pages itself
    feed.release(carol.session, lobby.key, 20, loose=True, mark=mark)
    feed.delivery(delivery(rows.add(500), 499))
    await settled(feed)
    assert carol.ids == [500] and (room_channel(ROOM_ID), 20) not in rows.reads
    rows.add(501)
    feed.delivery(delivery(rows.add(502), 501))  # after the first live message, gaps are filled again
    await settled(feed)
    assert carol.ids == [500, 501, 502]


async def test_a_page_read_before_a_loss_is_filled_after_it_is_sent(hub, rows, feed):
    lobby = hub.rooms_by_id[ROOM_ID]
    dave = Member(hub, "d", 4, room=False)
    hub.join(dave.session, lobby)
    mark = feed.losses
    rows.add(1)
    rows.add(2)  # stored after the page was read; its delivery lost with the bus
    feed.lost()
    feed.release(dave.session, lobby.key, 1, loose=False, mark=mark)
    await settled(feed)
    assert dave.ids == [2]


async def test_a_session_that_leaves_during_a_fill_gets_nothing_more(hub, rows, feed):
    alice = Member(hub, "a", 1)
    rows.add(1)
    rows.gate = asyncio.Event()
    feed.delivery(delivery(rows.add(2), 1))
    await asyncio.sleep(0)
    hub.leave(alice.session, hub.rooms_by_id[ROOM_ID])
    rows.gate.set()
    await settled(feed)
    assert alice.ids == [] and hub.rooms_by_id[ROOM_ID].key not in alice.session.sent


async def test_a_failed_read_closes_the_sessions_that_waited_so_they_resume(hub, rows, feed):
    alice = Member(hub, "a", 1)
    rows.fail = True
    feed.delivery(delivery(rows.add(2), 1))
    await settled(feed)
    assert alice.closed is not None and alice.closed[0] == CloseCode.INTERNAL_ERROR and alice.ids == []

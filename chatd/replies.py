"""How requests are answered, whatever the transport: a frame carrying the
request's ``cid``, a list encoded once, a page of history cut to
``history.page_bytes`` — and where a client that was sent a page then is.

A ``Connection`` is anything a request comes from and an answer goes to
(``chatd.web.connection.ChatConnection`` is the one chatd has): a hub
``Session``, the key its ``address`` is limited under, ``send(frame)``,
``write_wire(bytes)`` and ``closed``.

    answer(conn, req, {"type": "pong"})
    reset = await stale(store, epoch, since)                  # positions from another database?
    page = store.page(ROOM_WHERE, (room.id,), **opening_bounds(since, config.history))  # in a reader thread
    sent = answer_page(conn, req, {"type": "joined", "room": "lobby"}, page, config.history.page_bytes)
    feed.release(session, room.key, last_id(sent.newest_id, since), loose(sent, since), mark)
"""

from __future__ import annotations

from typing import Any, Protocol

from chatd.paging import MessagePage, encode_with_list, message_page
from chatd.protocol.requests import Request
from chatd.session import Session
from chatd.store import Page, Store
from chatd.wsframe import text_frame


class Connection(Protocol):
    session: Session
    address: str | None  # the key its address is limited under (None: exempt)
    closed: bool

    def send(self, frame: dict[str, Any]) -> None: ...

    def write_wire(self, data: bytes) -> None: ...


def answer(conn: Connection, req: Request, frame: dict[str, Any]) -> None:
    """Send the answer to a request, carrying the request's cid if it had one."""
    if req.cid is not None:
        frame["cid"] = req.cid
    conn.send(frame)


def answer_list(conn: Connection, req: Request, head: dict[str, Any], key: str, items: list[bytes]) -> None:
    """Send an answer whose list ``key`` holds items encoded already (chatd.paging)."""
    if req.cid is not None:
        head["cid"] = req.cid
    conn.write_wire(text_frame(encode_with_list(head, key, items)))


def answer_page(conn: Connection, req: Request, head: dict[str, Any], page: Page, page_bytes: int,
                first: bool = True) -> MessagePage:
    """Answer with ``head`` plus the messages of ``page`` that fit in
    ``page_bytes`` (``history.page_bytes``) and ``more``; → what was sent.
    ``first`` False: even the first message only if it fits (the head holds
    another list that took part of the page)."""
    fitted = message_page(page, page_bytes, first)
    head["more"] = fitted.more
    answer_list(conn, req, head, "messages", fitted.items)
    return fitted


def answer_around(conn: Connection, req: Request, head: dict[str, Any], older: Page, newer: Page,
                  page_bytes: int) -> None:
    """Answer with ``head`` plus the messages of ``older`` (up to and with the message asked
    around) and of ``newer`` (after it), each cut to half of ``page_bytes`` from the side
    nearest that message; ``more``: older ones were left out, ``more_after``: newer ones."""
    before, after = message_page(older, page_bytes // 2), message_page(newer, page_bytes // 2)
    head["more"], head["more_after"] = before.more, after.more
    answer_list(conn, req, head, "messages", before.items + after.items)


async def stale(store: Store, epoch: str | None, after: int | None, before: int | None = None) -> bool:
    """Whether a client's positions cannot be used here: ``Epoch.stale``."""
    newest = await store.newest(at_least=after or 0)
    return store.epoch.stale(epoch, after, before, newest)


def opening_bounds(since: int | None, history: Any) -> dict[str, Any]:
    """The bounds (``Store.page``'s keywords) of what a (re)joining client is sent:
    the latest messages, or those after ``since``. ``history``: the config's
    ``history`` section."""
    if since is None:
        return {"before": None, "after": None, "limit": history.join_count, "max_chars": history.page_bytes}
    return {"before": None, "after": since, "limit": history.replay_max, "max_chars": history.page_bytes}


def loose(sent: MessagePage, since: int | None) -> bool:
    """Whether a page after ``since`` was cut short: the client then fetches the
    rest up to its first live message itself (docs/protocol.md, "Pages")."""
    return since is not None and sent.more


def last_id(newest: int | None, since: int | None) -> int:
    """The newest id the client has after a page whose last message is
    ``newest``: held-back live messages at or below it were in the page (or
    before it) and must not be sent again."""
    if newest is not None:
        return newest
    return since or 0

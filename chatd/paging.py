"""Replies bounded in bytes (docs/protocol.md, "Pages"). Pure: no I/O.

A reply that carries a list — the messages of ``welcome``, ``joined`` and
``history``, the rooms of ``rooms`` — holds only as many items as fit in
``history.page_bytes`` bytes of encoded JSON, and says ``more: true`` when it
left some out; the client fetches the rest page by page. So no reply outgrows
what a connection may have queued (``limits.send_queue_bytes``) however large
the messages are, and a client reading at a normal pace is never cut off as a
slow reader by the answers to its own requests.

How the send queue is shared (checked when the config is loaded, see
``reply_bytes_max``; applied in ``chatd.web.connection``):

- no reply is larger than 1/REPLY_SHARE of the queue;
- a connection starts no request while more than 1/REQUEST_HIGH_WATER_SHARE
  of the queue waits to be sent to it;

so the answers to a client's requests never fill more than 3/4 of its queue,
and the last quarter is left for live frames arriving while it reads;

- the kernel's send buffer of a connection is fixed at 1/SEND_BUFFER_SHARE of
  the queue (SO_SNDBUF; Linux doubles it). Left to grow by itself (up to
  ``net.ipv4.tcp_wmem``'s 4 MiB) it takes pages the client asked for ahead of
  the live frames, and a full one tells the loop it may write again only once
  a third of it is free: meanwhile live frames piled up past the limit for a
  client reading faster than they came (a black-box tester: 20 history pages
  asked at once, 420 KB/s of live messages, a client reading 640 KB/s, cut
  off after 6.4 s, live messages held back seconds behind the pages).

    page = message_page(store_page, budget=262144)
    payload = encode_with_list({"type": "history", "room": "lobby", "more": page.more}, "messages", page.items)
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from chatd.filetypes import NAME_MAX as FILE_NAME_MAX
from chatd.filetypes import TEXT
from chatd.names import NAME_MAX
from chatd.protocol.codes import (
    ATTACHMENTS_MAX,
    EMOJI_MAX_CHARS,
    MAX_ID,
    REACTIONS_PER_MESSAGE,
    REACTORS_SHOWN,
    ROOM_MAX,
    TOPIC_MAX,
)
from chatd.protocol.frames import encode, message_frame
from chatd.store import MessageRow, Page
from chatd.store.rows import QUOTE_CHARS, Quote, Reacted

REPLY_SHARE = 2
REQUEST_HIGH_WATER_SHARE = 4
SEND_BUFFER_SHARE = 4

# The character ``encode`` spends the most bytes on: JSON escapes C0 controls as
# "\u0001", 6 bytes; no character costs more (tests/test_paging.py checks them all).
# Worst cases below are built of it, so they bound every real frame.
COSTLIEST_CHAR = "\x01"
# In an attachment's name (controls are taken out of names: chatd.filetypes.safe_name) and its URL.
COSTLIEST_NAME_CHAR = "\U0010ffff"
# Bytes of a reply besides its lists (and the member list of ``joined``, counted
# apart): ``joined`` is the largest, with a room name, a topic and a cid of the
# costliest characters, about 1.9 KB. tests/test_paging.py checks every reply.
REPLY_HEAD_MAX = 4096


def _worst(chars: int) -> str:
    return COSTLIEST_CHAR * chars


def _item_bytes(item: dict[str, Any]) -> int:
    return len(encode(item)) + 1  # and its comma in the list


MEMBER_REF_MAX = _item_bytes({"id": MAX_ID, "name": _worst(NAME_MAX)})
ROOM_ITEM_MAX = _item_bytes({"name": _worst(ROOM_MAX), "topic": _worst(TOPIC_MAX), "online": MAX_ID})


def message_frame_max(max_text_chars: int) -> int:
    """Bytes of the largest ``message`` frame (and its comma in a list) when texts
    hold up to ``max_text_chars`` characters: a private one, whose two names and
    text are all of the costliest character, an edited reply with every reaction it may have and the
    most attachments, each of the longest name of the character costliest there (4 bytes of UTF-8, 12
    in its URL)."""
    name = _worst(NAME_MAX)
    upload = {"id": "-" * 22, "name": COSTLIEST_NAME_CHAR * FILE_NAME_MAX, "type": TEXT, "size": MAX_ID,
              "width": MAX_ID, "height": MAX_ID, "thumb": True}
    users = tuple((MAX_ID, name) for _ in range(REACTORS_SHOWN))
    reactions = tuple(Reacted(_worst(EMOJI_MAX_CHARS), MAX_ID, users) for _ in range(REACTIONS_PER_MESSAGE))
    row = MessageRow(MAX_ID, None, MAX_ID, name, MAX_ID, name, _worst(max_text_chars), MAX_ID,
                     attachments=json.dumps([upload] * ATTACHMENTS_MAX), edited=MAX_ID,
                     reply_to=MAX_ID, quote=Quote(MAX_ID, MAX_ID, name, _worst(QUOTE_CHARS), False),
                     reactions=reactions)
    return _item_bytes(message_frame(row))


def reply_bytes_max(page_bytes: int, max_text_chars: int, member_list_max: int) -> int:
    """Bytes of the largest reply the server can build with these settings
    (``history.page_bytes``, ``limits.max_text_chars``, ``rooms.member_list_max``):
    a ``joined`` with a full member list and a full page, whose one item may be
    larger than the page (a page always carries one, but for one that shares the
    page with the messages changed while the client was away: ``chatd.changes``)."""
    largest_item = max(message_frame_max(max_text_chars), ROOM_ITEM_MAX)
    return REPLY_HEAD_MAX + member_list_max * MEMBER_REF_MAX + max(page_bytes, largest_item)


def fit(items: Iterable[dict[str, Any]], budget: int, first: bool = True) -> tuple[list[bytes], bool]:
    """Encode ``items`` in order while they fit in ``budget`` bytes as members of a
    JSON list (each with its comma). The first is always taken (``first``), however
    large, so a client paging through a list always gets somewhere. → (encoded items,
    True when some were left out). Items after the cut are never encoded."""
    taken: list[bytes] = []
    used = 0
    for item in items:
        data = encode(item)
        used += len(data) + 1
        if used > budget and (taken or not first):
            return taken, True
        taken.append(data)
    return taken, False


def encode_with_list(head: dict[str, Any], key: str, items: list[bytes]) -> bytes:
    """The same bytes as ``encode({**head, key: [the items]})`` (``key`` last), from
    items encoded already: nothing is encoded twice. ``head`` holds ``type``."""
    return b"".join((encode(head)[:-1], b',"', key.encode(), b'":[', b",".join(items), b"]}"))


@dataclass(slots=True)
class MessagePage:
    items: list[bytes]  # encoded message frames, oldest first
    newest_id: int | None  # the id of the last one; None when there are none
    more: bool  # as docs/protocol.md says: rows left out at the end away from the cursor


def message_page(page: Page, budget: int, first: bool = True) -> MessagePage:
    """The message frames of a store page that fit in ``budget`` bytes (the first
    always, unless ``first`` is False: the page shares its reply with another list).

    A page cut short keeps the end next to its cursor, so it stays contiguous
    with what the client has: read forward (``after``/``since``) it keeps the
    oldest rows, read back (``before``/the latest) the newest. ``more`` then
    says rows were left out at the far end, just as for a page cut by count.
    """
    rows = page.rows
    items, cut = fit(map(message_frame, rows if page.forward else reversed(rows)), budget, first)
    if page.forward:
        newest = rows[len(items) - 1].id if items else None
    else:
        items.reverse()
        newest = rows[-1].id if rows else None
    return MessagePage(items, newest, page.more or cut)


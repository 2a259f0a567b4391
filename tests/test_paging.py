"""Replies bounded in bytes, without a server: pages cut to a budget, and the
worst cases the config check relies on."""

from __future__ import annotations

import json

import pytest

from chatd.auth.tokens import TokenSigner
from chatd.config import ConfigError, build_config
from chatd.fulltext import QUERY_MAX
from chatd.names import NAME_MAX
from chatd.paging import (
    COSTLIEST_CHAR,
    MEMBER_REF_MAX,
    REPLY_HEAD_MAX,
    ROOM_ITEM_MAX,
    encode_with_list,
    fit,
    message_frame_max,
    message_page,
    reply_bytes_max,
)
from chatd.protocol.codes import CID_MAX, EPOCH_MAX, MAX_ID, ROOM_MAX, TOPIC_MAX
from chatd.protocol.frames import encode, message_frame
from chatd.store import MessageRow, Page

SURROGATES = range(0xD800, 0xE000)


def test_no_character_costs_more_than_the_costliest():
    """JSON (ensure_ascii off) escapes only '"', '\\' and C0 controls; every other
    character is written as its UTF-8, at most 4 bytes."""
    plain = "".join(chr(c) for c in range(0x20, 0x110000) if c not in SURROGATES and chr(c) not in '"\\')
    assert encode({"t": plain}) == b'{"t":"' + plain.encode() + b'"}'
    costs = {c: len(encode({"t": c})) - len(encode({"t": ""})) for c in [*map(chr, range(0x20)), '"', "\\"]}
    assert max(costs.values()) == costs[COSTLIEST_CHAR] == 6


def row(mid: int, text: str = "x", to: int | None = None) -> MessageRow:
    return MessageRow(mid, None if to else "lobby", 1, "alice", to, "bob" if to else None, text, 1_700_000_000_000)


@pytest.mark.parametrize("text", ['"' * 4000, "\x00" * 4000, "😀" * 4000, "\u2028" * 4000, COSTLIEST_CHAR * 4000])
def test_message_frame_max_bounds_every_message(text):
    names = [NAME_MAX * c for c in ("😀", '"')]
    for name in names:
        for message in (row(MAX_ID, text, to=MAX_ID), row(MAX_ID, text)):
            message = message._replace(sender_name=name, recipient_name=name if message.recipient_id else None,
                                       ts=MAX_ID)
            assert len(encode(message_frame(message))) + 1 <= message_frame_max(4000)


def test_encode_with_list_is_encode_without_encoding_twice():
    head = {"type": "history", "room": "lobby", "more": True, "cid": 'c"1'}
    frames = [message_frame(row(i, f"m{i} ☃")) for i in range(3)]
    built = encode_with_list(dict(head), "messages", [encode(f) for f in frames])
    assert built == encode({**head, "messages": frames})
    assert json.loads(encode_with_list(dict(head), "messages", [])) == {**head, "messages": []}


def test_fit_stops_at_the_budget_but_always_takes_one():
    items = [{"n": "x" * 90} for _ in range(10)]  # 100 bytes each with its comma
    taken, cut = fit(items, 350)
    assert len(taken) == 3 and cut
    assert fit(items, 1000) == ([encode(i) for i in items], False)
    taken, cut = fit(items, 10)
    assert len(taken) == 1 and cut
    assert fit([], 10) == ([], False)


def test_a_page_cut_by_bytes_keeps_the_end_next_to_its_cursor():
    rows = [row(i, "y" * 1000) for i in range(11, 21)]  # oldest first, as the store gives them; same sizes
    size = len(encode(message_frame(rows[0]))) + 1
    forward = message_page(Page(rows, more=False, forward=True), 3 * size)
    assert [json.loads(m)["id"] for m in forward.items] == [11, 12, 13]
    assert forward.newest_id == 13 and forward.more
    back = message_page(Page(rows, more=False, forward=False), 3 * size)
    assert [json.loads(m)["id"] for m in back.items] == [18, 19, 20]
    assert back.newest_id == 20 and back.more
    whole = message_page(Page(rows, more=False, forward=True), 100 * size)
    assert len(whole.items) == 10 and whole.newest_id == 20 and not whole.more
    assert message_page(Page([], more=True, forward=True), size).more  # the store's `more` stays


def worst(chars: int) -> str:
    return COSTLIEST_CHAR * chars


def test_reply_head_max_bounds_every_reply_but_its_lists():
    user = {"id": MAX_ID, "name": worst(NAME_MAX)}
    token = TokenSigner(b"k", 1).issue(MAX_ID, "f" * EPOCH_MAX, MAX_ID, MAX_ID, now=MAX_ID)
    heads = [
        {"type": "welcome", "session": f"s{MAX_ID}", "user": user, "token": token, "epoch": "f" * EPOCH_MAX,
         "limits": {"max_text_chars": MAX_ID, "max_frame_bytes": MAX_ID, "rate_per_second": 1e308,
                    "rate_burst": 1e308}},
        {"type": "joined", "room": worst(ROOM_MAX), "topic": worst(TOPIC_MAX), "members": [], "online": MAX_ID},
        {"type": "history", "room": worst(ROOM_MAX)},
        {"type": "history", "with": MAX_ID},
        {"type": "history", "room": worst(ROOM_MAX), "around": MAX_ID, "more_after": False},
        {"type": "results", "q": worst(QUERY_MAX)},
        {"type": "rooms"},
    ]
    for head in heads:
        full = {**head, "more": False, "cid": worst(CID_MAX), "messages": []}
        assert len(encode(full)) <= REPLY_HEAD_MAX, head["type"]
    assert len(encode(user)) + 1 == MEMBER_REF_MAX
    assert len(encode({"name": worst(ROOM_MAX), "topic": worst(TOPIC_MAX), "online": MAX_ID})) + 1 == ROOM_ITEM_MAX


def test_default_config_keeps_replies_within_half_the_send_queue():
    config = build_config({})
    largest = reply_bytes_max(config.history.page_bytes, config.limits.max_text_chars, config.rooms.member_list_max)
    assert largest <= config.limits.send_queue_bytes // 2


@pytest.mark.parametrize("data", [
    {"limits": {"send_queue_bytes": 65536}},
    {"rooms": {"member_list_max": 1_000_000}},
    {"limits": {"max_text_chars": 100_000}},
    {"history": {"page_bytes": 1 << 20}},
])
def test_config_refuses_replies_larger_than_half_the_send_queue(data):
    with pytest.raises(ConfigError) as e:
        build_config(data)
    message = str(e.value)
    for key in ("history.page_bytes", "limits.max_text_chars", "rooms.member_list_max", "limits.send_queue_bytes"):
        assert key in message


def test_a_larger_send_queue_makes_room_for_larger_pages():
    config = build_config({"limits": {"send_queue_bytes": 4 << 20}, "history": {"page_bytes": 1 << 20}})
    assert config.history.page_bytes == 1 << 20

"""Server frames out, without a server: the frame builders and their wire bytes
(chatd.protocol.frames)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from chatd.protocol.codes import ERROR_MESSAGE_MAX, Code
from chatd.protocol.frames import encode, encode_ack, encode_message, error_frame, message_frame
from chatd.store.rows import MessageRow, Quote, Reacted


def test_error_frame_always_encodes_and_stays_small():
    frame = error_frame(Code.BAD_FRAME, "\ud800" * 10_000, cid="\udfff")
    assert "cid" not in frame and len(frame["message"]) <= ERROR_MESSAGE_MAX
    encode(frame)


def test_encode_is_compact_utf8():
    assert encode({"type": "x", "text": "né"}) == '{"type":"x","text":"né"}'.encode()


# Strings a frame may carry: any well-formed text (quotes, backslashes, control characters,
# non-ASCII, astral characters); ids and times up to the largest id.
TEXTS = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)
IDS = st.integers(0, 2**63 - 1)


@given(IDS, IDS, st.none() | TEXTS)
def test_an_ack_is_encoded_as_its_frame_would_be(message_id, ts, cid):
    frame = {"type": "ack", "id": message_id, "ts": ts, **({"cid": cid} if cid is not None else {})}
    assert encode_ack(message_id, ts, cid) == encode(frame)


def _optional(values):
    return st.none() | values


# Messages without the optional fields (the common case, written into a template), and with any of them.
# (Not builds(): it would draw the fields that have defaults too.)
PLAIN_ROWS = st.tuples(IDS, _optional(TEXTS), IDS, TEXTS, _optional(IDS), _optional(TEXTS), TEXTS, IDS).map(
    lambda fields: MessageRow(*fields))
ANY_ROWS = st.builds(
    MessageRow, IDS, _optional(TEXTS), IDS, TEXTS, _optional(IDS), _optional(TEXTS), TEXTS, IDS,
    deleted=_optional(IDS), attachments=st.none() | st.just('[{"id": "a", "name": "x y.png", "bytes": 3}]'),
    edited=_optional(IDS), rev=_optional(IDS), reply_to=_optional(IDS), mentions=st.none() | st.just(",3,17,"),
    quote=st.none() | st.builds(Quote, IDS, IDS, TEXTS, TEXTS, st.booleans()),
    reactions=st.just(()) | st.tuples(st.builds(Reacted, st.just("👍"), st.integers(1, 5),
                                                st.tuples(st.tuples(IDS, TEXTS)))))


@given(PLAIN_ROWS | ANY_ROWS)
def test_a_message_is_encoded_as_its_frame_would_be(row):
    assert encode_message(row) == encode(message_frame(row))

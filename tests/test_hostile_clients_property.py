"""Property: whatever frame a client sends, the server answers it with a
documented frame, never ``unavailable`` or ``internal``, keeps the
connection open (unless the frame signed out: then it closes it with 4401
after the answer), and logs no error.

Hypothesis builds frames of every client type (and unknown ones) with right
and wrong field types, extra fields, nested values, duplicate names and
arbitrary Unicode — unpaired surrogates, NUL and other controls,
noncharacters — plus numbers Python's json module mishandles (huge
integers, 1e400, NaN, Infinity) and deep nesting. The JSON text is written
here by hand (``json.dumps`` escapes lone surrogates as ``\\udXXX``), sent
over a real WebSocket to a real server, which runs on its own event loop in
a thread because ``@given`` cannot use function-scoped async fixtures.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from chatd.protocol.codes import CID_MAX, CloseCode, Code
from chatd.protocol.fields import SCHEMAS
from chatd.server import Server
from chatd.strictjson import NESTING_MAX
from tests.conftest import make_config

EXAMPLES = 200  # about 6 s on two idle cores
TIMEOUT = 10.0
PROBE_CID = "probe:3f9c1e"  # the follow-up request's cid; no generated frame uses it

# Every frame the server may send: type → (fields it always has, fields it may have). docs/protocol.md.
SERVER_FRAMES = {
    "welcome": ({"session", "user", "token", "epoch", "limits", "messages", "more"},
                {"cid", "reset", "room_state", "conversations", "revised", "changed", "image_hosts"}),
    "signed_out": ({"everywhere"}, {"cid"}),
    "rooms": ({"rooms", "more"}, {"cid"}),
    "joined": ({"room", "topic", "members", "online", "messages", "more"},
               {"cid", "reset", "unread", "unread_more", "mentions", "last_read", "notify", "revised", "changed"}),
    "left": ({"room"}, {"cid"}),
    "created": ({"room"}, {"cid"}),
    "ack": ({"id", "ts"}, {"cid"}),
    "history": ({"messages", "more"}, {"cid", "room", "with", "private", "reset", "around", "more_after"}),
    "results": ({"q", "results", "more"}, {"cid"}),
    "message": ({"id", "from", "text", "ts"},
                {"room", "to", "edited", "reply_to", "reactions", "attachments", "mentions"}),
    "edited": ({"id", "text", "edited", "rev"}, {"room", "to", "from"}),
    "reactions": ({"id", "reactions", "rev"}, {"room", "to", "from"}),
    "deleted": ({"id"}, {"room", "to", "from", "rev"}),
    "read": ({"id"}, {"room", "with"}),
    "notify": ({"level"}, {"room", "with", "cid"}),
    "closed": ({"with"}, {"cid"}),
    "typing": ({"user"}, {"room", "with"}),
    "presence": ({"room", "event", "user"}, set()),
    "room": ({"event", "room"}, set()),
    "pong": (set(), {"cid"}),
    "done": (set(), {"cid", "kept"}),
    "error": ({"code", "message"}, {"cid", "retry_ms"}),
}
# The detail some refusals carry as fields, by code (docs/protocol.md, "error").
ERROR_DETAIL = {
    "rate_limited": {"limit"}, "muted": {"room", "reason"}, "banned": {"reason", "until"},
    "name_reserved": {"name", "reason"}, "no_such_room": {"room", "removed", "room_id"}, "not_in_room": {"room"},
    "room_exists": {"name", "existing"}, "too_many_rooms": {"limit", "count"},
    "name_taken": {"name", "holder", "since_ms", "kept_ms"}, "forbidden": {"reason", "user", "rank", "role", "room"},
    "no_such_user": {"user"}, "no_such_message": {"id"}, "message_deleted": {"id"},
    "bad_attachment": {"attachment", "cause", "limit"}, "bad_room": {"rule", "char", "limit"},
}
NEVER_FOR_A_CLIENT_MISTAKE = {Code.UNAVAILABLE, Code.INTERNAL}


@dataclass(frozen=True)
class Raw:
    """JSON text emitted as it is: what json.dumps cannot or will not write."""

    text: str
    is_json: bool = True  # False: Python's json reads it, but it is not JSON
    depth: int = 0  # how deep it nests arrays


def nest(depth: int) -> Raw:
    return Raw("[" * depth + "]" * depth, depth=depth)


RAW = [Raw("1e400"), Raw("-1e400"), Raw("9" * 4400), Raw("-0"), Raw("1.5"), Raw("1E+2"), nest(20), nest(40),
       nest(2000), Raw("NaN", False), Raw("Infinity", False), Raw("-Infinity", False)]
# Well formed and allowed in text, though odd: noncharacters, the last code point, bidi, ZWJ, tab, line feed.
ODD_BUT_FINE = ["\uffff", "\ufffe", "\ufdd0", "\U0010ffff", "\u202e", "\u200d", "😀", "\t", "\n"]
ODD_AND_NOT = ["\ud83d", "\ude00", "\x00", "\x1b", "\x7f", "\x85"]  # unpaired surrogates, controls

fine_texts = st.text(st.characters(exclude_categories=["Cs", "Cc"]) | st.sampled_from(ODD_BUT_FINE),
                     min_size=1, max_size=12)
texts = fine_texts | st.text(st.characters() | st.sampled_from(ODD_BUT_FINE + ODD_AND_NOT), max_size=12)
scalars = (st.none() | st.booleans() | st.integers() | st.integers(min_value=-(2**70), max_value=2**70)
           | st.floats(allow_nan=False, allow_infinity=False) | texts | st.sampled_from(ODD_AND_NOT)
           | st.sampled_from(RAW))
values = st.recursive(scalars, lambda kids: st.lists(kids, max_size=3) | st.dictionaries(texts, kids, max_size=3),
                      max_leaves=8)
small = st.integers(min_value=0, max_value=12)
room_names = st.just("lobby") | st.from_regex(r"[^\W_][\w.-]{0,8}", fullmatch=True)
# A frame of each type that a connection identified and in the lobby could well send.
TEMPLATES = {
    "identify": st.fixed_dictionaries({"name": fine_texts}) | st.fixed_dictionaries({"token": texts}),
    "sign_out": st.fixed_dictionaries({}, optional={"everywhere": st.booleans()}),
    "rooms": st.fixed_dictionaries({}, optional={"after": room_names}),
    "ping": st.fixed_dictionaries({}),
    "join": st.fixed_dictionaries({"room": room_names}, optional={"since": small}),
    "leave": st.fixed_dictionaries({"room": room_names}),
    "create": st.fixed_dictionaries({"room": room_names}, optional={"topic": fine_texts}),
    "say": st.fixed_dictionaries({"room": st.just("lobby"), "text": fine_texts})
    | st.fixed_dictionaries({"to": small, "text": fine_texts}),
    "history": st.fixed_dictionaries({}, optional={"room": st.just("lobby"), "before": small, "after": small,
                                                   "limit": small})
    | st.fixed_dictionaries({"with": small})
    | st.fixed_dictionaries({"room": st.just("lobby"), "around": small}, optional={"limit": small}),
    # Moderators' requests: this client is no moderator (forbidden), but every frame is still answered.
    "delete": st.fixed_dictionaries({"id": small}, optional={"reason": fine_texts}),
    "mute": st.fixed_dictionaries({"user": small}, optional={"room": room_names, "seconds": small,
                                                            "reason": fine_texts}),
    "unmute": st.fixed_dictionaries({"user": small}, optional={"room": room_names}),
    "kick": st.fixed_dictionaries({"user": small}, optional={"reason": fine_texts}),
    "ban": st.fixed_dictionaries({"user": small}, optional={"seconds": small, "reason": fine_texts}),
    "search": st.fixed_dictionaries({"q": fine_texts}, optional={"room": st.just("lobby"), "before": small,
                                                                 "limit": small})
    | st.fixed_dictionaries({"q": fine_texts, "with": small}),
    # Changes to messages, read state, levels, typing (docs/protocol.md): ids of messages that may not exist.
    "edit": st.fixed_dictionaries({"id": small, "text": fine_texts}),
    "react": st.fixed_dictionaries({"id": small, "emoji": st.sampled_from(["\N{THUMBS UP SIGN}", "x"]) | fine_texts}),
    "unreact": st.fixed_dictionaries({"id": small, "emoji": fine_texts}),
    "notify": st.fixed_dictionaries({"room": st.just("lobby"), "level": st.sampled_from(["all", "mentions", "loud"])}),
    "close": st.fixed_dictionaries({"with": small}),
}
# ``read`` and ``typing`` are answered only when refused (docs/protocol.md): left out here;
# tests/test_readstate.py and test_typing.py cover them.
UNANSWERED = {"read", "typing"}
FIELD_NAMES = sorted({"type", "cid", *(name for schema in SCHEMAS.values() for name in schema)})


def set_field(draw: st.DrawFn, pairs: list) -> list:
    name = draw(st.sampled_from(FIELD_NAMES) | texts)
    return [p for p in pairs if p[0] != name] + [(name, draw(values))]


def drop_field(draw: st.DrawFn, pairs: list) -> list:
    gone = draw(st.sampled_from(pairs))
    return [p for p in pairs if p is not gone]


def repeat_name(draw: st.DrawFn, pairs: list) -> list:
    return [*pairs, (draw(st.sampled_from(pairs))[0], draw(values))]


CHANGES = [set_field, set_field, repeat_name, set_field, drop_field, set_field]


def one_in(draw: st.DrawFn, n: int) -> bool:
    """True about once in ``n`` draws (shrinking towards False)."""
    return draw(st.sampled_from(range(n))) == n - 1


@st.composite
def frames(draw: st.DrawFn) -> list[tuple[str, Any]]:
    """One client frame as (name, value) pairs, in the order sent; names may repeat.
    A sensible frame of some type, then none or a few changes: a field set to
    anything (type and cid too), a field dropped, a name repeated."""
    kind = draw(st.sampled_from(sorted(set(SCHEMAS) - UNANSWERED)))
    pairs = [("type", kind), *draw(TEMPLATES[kind]).items()]
    cid = draw(st.none() | fine_texts)
    if cid is not None:
        pairs.append(("cid", cid))
    if not one_in(draw, 3):
        for change in draw(st.lists(st.sampled_from(CHANGES), min_size=1, max_size=2)):
            if pairs:
                pairs = change(draw, pairs)
    return draw(st.permutations(pairs))


def dump(value: Any) -> str:
    """JSON text of a value or Raw."""
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, dict):
        return frame_text(list(value.items()))
    if isinstance(value, list):
        return "[" + ",".join(dump(v) for v in value) + "]"
    return json.dumps(value)  # ensure_ascii: a lone surrogate becomes the escape "\\udXXX"


def frame_text(pairs: list[tuple[str, Any]]) -> str:
    """JSON text of an object given as (name, value) pairs: a name may repeat."""
    return "{" + ",".join(json.dumps(name) + ":" + dump(value) for name, value in pairs) + "}"


def leaves(value: Any) -> Iterator[Any]:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
        else:
            yield item


def depth(value: Any) -> int:
    """How deep arrays and objects nest in a value (a frame's pairs count as one object)."""
    if isinstance(value, Raw):
        return value.depth
    if isinstance(value, tuple):  # a (name, value) pair of a frame
        return depth(value[1])
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        return 1 + max(map(depth, value), default=0)
    return 0


def is_json(pairs: list[tuple[str, Any]]) -> bool:
    """Whether chatd reads the frame as JSON: no NaN or Infinity, nesting within its limit."""
    raws = [leaf for leaf in leaves(pairs) if isinstance(leaf, Raw)]
    return all(raw.is_json for raw in raws) and depth(pairs) <= NESTING_MAX


def well_formed(s: str) -> bool:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def expected_cid(pairs: list[tuple[str, Any]]) -> str | None:
    """The cid the answer must carry: the frame's, if the server could read it without doubt
    (docs/protocol.md, "JSON the server accepts"): once, a valid cid, the frame read to its end
    (NaN or a repeated name elsewhere do not stop that; nesting too deep does)."""
    if depth(pairs) > NESTING_MAX:
        return None  # bad_json, not read
    names = [name for name, _ in pairs]
    cid = dict(pairs).get("cid")
    readable = names.count("cid") == 1 and isinstance(cid, str) and 1 <= len(cid) <= CID_MAX
    return cid if readable and well_formed(cid) else None


def check_documented(frame: dict[str, Any]) -> None:
    assert frame.get("type") in SERVER_FRAMES, frame
    always, maybe = SERVER_FRAMES[frame["type"]]
    if frame["type"] == "error":
        maybe = maybe | ERROR_DETAIL.get(frame.get("code"), set())
    assert always <= frame.keys() <= always | maybe | {"type"}, frame
    if frame["type"] == "error":
        assert frame["code"] in set(Code) - NEVER_FOR_A_CLIENT_MISTAKE, frame
        assert isinstance(frame["message"], str) and frame["message"], frame


class ErrorLog(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, ErrorLog]]:
    """A real server on its own loop in a thread: (ws url, its ERROR records)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="chatd-under-test")
    thread.start()
    server = Server(make_config(tmp_path_factory.mktemp("property")))
    errors = ErrorLog()
    logging.getLogger("chatd").addHandler(errors)
    try:
        asyncio.run_coroutine_threadsafe(server.start(), loop).result(TIMEOUT)
        yield f"ws://127.0.0.1:{server.port}/ws", errors
        asyncio.run_coroutine_threadsafe(server.stop(timeout=5), loop).result(TIMEOUT)
    finally:
        logging.getLogger("chatd").removeHandler(errors)
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()


_names = itertools.count(1)


def receive(ws: ClientConnection) -> dict[str, Any]:
    frame = json.loads(ws.recv(timeout=TIMEOUT))
    check_documented(frame)
    return frame


def request(ws: ClientConnection, frame: dict[str, Any]) -> dict[str, Any]:
    ws.send(json.dumps({**frame, "cid": PROBE_CID}))
    while (answer := receive(ws)).get("cid") != PROBE_CID:
        pass
    return answer


@settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(pairs=frames(), identified=st.sampled_from([True, True, True, False]))
def test_every_frame_is_answered_with_a_documented_frame_and_the_connection_survives(live, pairs, identified):
    url, errors = live
    with connect(url, open_timeout=TIMEOUT, proxy=None, max_size=None) as ws:
        if identified:
            assert request(ws, {"type": "identify", "name": f"prop{next(_names)}"})["type"] == "welcome"
            assert request(ws, {"type": "join", "room": "lobby"})["type"] == "joined"
        ws.send(frame_text(pairs))
        answer = probe = None
        messages = {}
        try:
            # The follow-up must be answered too; after a sign-out the socket may be closed already.
            ws.send(json.dumps({"type": "rooms", "cid": PROBE_CID}))
            while answer is None or probe is None:
                frame = receive(ws)
                if frame.get("cid") == PROBE_CID:
                    probe = frame
                elif frame["type"] == "message":
                    messages[frame["id"]] = frame
                elif frame["type"] not in ("presence", "room"):  # sent on their own, not answers
                    answer = frame
        except ConnectionClosed:  # only after signing out, which answers first
            with contextlib.suppress(ConnectionClosed):
                while answer is None:  # what arrived before the close is still there to read
                    frame = receive(ws)
                    if frame["type"] not in ("message", "presence", "room"):
                        answer = frame
            assert answer is not None and answer["type"] == "signed_out", answer
            assert ws.close_code == CloseCode.SIGNED_OUT and probe is None, (ws.close_code, probe)
            event("answer: signed_out, then closed")
            return
        assert probe["type"] == "rooms" or probe["code"] == "not_identified", probe
        event(f"answer: {answer['type']} {answer.get('code', '')}")  # pytest --hypothesis-show-statistics
        assert answer.get("cid") == expected_cid(pairs), answer
        if not is_json(pairs):
            assert answer["code"] == "bad_json", answer
        if answer["type"] == "ack":  # accepted: the stored message comes back to its sender exactly as sent
            while answer["id"] not in messages:
                frame = receive(ws)
                messages[frame.get("id")] = frame
            assert messages[answer["id"]]["text"] == dict(pairs)["text"]
    assert not errors.records, [r.getMessage() for r in errors.records]

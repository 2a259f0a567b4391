"""Strings in client frames, end to end on a real server: an ill-formed one
(an unpaired UTF-16 surrogate, anywhere) is refused with ``bad_frame``
naming it and the connection carries on; every well-formed one is stored,
delivered and read back exactly as sent."""

from __future__ import annotations

import logging

import pytest

from chatd.protocol.fields import SCHEMAS

SURROGATE = "hi \ud83d"  # json.dumps sends it as the escape "\ud83d"
BASELINE = {  # a valid frame of each type, for a connection identified and in the lobby
    "identify": {"name": "alice"},
    "sign_out": {"everywhere": False},
    "rooms": {},
    "ping": {},
    "join": {"room": "lobby", "since": 0},
    "leave": {"room": "lobby"},
    "create": {"room": "games", "topic": "board games"},
    "say": {"room": "lobby", "text": "hello"},
    "history": {"room": "lobby", "before": 10, "limit": 5},
    # Moderators' requests: the surrogate is refused before anyone asks whether mallory may.
    "delete": {"id": 1},
    "mute": {"user": 1, "seconds": 600},
    "unmute": {"user": 1},
    "kick": {"user": 1},
    "ban": {"user": 1},
    "search": {"q": "hello", "room": "lobby", "limit": 5},
    "read": {"room": "lobby", "id": 1},
    "notify": {"room": "lobby", "level": "all"},
    "close": {"with": 1},
    "typing": {"room": "lobby"},
    "edit": {"id": 1, "text": "hello again"},
    "react": {"id": 1, "emoji": "\N{THUMBS UP SIGN}"},
    "unreact": {"id": 1, "emoji": "\N{THUMBS UP SIGN}"},
}
# (the frame, how the refusal names the string) for every field of every type, and then some.
CASES = [({"type": kind, **BASELINE[kind], field: SURROGATE}, f"'{field}'")
         for kind in SCHEMAS for field in SCHEMAS[kind]]
CASES += [
    ({"type": kind, **BASELINE[kind], **extra}, named)
    for kind in SCHEMAS
    for extra, named in [({"extra": SURROGATE}, "'extra'"), ({SURROGATE: 1}, "the field name 'hi \\ud83d'"),
                         ({"meta": {"tags": ["ok", {"deep": SURROGATE}]}}, "'meta.tags[1].deep'")]
]
CASES += [({"type": SURROGATE}, "'type'"), ({"type": "nope", "x": SURROGATE}, "'x'")]


@pytest.fixture(autouse=True)
def no_errors_logged(caplog):
    """Nothing a client sends is a server error: no ERROR may be logged."""
    yield
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_every_ill_formed_string_is_refused_naming_it_and_keeps_the_cid(user):
    mallory = await user("mallory", "lobby")
    for i, (frame, named) in enumerate(CASES):
        kind, fields = frame["type"], {k: v for k, v in frame.items() if k != "type"}
        answer = await mallory.request(kind, cid=f"k{i}", **fields)
        assert answer["type"] == "error" and answer["code"] == "bad_frame", (frame, answer)
        assert answer["message"] == f"{named} holds an unpaired UTF-16 surrogate (U+D83D) at character 3", answer
    assert (await mallory.say("lobby", "still here"))["type"] == "ack"


async def test_ill_formed_cid_is_refused_without_a_cid_on_any_frame_type(user):
    mallory = await user("mallory", "lobby")
    for kind in SCHEMAS:
        await mallory.send({"type": kind, **BASELINE[kind], "cid": SURROGATE})
        answer = await mallory.expect("error")
        assert answer == {"type": "error", "code": "bad_frame", "message": answer["message"]}
        assert answer["message"].startswith("'cid' holds an unpaired UTF-16 surrogate")
    assert (await mallory.say("lobby", "still here"))["type"] == "ack"


async def test_ill_formed_strings_are_refused_before_identify_too(connect):
    client = await connect()
    for frame in [{"name": SURROGATE}, {"token": SURROGATE}, {"name": "bob", "x": [SURROGATE]}]:
        answer = await client.identify(**frame)
        assert answer["code"] == "bad_frame", answer
    assert (await client.identify(name="bob"))["type"] == "welcome"


async def test_a_token_with_any_characters_is_only_a_bad_token(connect):
    client = await connect()
    for token in ["1.2.é", "1.2.\x00", "1.2." + "ß" * 40, "😀.1.x"]:
        assert (await client.identify(token=token))["code"] == "bad_token"


# Every kind of well-formed text that is not a control character: astral
# emoji, a ZWJ sequence, noncharacters, the last code point, private use,
# bidi override, line and paragraph separators, combining marks, tab/CR/LF.
ODD_TEXT = ("😀 \U0001F469\u200D\U0001F4BB \uffff\ufffe\ufdd0\U0010ffff \ue000 \u202eevil\u202c "
            "\u2028\u2029 e\u0301 tab\tcr\r\nlf")


async def test_odd_but_well_formed_text_is_stored_delivered_and_read_back_exactly(user):
    alice = await user("alice", "lobby")
    bob = await user("bob", "lobby")
    ack = await alice.say("lobby", ODD_TEXT)
    assert ack["type"] == "ack"
    assert (await bob.expect("message", id=ack["id"]))["text"] == ODD_TEXT
    history = await bob.request("history", room="lobby")
    assert [m["text"] for m in history["messages"]] == [ODD_TEXT]
    private = await alice.request("say", to=bob.welcome["user"]["id"], text=ODD_TEXT, cid="\uffff\U0010ffff\x00")
    assert private["type"] == "ack" and private["cid"] == "\uffff\U0010ffff\x00"
    assert (await bob.expect("message", id=private["id"]))["text"] == ODD_TEXT


async def test_odd_topic_is_stored_and_listed_exactly(user):
    alice = await user("alice")
    # A bidirectional control would reverse the text around the topic: refused, as in names.
    refused = await alice.request("create", room="odd", topic="😀 \u202e")
    assert refused["code"] == "bad_frame" and "U+202E RIGHT-TO-LEFT OVERRIDE" in refused["message"]
    topic = "\ufffe 😀 \u200d"  # a noncharacter, an emoji, a joiner: odd, and stored as they are
    assert (await alice.request("create", room="odd", topic=topic))["room"]["topic"] == topic
    rooms = (await alice.request("rooms"))["rooms"]
    assert {r["name"]: r["topic"] for r in rooms}["odd"] == topic

"""Names people can trust, through a real server: look-alike user and room
names refused, real names accepted, a name let go held for its user."""

from __future__ import annotations

import pytest

from chatd.server import Server
from tests.conftest import make_config
from tests.wsclient import ChatClient

HOLD = 300  # identity.name_hold_seconds, the default


class Clock:
    """A clock the test moves by hand (seconds), in place of time.monotonic."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(server: Server) -> Clock:
    server.chat.clock = clock = Clock()
    return clock


IMPOSTERS = ["mark", "MARK", "M\u0430rk", "\u041c\u0410RK", "Μark", "Ｍａｒｋ", "𝐌𝐚𝐫𝐤", "𝕸𝖆𝖗𝖐",
             "M\u200dark", "Ma\u200crk"]


async def test_look_alikes_of_an_online_name_are_refused_naming_it(user, connect):
    await user("Mark")
    imposter = await connect()
    for name in IMPOSTERS:
        refused = await imposter.identify(name=name)
        assert refused["code"] == "name_taken", name
        assert "looks like 'Mark', who is online" in refused["message"]


async def test_abusive_names_are_refused_saying_why(connect):
    client = await connect()
    for name, why in [("\u202eMark", "bidirectional control"), ("Z" + "\u0301" * 20, "combining marks"),
                      ("\u200b\u200b", "invisible"), ("\u3164", "invisible"), ("a" * 33, "longer")]:
        refused = await client.identify(name=name)
        assert refused["code"] == "bad_name" and why in refused["message"], (name, refused)


async def test_real_names_in_many_scripts_are_online_together(user):
    names = ["王伟", "张伟", "محمد", "می\u200cخواهم", "ශ්\u200dරී", "क्\u200dष", "👩\u200d💻 Ana", "🏳\ufe0f\u200d🌈 Sam",
             "🇫🇷 Zoé", "👍🏽 Kim", "Ana", "Anna", "Nguyễn", "Ελένη", "Владимир"]
    clients = [await user(name, "lobby") for name in names]
    assert [c.welcome["user"]["name"] for c in clients] == names
    members = (await clients[0].request("join", room="lobby"))["members"]
    assert sorted(m["name"] for m in members) == sorted(names)


async def test_a_name_let_go_is_held_for_its_user_then_freed(user, connect, clock):
    mark = await user("Mark", "lobby")
    watcher = await user("watcher", "lobby")
    await mark.close()
    await watcher.expect("presence", event="leave")
    clock.now += 60
    imposter = await connect()
    refused = await imposter.identify(name="mark")
    assert refused["code"] == "name_taken"
    assert refused["message"] == ("the name 'mark' looks like 'Mark', which was in use 60 s ago "
                                  f"and is kept for its user for {HOLD - 60} s more")
    back = await connect()  # Mark himself takes it back with his token
    welcome = await back.identify(token=mark.welcome["token"])
    assert welcome["user"] == mark.welcome["user"]
    assert (await back.request("join", room="lobby"))["type"] == "joined"
    await back.close()
    await watcher.expect("presence", event="leave")
    clock.now += HOLD
    taken = await imposter.identify(name="Mark")
    assert taken["type"] == "welcome" and taken["user"]["id"] != mark.welcome["user"]["id"]


async def test_a_renamed_users_old_name_is_held_too(user, connect, clock):
    mark = await user("Mark")
    rename = await connect()
    assert (await rename.identify(token=mark.welcome["token"], name="Marcus"))["user"]["name"] == "Marcus"
    imposter = await connect()
    assert (await imposter.identify(name="Mark"))["code"] == "name_taken"
    clock.now += HOLD
    assert (await imposter.identify(name="Mark"))["type"] == "welcome"


async def test_a_zero_hold_applies_on_reload(user, connect, server, tmp_path):
    mark = await user("Mark", "lobby")
    watcher = await user("watcher", "lobby")
    server.reload(make_config(tmp_path, identity={"name_hold_seconds": 0}))
    await mark.close()
    await watcher.expect("presence", event="leave")
    assert (await (await connect()).identify(name="Mark"))["type"] == "welcome"


ROOM_IMPOSTERS = ["LOBBY", "l\u043ebby", "\u0406obby", "ｌｏｂｂｙ", "𝐥𝐨𝐛𝐛𝐲", "1obby"]


async def test_look_alikes_of_a_room_name_are_refused(user):
    alice = await user("alice")
    for name in ROOM_IMPOSTERS:
        refused = await alice.request("create", room=name)
        assert refused["code"] == "room_exists", name
        assert "'lobby'" in refused["message"]
        assert (refused["name"], refused["existing"]) == (name, "lobby")  # as fields too, for any language
    assert (await alice.request("create", room="lobbyist"))["type"] == "created"
    assert [r["name"] for r in (await alice.request("rooms"))["rooms"]] == ["lobby", "lobbyist"]


BAD_ROOMS = [  # (name, rule, the character at fault)
    ("ro\u200bom", "invisible", "U+200B ZERO WIDTH SPACE"),
    ("bad\u202eroom", "bidi", "U+202E RIGHT-TO-LEFT OVERRIDE"),
    ("bad room", "room_characters", "U+0020 SPACE"),
    ("x!", "room_characters", "U+0021 EXCLAMATION MARK"),
    ("-x", "room_start", "U+002D HYPHEN-MINUS"),  # allowed inside, not first: its place is the fault
]


async def test_a_room_name_refused_for_a_character_names_it_as_user_names_do(user, connect):
    alice = await user("alice")
    for name, rule, char in BAD_ROOMS:
        refused = await alice.request("create", room=name)
        assert (refused["code"], refused["rule"], refused["char"]) == ("bad_room", rule, char), name
        assert char in refused["message"]
    refused = await (await connect()).identify(name="ro\u200bom")
    assert (refused["code"], refused["rule"], refused["char"]) == ("bad_name", "invisible", "U+200B ZERO WIDTH SPACE")
    refused = await alice.request("create", room="r" * 60)
    assert (refused["code"], refused["rule"], refused["limit"]) == ("bad_room", "room_length", 32)
    assert "char" not in refused


async def test_a_topic_refuses_bidirectional_controls_as_names_do(user, server, connect):
    from tests.adminclient import admin_login

    alice = await user("alice")
    said = "contains U+202E RIGHT-TO-LEFT OVERRIDE, a bidirectional control, which could reverse the text around"
    refused = await alice.request("create", room="games", topic="\u202egnp.exe")
    assert (refused["code"], refused["message"]) == ("bad_frame", f"'topic' {said} the topic")
    refused = await (await connect()).identify(name="\u202eMark")
    assert refused["message"].endswith(f"{said} the name"), "the rule user names follow, in their words"
    admin = await admin_login(server)
    for method, path, body in (("POST", "/rooms", {"name": "news", "topic": "\u2067hi"}),
                               ("PATCH", "/rooms/lobby", {"topic": "good \u202e doog"})):
        status, answer, _ = await admin.call(method, path, body)
        assert (status, answer["error"]["code"]) == (400, "bad_request"), answer
        assert "a bidirectional control, which could reverse the text around the topic" in answer["error"]["message"]
    assert (await alice.request("create", room="games", topic="\u05e9\u05dc\u05d5\u05dd and hello"))[
        "type"] == "created", "right-to-left text itself is fine"


async def test_the_store_refuses_a_look_alike_the_hub_does_not_know(user, server):
    await server.store.create_room("news", "")  # as another process would: not in this hub
    alice = await user("alice")
    refused = await alice.request("create", room="n\u0435ws")
    assert refused["code"] == "room_exists"
    assert refused["message"] == "room 'n\u0435ws' looks like the room 'news', which exists already"


async def test_stored_rooms_keep_their_names_across_a_restart(tmp_path):
    config = make_config(tmp_path)
    first = Server(config)
    await first.start()
    async with ChatClient.connect(f"ws://127.0.0.1:{first.port}/ws") as alice:
        await alice.identify(name="alice")
        assert (await alice.request("create", room="games"))["type"] == "created"
    await first.stop(timeout=5)
    second = Server(config)
    await second.start()
    try:
        async with ChatClient.connect(f"ws://127.0.0.1:{second.port}/ws") as bob:
            await bob.identify(name="bob")
            refused = await bob.request("create", room="g\u0430mes")
            assert refused["code"] == "room_exists" and "'games'" in refused["message"]
    finally:
        await second.stop(timeout=5)

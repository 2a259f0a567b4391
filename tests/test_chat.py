"""The chat protocol end to end: a real server, real WebSocket clients that
know only docs/protocol.md."""

from __future__ import annotations

import asyncio
import json

import pytest

from chatd.store import writer


async def test_room_message_reaches_every_member_with_id_author_and_time(user):
    alice = await user("alice", "lobby")
    bob = await user("bob", "lobby")
    ack = await alice.say("lobby", "hello bob")
    assert ack["type"] == "ack" and isinstance(ack["id"], int)
    for client in (alice, bob):
        msg = await client.expect("message")
        assert msg["id"] == ack["id"]
        assert msg["room"] == "lobby"
        assert msg["from"] == alice.welcome["user"]
        assert msg["text"] == "hello bob"
        assert msg["ts"] == ack["ts"]


async def test_presence_join_and_leave_counts_users_not_tabs(user, connect):
    alice = await user("alice", "lobby")
    bob_tab1 = await user("bob", "lobby")
    event = await alice.expect("presence")
    assert event == {"type": "presence", "room": "lobby", "event": "join", "user": bob_tab1.welcome["user"]}

    bob_tab2 = await connect()
    await bob_tab2.identify(token=bob_tab1.welcome["token"])
    joined = await bob_tab2.request("join", room="lobby")
    assert sorted(m["name"] for m in joined["members"]) == ["alice", "bob"]

    await bob_tab1.close()
    rooms = await alice.request("rooms")  # a round trip: any presence would have come before it
    assert not [f for f in alice.backlog if f["type"] == "presence"]
    assert rooms["rooms"][0]["online"] == 2

    await bob_tab2.close()
    event = await alice.expect("presence")
    assert event["event"] == "leave" and event["user"]["name"] == "bob"


async def test_rooms_lists_online_users_per_room(user):
    alice = await user("alice", "lobby")
    await user("bob", "lobby")
    listing = await alice.request("rooms")
    assert {"name": "lobby", "topic": "", "online": 2} in listing["rooms"]


async def test_switching_rooms_needs_no_reconnect(user):
    alice = await user("alice", "lobby")
    created = await alice.request("create", room="games", topic="board games")
    assert created["room"] == {"name": "games", "topic": "board games"}
    joined = await alice.request("join", room="games")
    assert joined["topic"] == "board games"
    await alice.say("games", "in games")
    assert (await alice.expect("message"))["room"] == "games"
    left = await alice.request("leave", room="lobby")
    assert left["type"] == "left"
    refused = await alice.say("lobby", "not here any more")
    assert (refused["code"], refused["room"]) == ("not_in_room", "lobby")  # the room as a field too


async def test_private_message_reaches_both_users_sessions_and_no_one_else(user, connect):
    alice = await user("alice", "lobby")
    bob = await user("bob", "lobby")
    carol = await user("carol", "lobby")
    alice_tab2 = await connect()
    await alice_tab2.identify(token=alice.welcome["token"])

    bob_id = bob.welcome["user"]["id"]
    ack = await alice.request("say", to=bob_id, text="secret")
    assert ack["type"] == "ack"
    for client in (alice, alice_tab2, bob):
        msg = await client.expect("message")
        assert msg["id"] == ack["id"] and msg["text"] == "secret"
        assert msg["to"] == bob.welcome["user"] and msg["from"] == alice.welcome["user"]
        assert "room" not in msg

    # carol hears the next room message and nothing before it
    marker = await bob.say("lobby", "marker")
    first = await carol.expect("message")
    assert first["id"] == marker["id"]
    history = await carol.request("history", **{"with": bob_id})
    assert history["messages"] == []

    convo = await bob.request("history", **{"with": alice.welcome["user"]["id"]})
    assert [m["text"] for m in convo["messages"]] == ["secret"]


async def test_private_message_to_offline_user_is_delivered_on_resume(user, connect):
    alice = await user("alice")
    bob = await user("bob")
    bob_token, bob_id = bob.welcome["token"], bob.welcome["user"]["id"]
    await bob.close()
    await alice.request("say", to=bob_id, text="while you were away")
    bob_again = await connect()
    welcome = await bob_again.identify(token=bob_token)
    assert welcome["user"]["id"] == bob_id
    assert [m["text"] for m in welcome["messages"]] == ["while you were away"]


async def test_private_message_to_unknown_user_is_refused(user):
    alice = await user("alice")
    refused = await alice.request("say", to=999999, text="anyone?")
    assert refused["code"] == "no_such_user"


async def test_history_pages_back_with_more_flag(user, config_overrides):
    alice = await user("alice", "lobby")
    ids = [(await alice.say("lobby", f"m{i}"))["id"] for i in range(7)]
    page = await alice.request("history", room="lobby", before=ids[-1], limit=3)
    assert [m["id"] for m in page["messages"]] == ids[3:6] and page["more"] is True
    page = await alice.request("history", room="lobby", before=ids[3], limit=3)
    assert [m["id"] for m in page["messages"]] == ids[0:3] and page["more"] is False
    page = await alice.request("history", room="lobby", after=ids[1], before=ids[5])
    assert [m["id"] for m in page["messages"]] == ids[2:5] and page["more"] is False


@pytest.mark.parametrize("config_overrides", [{"history": {"page_max": 2}}])
async def test_history_limit_above_page_max_is_capped_not_refused(user, config_overrides):
    alice = await user("alice", "lobby")
    ids = [(await alice.say("lobby", f"m{i}"))["id"] for i in range(3)]
    page = await alice.request("history", room="lobby", limit=1000)
    assert [m["id"] for m in page["messages"]] == ids[1:] and page["more"] is True


@pytest.mark.parametrize("config_overrides", [{"history": {"join_count": 3}}])
async def test_join_sends_latest_history(user, config_overrides):
    alice = await user("alice", "lobby")
    ids = [(await alice.say("lobby", f"m{i}"))["id"] for i in range(5)]
    bob = await user("bob")
    joined = await bob.request("join", room="lobby")
    assert [m["id"] for m in joined["messages"]] == ids[2:]
    assert joined["more"] is True


async def test_reconnect_with_last_id_gets_exactly_the_missed_messages(user, connect):
    alice = await user("alice", "lobby")
    bob = await user("bob", "lobby")
    seen = await alice.say("lobby", "before the drop")
    await bob.expect("message", id=seen["id"])
    token = bob.welcome["token"]
    await bob.close()
    missed = [(await alice.say("lobby", f"missed {i}"))["id"] for i in range(5)]

    bob = await connect()
    await bob.identify(token=token)
    joined = await bob.request("join", room="lobby", since=seen["id"])
    assert [m["id"] for m in joined["messages"]] == missed and joined["more"] is False
    live = await alice.say("lobby", "after the return")
    assert (await bob.expect("message"))["id"] == live["id"]
    assert not [f for f in bob.backlog if f["type"] == "message"]


@pytest.mark.parametrize("config_overrides", [{"history": {"replay_max": 3}}])
async def test_resume_beyond_replay_max_says_more_and_pages_the_rest(user, connect, config_overrides):
    alice = await user("alice", "lobby")
    start = await alice.say("lobby", "seen")
    missed = [(await alice.say("lobby", f"missed {i}"))["id"] for i in range(7)]
    bob = await user("bob")
    joined = await bob.request("join", room="lobby", since=start["id"])
    assert [m["id"] for m in joined["messages"]] == missed[:3] and joined["more"] is True
    rest = await bob.request("history", room="lobby", after=missed[2])
    assert [m["id"] for m in rest["messages"]] == missed[3:] and rest["more"] is False


async def test_messages_sent_during_a_join_arrive_once_in_order(user):
    """Messages stored while a join's history is loading are neither lost nor
    repeated between `joined.messages` and the live frames."""
    alice = await user("alice", "lobby")
    bob = await user("bob")
    sent = [f"m{i}" for i in range(60)]
    for text in sent[:30]:
        await alice.send({"type": "say", "room": "lobby", "text": text})
    await bob.send({"type": "join", "room": "lobby", "since": 0})
    for text in sent[30:]:
        await alice.send({"type": "say", "room": "lobby", "text": text})
    joined = await bob.expect("joined")
    got = [m["id"] for m in joined["messages"]]
    while len(got) < 60:
        got.append((await bob.expect("message"))["id"])
    assert got == sorted(set(got)) and len(got) == 60


class LateDelivery:
    """Holds back the writer thread's "stored" callbacks while ``holding``, as
    a writer thread descheduled between its commit and telling the event loop
    would: the rows are committed (a history read sees them) but neither
    acknowledged nor routed yet. ``release()`` lets them through, in order."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch):
        self._deliver = writer.Writer._deliver
        self._held: list = []  # writers whose committed batches wait
        self.holding = False
        self.committed = asyncio.Event()  # something was committed and held
        late = self

        def gate(writer_: writer.Writer) -> None:
            if not late.holding:
                late._deliver(writer_)
                return
            late._held.append(writer_)
            late.committed.set()

        monkeypatch.setattr(writer.Writer, "_deliver", gate)

    def release(self) -> None:
        self.holding = False
        for writer_ in self._held:
            self._deliver(writer_)
        self._held.clear()


@pytest.fixture
def late_delivery(monkeypatch: pytest.MonkeyPatch) -> LateDelivery:
    return LateDelivery(monkeypatch)


async def test_a_message_routed_after_the_join_that_replayed_it_is_not_sent_again(user, connect, late_delivery):
    """How a client resuming through `chatd restart` saw messages twice: the
    writer commits "late", bob's join reads it into `joined.messages`, and only
    then is "late" routed live to the room — bob included."""
    alice = await user("alice", "lobby")
    earlier = await user("bob", "lobby")  # bob follows the lobby (a first join's write, which the gate would hold)
    await earlier.close()
    bob = await (await connect()).enter(token=earlier.welcome["token"])
    first = await alice.say("lobby", "seen before")
    late_delivery.holding = True
    await alice.send({"type": "say", "room": "lobby", "text": "late", "cid": "late"})
    async with asyncio.timeout(10):
        await late_delivery.committed.wait()
    joined = await bob.request("join", room="lobby", since=first["id"])
    assert [m["text"] for m in joined["messages"]] == ["late"]
    late_delivery.release()
    after = await alice.say("lobby", "after")
    assert (await bob.expect("message"))["id"] == after["id"], "late came once, in joined, not again live"


async def test_a_private_message_routed_after_the_welcome_that_replayed_it_is_not_sent_again(
        user, connect, late_delivery):
    alice = await user("alice")
    bob = await user("bob")
    bob_id = bob.welcome["user"]["id"]
    first = await alice.request("say", to=bob_id, text="seen before")
    await bob.close()
    late_delivery.holding = True
    await alice.send({"type": "say", "to": bob_id, "text": "late", "cid": "late"})
    async with asyncio.timeout(10):
        await late_delivery.committed.wait()
    again = await connect()
    welcome = await again.identify(token=bob.welcome["token"], since=first["id"])
    assert [m["text"] for m in welcome["messages"]] == ["late"]
    late_delivery.release()
    after = await alice.request("say", to=bob_id, text="after")
    assert (await again.expect("message"))["id"] == after["id"], "late came once, in welcome, not again live"


async def test_say_retried_with_same_cid_is_stored_once(user, connect):
    alice = await user("alice", "lobby")
    bob = await user("bob", "lobby")
    first = await alice.say("lobby", "only once", cid="retry-1")
    # the retry comes from a new connection of the same user, as after a lost ack
    alice2 = await connect()
    await alice2.identify(token=alice.welcome["token"])
    await alice2.request("join", room="lobby")
    again = await alice2.say("lobby", "only once", cid="retry-1")
    assert again["type"] == "ack" and again["id"] == first["id"] and again["ts"] == first["ts"]
    marker = await alice.say("lobby", "next")
    texts = []
    while True:
        msg = await bob.expect("message")
        texts.append(msg["text"])
        if msg["id"] == marker["id"]:
            break
    assert texts == ["only once", "next"]
    history = await bob.request("history", room="lobby")
    assert [m["text"] for m in history["messages"]] == ["only once", "next"]


async def test_same_cid_from_another_user_is_a_new_message(user):
    alice = await user("alice", "lobby")
    bob = await user("bob", "lobby")
    a = await alice.say("lobby", "a", cid="same")
    b = await bob.say("lobby", "b", cid="same")
    assert a["id"] != b["id"]


async def test_resume_token_restores_the_user_and_rename(user, connect):
    alice = await user("alice")
    again = await connect()
    welcome = await again.identify(token=alice.welcome["token"])
    assert welcome["user"] == alice.welcome["user"]
    await alice.close()
    await again.close()
    renamed = await connect()
    welcome = await renamed.identify(token=alice.welcome["token"], name="alicia")
    assert welcome["user"] == {"id": alice.welcome["user"]["id"], "name": "alicia"}


async def test_forged_token_is_refused(connect):
    client = await connect()
    refused = await client.identify(token="1.9999999999.forged")
    assert refused["code"] == "bad_token"


async def test_private_resume_with_since_gets_only_newer_private_messages(user, connect):
    alice = await user("alice")
    bob = await user("bob")
    bob_id = bob.welcome["user"]["id"]
    seen = await alice.request("say", to=bob_id, text="seen")
    await bob.expect("message", id=seen["id"])
    await bob.close()
    missed = [(await alice.request("say", to=bob_id, text=f"missed {i}"))["id"] for i in range(3)]
    again = await connect()
    welcome = await again.identify(token=bob.welcome["token"], since=seen["id"])
    assert [m["id"] for m in welcome["messages"]] == missed and welcome["more"] is False
    live = await alice.request("say", to=bob_id, text="live")
    assert (await again.expect("message"))["id"] == live["id"]


@pytest.mark.parametrize("config_overrides", [{"rooms": {"member_list_max": 2}}])
async def test_huge_rooms_get_partial_member_lists_and_no_presence(user, config_overrides):
    alice = await user("alice", "lobby")
    await user("bob", "lobby")
    assert (await alice.expect("presence"))["user"]["name"] == "bob"
    carol = await user("carol")
    joined = await carol.request("join", room="lobby")
    assert joined["online"] == 3 and len(joined["members"]) == 2
    await alice.request("rooms")  # a round trip: a presence for carol would have come first
    assert not [f for f in alice.backlog if f["type"] == "presence"]


async def test_private_catch_up_across_all_conversations(user):
    alice = await user("alice")
    bob = await user("bob")
    carol = await user("carol")
    ids = [(await sender.request("say", to=alice.welcome["user"]["id"], text="hi"))["id"] for sender in (bob, carol)]
    page = await alice.request("history", after=0)
    assert page["private"] is True and [m["id"] for m in page["messages"]] == ids


async def test_rename_is_announced_to_the_rooms_of_the_user(user, connect):
    alice = await user("alice", "lobby")
    bob = await user("bob", "lobby")
    renamed = await connect()
    welcome = await renamed.identify(token=alice.welcome["token"], name="alicia")
    assert welcome["user"]["name"] == "alicia"
    event = await bob.expect("presence", event="rename")
    assert event["user"] == {"id": alice.welcome["user"]["id"], "name": "alicia"}


async def test_welcome_tells_the_limits(user):
    alice = await user("alice")
    assert alice.welcome["limits"]["max_text_chars"] == 4000


async def test_the_sender_gets_its_ack_before_its_own_message(user):
    """docs/protocol.md, "ack": a client may show its message once acknowledged, then take the frame as a no-op."""
    alice = await user("alice", "lobby")
    for i in range(20):
        await alice.send({"type": "say", "room": "lobby", "text": f"n{i}", "cid": f"c{i}"})
    kinds = []
    while len(kinds) < 40:
        frame = json.loads(await alice.ws.recv())
        kinds.append((frame["type"], frame.get("cid") or frame.get("text")))
    assert kinds == [pair for i in range(20) for pair in (("ack", f"c{i}"), ("message", f"n{i}"))]

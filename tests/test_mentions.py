"""Mentions (docs/protocol.md, "Mentions"): the rule (chatd.mentions), and a real server on
SQLite and PostgreSQL resolving @names at store time, carrying them on live, history and
replayed frames and counting unread ones per room."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from chatd.mentions import MENTIONS_MAX, listed, resolve, stored
from tests.stores import KINDS

PEOPLE = [(1, "ann"), (2, "Ana María"), (3, "Ana"), (4, "张三"), (5, "bob")]


@pytest.mark.parametrize(("text", "ids"), [
    ("hi @ann", [1]),
    ("@ANN, @Bob!", [1, 5]),  # case-folded; punctuation ends a name
    ("(@ann)", [1]),
    ("@Аnn with a Cyrillic А", [1]),  # look-alikes compare as names do everywhere
    ("@Ana María hola", [2]),  # names with spaces: the longest that fits wins
    ("@Ana, hola", [3]),
    ("@张三 你好", [4]),
    ("@张三你好", []),  # a mention ends where a word does: the completion inserts a space after it
    ("@annie", []),
    ("mail ann@ann.org or @@ann", []),
    ("@carl is nobody here", []),
    ("@ann @ann again", [1]),
    ("me, @bob, myself", []),  # the sender is never mentioned
])
def test_the_rule(text: str, ids: list[int]) -> None:
    assert resolve(text, PEOPLE, sender_id=5 if "myself" in text else None) == ids


def test_a_message_mentions_a_bounded_number_of_users() -> None:
    people = [(n, f"user{n}") for n in range(1, 100)]
    text = " ".join(f"@user{n}" for n in range(1, 100))
    assert resolve(text, people) == list(range(1, MENTIONS_MAX + 1))
    assert listed(stored([3, 17])) == [3, 17] and stored([]) is None


@pytest.fixture(params=KINDS)
def config_overrides(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    database = request.getfixturevalue("postgres_url") if request.param == "postgres" else str(tmp_path / "chatd.db")
    return {"database": database, "rooms": {"default": ["lobby", "games"]}}


async def test_a_mention_in_another_room_reaches_the_user_counted_and_carried_everywhere(user, connect):
    ann = await user("ann", "lobby", "games")
    carl = await user("carl", "lobby")  # never joined games: named there, not mentioned
    bob = await user("bob", "games")
    ann_id = ann.welcome["user"]["id"]
    said = await bob.say("games", "@ann and @carl: look at this")
    live = await ann.expect("message", id=said["id"])
    assert live["mentions"] == [ann_id]

    history = await bob.request("history", room="games")
    assert history["messages"][-1]["mentions"] == [ann_id]
    await bob.say("games", "no one named")
    again = await (await connect()).enter(token=ann.welcome["token"])
    state = next(s for s in again.welcome["room_state"] if s["room"] == "games")
    assert (state["unread"], state["mentions"]) == (2, 1)
    replay = await again.request("join", room="games", since=said["id"] - 1)
    assert replay["messages"][0]["mentions"] == [ann_id] and "mentions" not in replay["messages"][1]
    assert (replay["unread"], replay["mentions"]) == (2, 1)

    await again.send({"type": "read", "room": "games", "id": said["id"]})
    await ann.expect("read")
    after = await (await connect()).enter(token=ann.welcome["token"])
    assert [(s["unread"], s["mentions"]) for s in after.welcome["room_state"] if s["room"] == "games"] == [(1, 0)]
    carl_again = await (await connect()).enter(token=carl.welcome["token"])
    assert [s["room"] for s in carl_again.welcome["room_state"]] == ["lobby"], "a room carl never joined"

"""The hub on its own: no server, no sockets — sessions that record what they get."""

from __future__ import annotations

import pytest

from chatd.hub import PRIVATE, Hub, NameTaken, Session


def make_session(sid: str) -> tuple[Session, list[bytes]]:
    got: list[bytes] = []
    return Session(sid, got.append), got


@pytest.fixture
def hub() -> Hub:
    hub = Hub()
    hub.add_room(1, "lobby")
    return hub


def test_names_are_unique_among_online_users_ignoring_case(hub):
    a, _ = make_session("a")
    b, _ = make_session("b")
    hub.attach(a, 1, "Alice")
    with pytest.raises(NameTaken):
        hub.attach(b, 2, "ALICE")
    hub.detach(a)
    hub.attach(b, 2, "alice")  # free once the holder is offline
    assert hub.users[2].name == "alice"


def test_second_session_of_a_user_may_use_its_name_and_rename(hub):
    a1, _ = make_session("a1")
    a2, _ = make_session("a2")
    hub.attach(a1, 1, "alice")
    hub.attach(a2, 1, "alicia")
    assert hub.users[1].name == "alicia" and hub.users[1].sessions == {a1, a2}
    assert not hub.name_taken("alice")


def test_presence_is_per_user_not_per_session(hub):
    lobby = hub.room("lobby")
    t1, _ = make_session("t1")
    t2, _ = make_session("t2")
    hub.attach(t1, 1, "bob")
    hub.attach(t2, 1, "bob")
    assert hub.join(t1, lobby) is True
    assert hub.join(t2, lobby) is False
    assert list(hub.room_list()) == [{"name": "lobby", "topic": "", "online": 1}]
    assert hub.detach(t1) == []
    assert hub.detach(t2) == [(lobby, t2.user)]
    assert next(hub.room_list())["online"] == 0 and not hub.users


def test_leave_reports_last_session_only(hub):
    lobby = hub.room("LOBBY")
    s1, _ = make_session("s1")
    s2, _ = make_session("s2")
    hub.attach(s1, 1, "a")
    hub.attach(s2, 1, "a")
    hub.join(s1, lobby)
    hub.join(s2, lobby)
    assert hub.leave(s1, lobby) is False
    assert hub.leave(s1, lobby) is False  # not in the room any more
    assert hub.leave(s2, lobby) is True


def test_join_holds_live_messages_until_history_is_sent(hub):
    lobby = hub.room("lobby")
    s, got = make_session("s")
    hub.attach(s, 1, "a")
    hub.complete_join(s, lobby, 0)
    hub.join(s, lobby)
    hub.publish(lobby.sessions, lobby.key, 10, b"m10")  # stored before the history read
    hub.publish(lobby.sessions, lobby.key, None, b"presence")
    hub.publish(lobby.sessions, lobby.key, 11, b"m11")  # stored after it
    assert got == []
    hub.complete_join(s, lobby, last_id=10)  # the history ended at 10
    assert got == [b"presence", b"m11"]
    hub.publish(lobby.sessions, lobby.key, 12, b"m12")
    assert got[-1] == b"m12"


def test_private_messages_are_held_until_welcome(hub):
    s, got = make_session("s")
    hub.attach(s, 1, "a")
    hub.publish(hub.private_sessions(1), PRIVATE, 5, b"dm5")
    assert got == []
    s.release(PRIVATE, 4)
    assert got == [b"dm5"]


def test_broadcast_sends_the_same_bytes_object_to_everyone(hub):
    lobby = hub.room("lobby")
    received = []
    for i in range(3):
        s = Session(str(i), received.append)
        hub.attach(s, i + 1, f"u{i}")
        s.release(PRIVATE, 0)
        hub.join(s, lobby)
        hub.complete_join(s, lobby, 0)
    frame = b"one frame"
    hub.publish(lobby.sessions, lobby.key, 1, frame)
    assert len(received) == 3 and all(r is frame for r in received)


def test_private_sessions_covers_both_users_once(hub):
    a, _ = make_session("a")
    b, _ = make_session("b")
    c, _ = make_session("c")
    hub.attach(a, 1, "a")
    hub.attach(b, 2, "b")
    hub.attach(c, 3, "c")
    assert hub.private_sessions(1, 2) == {a, b}
    assert hub.private_sessions(1, 1) == {a}
    assert hub.private_sessions(1, 99) == {a}

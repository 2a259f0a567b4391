"""The hub on its own: no server, no sockets — sessions that record what they get."""

from __future__ import annotations

import pytest

from chatd.hub import Holder, Hub, NameTaken
from chatd.session import APP, PRIVATE, Session

NOW = 1000.0  # a clock reading, in seconds
HOLD = 300.0  # identity.name_hold_seconds


def make_session(sid: str) -> tuple[Session, list[bytes]]:
    got: list[bytes] = []
    return Session(sid, got.append), got


@pytest.fixture
def hub() -> Hub:
    hub = Hub()
    hub.add_room(1, "lobby")
    return hub


def test_online_names_are_unique_by_look_not_only_case(hub):
    a, _ = make_session("a")
    hub.attach(a, 1, "Mark", NOW, HOLD)
    for imposter in ["MARK", "M\u0430rk", "Ｍａｒｋ", "𝐌𝐚𝐫𝐤", "M\u200dark"]:
        b, _ = make_session("b")
        with pytest.raises(NameTaken) as e:
            hub.attach(b, 2, imposter, NOW, HOLD)
        assert e.value.holder == Holder(1, "Mark")
    hub.attach(make_session("c")[0], 3, "Marc", NOW, HOLD)  # different, if close


def test_a_name_let_go_is_held_for_its_user_for_hold_seconds(hub):
    a, _ = make_session("a")
    hub.attach(a, 1, "Mark", NOW, HOLD)
    hub.detach(a, NOW)
    assert hub.name_holder("mark", 2, NOW + HOLD - 1, HOLD) == Holder(1, "Mark", left_at=NOW)
    assert hub.name_holder("Mark", 1, NOW + 1, HOLD) is None  # its own user may take it back
    assert hub.name_holder("Mark", 2, NOW + HOLD, HOLD) is None  # the hold is over
    assert hub.name_holder("Mark", 2, NOW + 10, 5) is None  # a shorter hold (reload) applies at once


def test_taking_a_held_name_back_ends_the_hold(hub):
    a, _ = make_session("a")
    hub.attach(a, 1, "Mark", NOW, HOLD)
    hub.detach(a, NOW)
    hub.attach(a, 1, "Mark", NOW + 5, HOLD)
    hub.detach(a, NOW + 6)
    assert hub.name_holder("Mark", 2, NOW + 6 + HOLD - 1, HOLD) is not None  # held from the latest leave


def test_names_held_from_before_the_start_hold_as_names_let_go_here(hub):
    """``Hub.hold`` (chatd.store.nameholds, at start): each holder keeps its name and look-alikes
    from its ``left_at``; of two on one name, the later; oldest first whatever the order given."""
    hub.hold([Holder(2, "ANN", NOW), Holder(1, "Mark", NOW), Holder(3, "Ann", NOW - 100)])
    assert hub.name_holder("M\u0430rk", 9, NOW + HOLD - 1, HOLD) == Holder(1, "Mark", NOW)
    assert hub.name_holder("ann", 9, NOW + HOLD - 101, HOLD) == Holder(2, "ANN", NOW)
    assert hub.name_holder("ann", 2, NOW, HOLD) is None  # its user takes it back
    a, _ = make_session("a")
    hub.attach(a, 1, "Mark", NOW + 1, HOLD)
    hub.detach(a, NOW + 2)
    assert hub.name_holder("Mark", 9, NOW + HOLD + 1, HOLD) == Holder(1, "Mark", NOW + 2)
    assert hub.name_holder("Ann", 9, NOW + HOLD, HOLD) is None


def test_second_session_of_a_user_may_use_its_name_and_rename(hub):
    a1, _ = make_session("a1")
    a2, _ = make_session("a2")
    hub.attach(a1, 1, "alice", NOW, HOLD)
    hub.attach(a2, 1, "alicia", NOW, HOLD)
    assert hub.users[1].name == "alicia" and set(hub.users[1].sessions) == {a1, a2}
    assert hub.name_holder("alice", 2, NOW, HOLD) == Holder(1, "alice", left_at=NOW)  # the old name is held
    assert hub.name_holder("alice", 1, NOW, HOLD) is None


def test_users_the_app_vouches_for_are_never_refused_a_name_and_hold_it_against_guests(hub):
    guest, _ = make_session("g")
    hub.attach(guest, 1, "John", NOW, HOLD)
    johns = [make_session(f"j{uid}")[0] for uid in (2, 3)]
    for uid, session in zip((2, 3), johns, strict=True):
        assert hub.attach(session, uid, "John", NOW, HOLD, kind=APP).name == "John", "two Johns of the app"
    hub.detach(guest, NOW)
    with pytest.raises(NameTaken):
        hub.attach(guest, 1, "john", NOW + 1, HOLD)  # the guest's own held name: app users online have it
    hub.detach(johns[0], NOW + 2)
    assert hub.name_holder("JOHN", 4, NOW + 2, HOLD).user_id == 3, "the other John still holds it"
    hub.detach(johns[1], NOW + 3)
    assert hub.name_holder("JOHN", 4, NOW + 3, HOLD) == Holder(3, "John", left_at=NOW + 3)
    assert hub.name_holder("JOHN", 4, NOW + 3 + HOLD, HOLD) is None


def test_held_names_are_forgotten_once_expired(hub):
    for uid in range(1, 101):
        s, _ = make_session(str(uid))
        hub.attach(s, uid, f"user{uid}", NOW + uid, HOLD)
        hub.detach(s, NOW + uid)
    hub.name_holder("someone", None, NOW + 100 + HOLD, HOLD)
    assert len(hub._let_go) <= 2  # only the last user's (at most two) keys are still held


def test_rooms_are_looked_up_ignoring_case_and_refused_by_look(hub):
    assert hub.room("LOBBY") is hub.room("lobby")
    assert hub.room("l\u043ebby") is None  # Cyrillic о: not the same room...
    assert hub.room_like("l\u043ebby") is hub.room("lobby")  # ...but no new room may be called that
    assert hub.room_like("𝐥𝐨𝐛𝐛𝐲") is hub.room("lobby")
    assert hub.room_like("lobbies") is None


def test_presence_is_per_user_not_per_session(hub):
    lobby = hub.room("lobby")
    t1, _ = make_session("t1")
    t2, _ = make_session("t2")
    hub.attach(t1, 1, "bob", NOW, HOLD)
    hub.attach(t2, 1, "bob", NOW, HOLD)
    assert hub.join(t1, lobby) is True
    assert hub.join(t2, lobby) is False
    assert list(hub.room_list()) == [{"name": "lobby", "topic": "", "online": 1}]
    assert hub.detach(t1, NOW) == []
    assert hub.detach(t2, NOW) == [(lobby, t2.user)]
    assert next(hub.room_list())["online"] == 0 and not hub.users


def test_leave_reports_last_session_only(hub):
    lobby = hub.room("LOBBY")
    s1, _ = make_session("s1")
    s2, _ = make_session("s2")
    hub.attach(s1, 1, "a", NOW, HOLD)
    hub.attach(s2, 1, "a", NOW, HOLD)
    hub.join(s1, lobby)
    hub.join(s2, lobby)
    assert hub.leave(s1, lobby) is False
    assert hub.leave(s1, lobby) is False  # not in the room any more
    assert hub.leave(s2, lobby) is True


def test_join_holds_live_messages_until_history_is_sent(hub):
    lobby = hub.room("lobby")
    s, got = make_session("s")
    hub.attach(s, 1, "a", NOW, HOLD)
    s.release(lobby.key, 0)
    hub.join(s, lobby)
    hub.publish(lobby.sessions, lobby.key, 10, b"m10")  # stored before the history read
    hub.publish(lobby.sessions, lobby.key, None, b"presence")
    hub.publish(lobby.sessions, lobby.key, 11, b"m11")  # stored after it
    assert got == []
    s.release(lobby.key, 10)  # the history ended at 10
    assert got == [b"presence", b"m11"]
    hub.publish(lobby.sessions, lobby.key, 12, b"m12")
    assert got[-1] == b"m12"


def test_a_message_routed_after_the_history_that_held_it_is_not_sent_again(hub):
    """The writer commits 11, the history read sees it, and only then does the
    writer's "stored" callback route 11: the client has it from the page."""
    lobby = hub.room("lobby")
    s, got = make_session("s")
    hub.attach(s, 1, "a", NOW, HOLD)
    hub.join(s, lobby)
    s.release(lobby.key, 11)  # the page ended at 11
    hub.publish(lobby.sessions, lobby.key, 10, b"m10")
    hub.publish(lobby.sessions, lobby.key, 11, b"m11")
    hub.publish(lobby.sessions, lobby.key, None, b"presence")
    hub.publish(lobby.sessions, lobby.key, 12, b"m12")
    hub.publish(lobby.sessions, lobby.key, 12, b"m12")
    assert got == [b"presence", b"m12"]
    s.release(PRIVATE, 5)
    hub.publish(hub.users[1].sessions, PRIVATE, 5, b"dm5")
    hub.publish(hub.users[1].sessions, PRIVATE, 6, b"dm6")
    assert got[2:] == [b"dm6"], "the private channel keeps its own position"


def test_private_messages_are_held_until_welcome(hub):
    s, got = make_session("s")
    hub.attach(s, 1, "a", NOW, HOLD)
    hub.publish(hub.users[1].sessions, PRIVATE, 5, b"dm5")
    assert got == []
    s.release(PRIVATE, 4)
    assert got == [b"dm5"]


def test_broadcast_sends_the_same_bytes_object_to_everyone(hub):
    lobby = hub.room("lobby")
    received = []
    for i in range(3):
        s = Session(str(i), received.append)
        hub.attach(s, i + 1, f"u{i}", NOW, HOLD)
        s.release(PRIVATE, 0)
        hub.join(s, lobby)
        s.release(lobby.key, 0)
    frame = b"one frame"
    hub.publish(lobby.sessions, lobby.key, 1, frame)
    assert len(received) == 3 and all(r is frame for r in received)


def test_sessions_of_a_user_and_of_one_of_its_sign_ins(hub):
    tab, other_tab, phone, bob = (make_session(s)[0] for s in ("tab", "other_tab", "phone", "bob"))
    for session, user, sign_in in ((tab, 1, 10), (other_tab, 1, 10), (phone, 1, 11), (bob, 2, 12)):
        hub.attach(session, user, f"user{user}", NOW, HOLD)
        session.sign_in = sign_in
    assert set(hub.sessions_of(1, 10)) == {tab, other_tab}
    assert set(hub.sessions_of(1)) == {tab, other_tab, phone}
    assert hub.sessions_of(1, 12) == [] and hub.sessions_of(3) == []


def names(entries) -> list[str]:
    return [entry["name"] for entry in entries]


def test_a_removed_room_leaves_the_list_and_paging_goes_on_from_its_place(hub):
    for i, name in enumerate(["a", "b", "c", "d"], start=2):
        hub.add_room(i, name, creator_id=7)
    assert hub.created_by[7] == 4
    hub.remove_room(hub.room("b"))
    assert names(hub.room_list()) == ["lobby", "a", "c", "d"]
    assert names(hub.room_list(hub.position("b"))) == ["c", "d"]  # a cursor that names the removed room
    assert hub.removed_lately("B") and hub.room("b") is None and hub.room_like("b") is None
    assert hub.created_by[7] == 3
    again = hub.add_room(9, "b")  # made again: at the end, and the name means the new room
    assert names(hub.room_list()) == ["lobby", "a", "c", "d", "b"]
    assert hub.position("b") == again.position and not hub.removed_lately("b")


def test_removed_rooms_are_remembered_in_bounded_memory(hub, monkeypatch):
    monkeypatch.setattr("chatd.hub.GONE_KEPT", 3)
    for i in range(10):
        hub.remove_room(hub.add_room(i + 2, f"r{i}"))
    assert len(hub._gone) == 3 and hub.position("r9") is not None and hub.position("r0") is None


def test_a_look_alike_name_key_passes_to_the_next_room_that_has_it():
    """A database from before look-alikes were refused may hold two such rooms."""
    hub = Hub()
    first, second = hub.add_room(1, "lobby"), hub.add_room(2, "l\u043ebby")
    assert hub.room_like("LOBBY") is first
    hub.remove_room(first)
    assert hub.room_like("LOBBY") is second


def test_online_count_changes_are_noted_once_per_room(hub):
    lobby = hub.room("lobby")
    t1, _ = make_session("t1")
    t2, _ = make_session("t2")
    hub.attach(t1, 1, "ann", NOW, HOLD)
    hub.attach(t2, 1, "ann", NOW, HOLD)
    hub.join(t1, lobby)
    hub.join(t2, lobby)  # a second tab: the count does not move
    assert list(hub.changed) == [lobby]
    hub.changed.clear()
    hub.leave(t2, lobby)
    assert not hub.changed
    hub.detach(t1, NOW)
    assert list(hub.changed) == [lobby]


def test_a_listener_is_forgotten_with_its_session(hub):
    s, _ = make_session("s")
    hub.attach(s, 1, "ann", NOW, HOLD)
    hub.listen(s)
    assert hub.listeners == {s}
    hub.detach(s, NOW)
    assert not hub.listeners

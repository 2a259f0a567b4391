"""The other nodes' state, pure (chatd/cluster/peers.py)."""

from __future__ import annotations

from chatd.cluster.peers import JOIN, LEAVE, OFFLINE, ONLINE, RENAME, RESTYLE, Change, Peers, snapshot


def test_a_user_in_a_room_on_two_nodes_leaves_when_the_last_lets_go():
    elsewhere: dict = {}
    peers = Peers(elsewhere)
    assert peers.apply("n1", [[ONLINE, 4, "bob"], [JOIN, 4, 7]], 0.0) == [Change(ONLINE, 4, None, "bob"),
                                                                           Change(JOIN, 4, 7, "bob")]
    assert peers.apply("n2", [[ONLINE, 4, "bob"], [JOIN, 4, 7]], 0.0) == []
    assert elsewhere == {7: {4: 2}}
    assert peers.apply("n1", [[OFFLINE, 4]], 1.0) == []
    assert peers.apply("n2", [[LEAVE, 4, 7]], 1.0) == [Change(LEAVE, 4, 7, "bob")]
    assert elsewhere == {7: {}}
    assert peers.apply("n2", [[OFFLINE, 4]], 1.0) == [Change(OFFLINE, 4, None, "bob")]


def test_a_snapshot_gives_only_the_difference_from_what_was_known():
    peers = Peers({})
    peers.apply("n1", [[ONLINE, 4, "bob"], [JOIN, 4, 7], [ONLINE, 5, "eve"]], 0.0)
    state = snapshot({4: "bob", 6: "ann"}, {7: [], 8: [4, 6]})
    assert sorted(peers.replace("n1", state, 1.0)) == sorted([
        Change(LEAVE, 4, 7, "bob"), Change(OFFLINE, 5, None, "eve"), Change(ONLINE, 6, None, "ann"),
        Change(JOIN, 4, 8, "bob"), Change(JOIN, 6, 8, "ann")])
    assert peers.replace("n1", state, 2.0) == []


def test_a_node_silent_too_long_is_dropped_with_its_users():
    elsewhere: dict = {}
    peers = Peers(elsewhere)
    peers.apply("n1", [[ONLINE, 4, "bob"], [JOIN, 4, 7]], 0.0)
    peers.heard("n2", 4.0)
    assert peers.expire(-1.0, 4.0) == ([], [])
    dropped, changes = peers.expire(0.0, 5.0)
    assert dropped == ["n1"] and changes == [Change(LEAVE, 4, 7, "bob"), Change(OFFLINE, 4, None, "bob")]
    assert list(peers.nodes) == ["n2"] and elsewhere == {7: {}}


def test_names_elsewhere_are_taken_then_held_for_their_user():
    peers = Peers({})
    peers.apply("n1", [[ONLINE, 4, "Mark"]], 0.0)
    assert peers.name_holder("Mаrk", None, 0.0, 300).user_id == 4  # Cyrillic а
    assert peers.name_holder("mark", 4, 0.0, 300) is None  # its own
    peers.apply("n1", [[ONLINE, 4, "Marcus"]], 10.0)  # a rename: the old name is held
    held = peers.name_holder("mark", None, 20.0, 300)
    assert (held.user_id, held.left_at) == (4, 10.0)
    assert peers.name_holder("mark", None, 310.0, 300) is None


def test_users_online_elsewhere_with_one_name_each_hold_it():
    """Users the web app vouches for may share a name (chatd.hub, "Names"): one leaving leaves it held by the other."""
    peers = Peers({})
    peers.apply("n1", [[ONLINE, 4, "John"]], 0.0)
    peers.apply("n2", [[ONLINE, 5, "John"]], 0.0)
    peers.apply("n1", [[OFFLINE, 4]], 1.0)
    assert peers.name_holder("john", None, 1.0 + 300, 300).user_id == 5
    peers.apply("n2", [[OFFLINE, 5]], 2.0)
    assert peers.name_holder("john", None, 2.0 + 300, 300) is None


def test_a_rename_elsewhere_is_one_change():
    peers = Peers({})
    peers.apply("n1", [[ONLINE, 4, "bob"]], 0.0)
    assert peers.apply("n2", [[ONLINE, 4, "bobby"]], 1.0) == [Change(RENAME, 4, None, "bobby")]
    assert peers.name(4) == "bobby"


def test_a_users_ref_fields_come_with_its_online_op_and_its_nodes_snapshot():
    peers = Peers({})
    rank = {"rank": "moderator"}
    assert peers.apply("n1", [[ONLINE, 4, "bob", rank], [JOIN, 4, 7]], 0.0) == [
        Change(ONLINE, 4, None, "bob", rank), Change(JOIN, 4, 7, "bob", rank)]
    assert peers.ref(4) == {"id": 4, "name": "bob", "rank": "moderator"}
    assert peers.apply("n1", [[ONLINE, 4, "bob"]], 1.0) == [Change(RESTYLE, 4, None, "bob", None)], \
        "an op's new fields: the rooms bob is in hear it (a sign-in there)"
    assert peers.ref(4) == {"id": 4, "name": "bob"}, "no fields: none (a role taken away; an old node)"
    assert peers.apply("n1", [[ONLINE, 4, "bob"]], 1.5) == [], "the same again: nothing new"
    assert peers.replace("n1", snapshot({4: "bob"}, {7: [4]}, {4: {"rank": "admin"}}), 2.0) == [], \
        "a snapshot's fields are taken silently: two nodes at odds would otherwise say so each heartbeat"
    assert peers.ref(4) == {"id": 4, "name": "bob", "rank": "admin"}
    peers.restyled(4, {"rank": "moderator"})  # bob signed in on this node: n1 takes it as this node tells it
    peers.restyled(5, {"rank": "moderator"})  # online nowhere else: nothing kept for it
    assert (peers.ref(4), peers.ref(5)) == ({"id": 4, "name": "bob", "rank": "moderator"}, None)
    assert peers.apply("n1", [[ONLINE, 4, "bob", {"rank": "admin"}]], 2.5) == [
        Change(RESTYLE, 4, None, "bob", {"rank": "admin"})]
    assert peers.apply("n1", [[OFFLINE, 4]], 3.0) == [Change(LEAVE, 4, 7, "bob", {"rank": "admin"}),
                                                      Change(OFFLINE, 4, None, "bob", {"rank": "admin"})]
    assert peers.ref(4) is None

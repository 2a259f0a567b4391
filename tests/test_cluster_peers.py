"""The other nodes' state, pure (chatd/cluster/peers.py)."""

from __future__ import annotations

import pytest

from chatd.cluster.peers import JOIN, LEAVE, OFFLINE, ONLINE, RENAME, RESTYLE, Change, Peers, snapshot
from chatd.cluster.refs import NO_STAMP, next_stamp


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
    """As a node of an older version tells them: unstamped (chatd/cluster/refs.py)."""
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
    assert peers.apply("n1", [[ONLINE, 4, "bob", {"rank": "moderator"}]], 2.5) == [
        Change(RESTYLE, 4, None, "bob", {"rank": "moderator"})]
    assert peers.apply("n1", [[OFFLINE, 4]], 3.0) == [Change(LEAVE, 4, 7, "bob", {"rank": "moderator"}),
                                                      Change(OFFLINE, 4, None, "bob", {"rank": "moderator"})]
    assert peers.ref(4) is None


def test_the_newest_sign_in_names_a_user_whichever_node_tells_it_and_how():
    """Each sign-in's fields come with its stamp (ms, node id): the newest holds, from an op or a snapshot;
    an older one, or none (a node of an older version), changes nothing."""
    peers = Peers({})
    mod, admin = {"rank": "moderator"}, {"rank": "admin"}
    assert peers.apply("n1", [[ONLINE, 4, "bob", mod, [1000, "n1"]]], 0.0) == [
        Change(ONLINE, 4, None, "bob", mod, (1000, "n1"))]
    assert peers.apply("n2", [[ONLINE, 4, "bob", {}, [999, "n2"]]], 0.0) == [], "bob online on n2 too: older"
    assert peers.ref(4) == {"id": 4, "name": "bob", "rank": "moderator"}
    assert peers.apply("n2", [[ONLINE, 4, "bob", admin, [1000, "n2"]]], 0.5) == [
        Change(RESTYLE, 4, None, "bob", admin, (1000, "n2"))], "the same ms: the greater node id"

    stale = snapshot({4: "bob"}, {}, {4: mod}, {4: (1000, "n1")})  # n1's, before it heard n2's sign-in
    assert peers.replace("n1", stale, 1.0) == [] and peers.ref(4)["rank"] == "admin", "never undoes a newer one"
    lost = snapshot({4: "bob"}, {}, {}, {4: (3000, "n1")})  # a sign-in on n1 whose op this node missed
    assert peers.replace("n1", lost, 2.0) == [Change(RESTYLE, 4, None, "bob", None, (3000, "n1"))], \
        "said, as from an op: the rooms bob is in hear it"
    assert peers.ref(4) == {"id": 4, "name": "bob"}
    assert peers.replace("n1", lost, 3.0) == [], "the same sign-in again: nothing new"
    assert peers.apply("n2", [[ONLINE, 4, "bob", admin]], 3.5) == [], "unstamped: never over a stamp"
    assert peers.ref(4) == {"id": 4, "name": "bob"}

    peers.told(4, mod, (4000, "n0"))  # bob signed in on this node: kept as the others will keep it
    peers.told(5, mod, (4000, "n0"))  # online nowhere else: nothing kept for it
    assert (peers.ref(4), peers.stamp(4)) == ({"id": 4, "name": "bob", "rank": "moderator"}, (4000, "n0"))
    assert (peers.ref(5), peers.stamp(5)) == (None, NO_STAMP)
    peers.told(4, admin, (3500, "n0"))
    assert peers.ref(4)["rank"] == "moderator", "older than what n1 told: not kept"
    peers.apply("n1", [[OFFLINE, 4]], 5.0)
    assert peers.stamp(4) == (4000, "n0"), "still online on n2"
    peers.apply("n2", [[OFFLINE, 4]], 5.0)
    assert (peers.ref(4), peers.stamp(4)) == (None, NO_STAMP), "online nowhere else: forgotten"


def test_a_sign_in_is_stamped_after_every_one_its_node_heard_of_whatever_the_clocks_say():
    assert next_stamp(5000, NO_STAMP, "n1") == (5000, "n1")
    assert next_stamp(5000, (4000, "n2"), "n1") == (5000, "n1")
    assert next_stamp(5000, (7000, "n2"), "n1") == (7001, "n1"), "n2's clock ahead: still after its sign-in"
    assert next_stamp(5000, (5000, "n2"), "n1") > (5000, "n2")


@pytest.mark.parametrize("stamp", [["1000", "n1"], [1000], [-1, "n1"], [1000, 7], 1000])
def test_a_malformed_stamp_is_the_senders_bug(stamp):
    """The cluster logs a notice it cannot understand and goes on (chatd.cluster.node)."""
    with pytest.raises((TypeError, ValueError)):
        Peers({}).apply("n1", [[ONLINE, 4, "bob", {}, stamp]], 0.0)

"""The mutes and bans in force as a node keeps them, and the rules of their input (chatd.sanctions)."""

from __future__ import annotations

import pytest

from chatd.sanctions import Sanctions, checked_network, lasting
from chatd.store.moderation import Ban, Mute

NOW = 1_800_000_000_000


@pytest.mark.parametrize(("typed", "canonical"), [
    ("203.0.113.7", "203.0.113.7/32"), (" 198.51.100.0/24 ", "198.51.100.0/24"), ("2001:DB8::/32", "2001:db8::/32"),
    ("::ffff:203.0.113.7", "203.0.113.7/32"), ("::ffff:198.51.100.0/120", "198.51.100.0/24"),
])
def test_a_network_is_kept_in_its_canonical_form(typed, canonical):
    assert checked_network(typed) == canonical


@pytest.mark.parametrize(("typed", "words"), [
    ("10.0.0.1/8", "has host bits set"), ("300.1.1.1", "not an address"), ("", "must be given"),
    (None, "must be given"), ("1.2.3.4/33", "not an address"), ("x" * 65, "at most 64 characters"),
    ("fe80::1%eth0", "zone"), ("fe80::%3/64", "zone"), ("0.0.0.0/0", "at least /8"), ("::/0", "at least /16"),
    ("64.0.0.0/2", "at least /8"), ("2000::/3", "at least /16"), ("::ffff:0.0.0.0/96", "at least /8"),
])
def test_what_is_no_network_is_refused_saying_why(typed, words):
    with pytest.raises(ValueError, match=words):
        checked_network(typed)


def test_the_widest_networks_allowed_are_a_documented_bound():
    assert checked_network("10.0.0.0/8") == "10.0.0.0/8" and checked_network("2001::/16") == "2001::/16"


@pytest.mark.parametrize(("typed", "own"), [
    ("127.0.0.1", "127.0.0.1"), ("198.51.100.0/24", "198.51.100.7"), ("2001:db8::/32", "2001:db8::1"),
    ("::ffff:198.51.100.7", "198.51.100.7"), ("198.51.100.0/24", "::ffff:198.51.100.7"),
])
def test_a_network_holding_the_banning_admin_s_own_address_is_refused(typed, own):
    with pytest.raises(ValueError, match="this would ban your own address"):
        checked_network(typed, own)


def test_a_network_apart_from_the_admin_s_address_is_fine():
    assert checked_network("198.51.100.0/24", "198.51.101.7") == "198.51.100.0/24"
    assert checked_network("198.51.100.0/24", "2001:db8::1") == "198.51.100.0/24"
    assert checked_network("198.51.100.0/24", "/run/chatd.sock") == "198.51.100.0/24", "a Unix socket: no address"


def test_the_longest_mute_of_a_room_and_everywhere_counts_and_ended_ones_do_not():
    sanctions = Sanctions()
    in_room = Mute(1, 7, 3, NOW + 60_000, "room", NOW)
    everywhere = Mute(2, 7, None, NOW + 10_000, "all", NOW)
    sanctions.load([in_room, everywhere, Mute(3, 8, None, NOW - 1, "over", NOW)], [])
    assert sanctions.mute_of(7, 3, NOW) == in_room
    assert sanctions.mute_of(7, 4, NOW) == everywhere
    assert sanctions.mute_of(7, None, NOW) == everywhere, "a private message: only a mute everywhere stops it"
    assert sanctions.mute_of(7, 4, NOW + 10_000) is None
    assert sanctions.mute_of(8, None, NOW) is None and sanctions.mute_of(9, None, NOW) is None
    assert sanctions.all_mutes(NOW) == [in_room, everywhere]


def test_user_and_network_bans_match_until_they_end():
    sanctions = Sanctions()
    user = Ban(1, 7, None, NOW + 1000, "u", NOW)
    v4 = Ban(2, None, "198.51.100.0/24", None, "v4", NOW)
    v6 = Ban(3, None, "2001:db8::/32", NOW + 1000, "v6", NOW)
    sanctions.load([], [user, v4, v6])
    assert sanctions.user_ban(7, NOW) == user and sanctions.user_ban(7, NOW + 1000) is None
    assert sanctions.address_ban("198.51.100.9", NOW) == v4
    assert sanctions.address_ban("::ffff:198.51.100.9", NOW) == v4, "as a dual-stack socket reports it"
    assert sanctions.address_ban("2001:db8:1::1", NOW) == v6
    assert sanctions.address_ban("2001:db8::1", NOW + 1000) is None
    assert sanctions.address_ban("198.51.101.1", NOW) is None
    assert sanctions.address_ban("/run/chatd.sock", NOW) is None and sanctions.address_ban(None, NOW) is None
    assert sanctions.bans(NOW) == [user, v4, v6] and sanctions.bans(NOW + 1000) == [v4]


def test_of_two_in_one_place_the_longer_holds_whatever_their_order():
    # Two nodes on PostgreSQL banning (muting) one user in the same instant may both store theirs.
    for_good, short = Ban(1, 7, None, None, "admin", NOW), Ban(2, 7, None, NOW + 1000, "mod", NOW)
    longer, brief = Mute(3, 7, 3, NOW + 60_000, "admin", NOW), Mute(4, 7, 3, NOW + 1000, "mod", NOW)
    for bans, mutes in (([for_good, short], [longer, brief]), ([short, for_good], [brief, longer])):
        sanctions = Sanctions()
        sanctions.load(mutes, bans)
        assert sanctions.user_ban(7, NOW + 2000) == for_good
        assert sanctions.mute_of(7, 3, NOW + 2000) == longer


@pytest.mark.parametrize(("seconds", "text"), [(3, "3 seconds"), (61, "1 minute 1 second"), (90061, "1 day 1 hour")])
def test_a_sanction_says_the_time_it_really_lasts(seconds, text):
    assert lasting(Mute(1, 1, None, NOW + int(seconds * 1000), "", NOW), NOW) == f"for {text}"
    assert lasting(Ban(1, 1, None, NOW + seconds * 1000 - 500, "", NOW), NOW) == f"for {text}", "half a second counts"
    assert lasting(Mute(1, 1, None, None, "", NOW), NOW) == "for good"

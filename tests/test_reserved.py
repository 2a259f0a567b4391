"""Reserved names (``chatd.reserved``): the matching, pure; then guests and their
rooms refused on a real server, on two nodes of one database (SQLite, and
PostgreSQL), with the list changed on the other node."""

from __future__ import annotations

import pytest

from chatd.protocol.codes import ProtocolError
from chatd.reserved import ReservedNames, entry, pattern_problem, scope_problem
from tests.adminclient import ROOT
from tests.conftest import until


@pytest.mark.parametrize(("name", "held"), [
    ("Admin", True), ("ADMIN", True), ("admin", True),
    ("Admіn", True),  # a Cyrillic і
    ("Ａｄｍｉｎ", True),  # fullwidth
    ("𝐀𝐝𝐦𝐢𝐧", True),  # mathematical bold
    ("Adm\u200din", True),  # an invisible joiner inside
    ("Admins", False), ("Ana", False),
])
def test_a_reserved_name_holds_back_its_look_alikes(name, held):
    names = ReservedNames([entry(1, "Admin", "user")])
    assert (names.match(name, "user") is not None) is held


def test_a_pattern_holds_back_every_name_it_covers_and_scopes_are_kept_apart():
    names = ReservedNames([entry(1, "*mod*", "user"), entry(2, "staff-*", "room"), entry(3, "root", "any")])
    assert names.match("SuperMOD2", "user").id == 1
    assert names.match("supermоd", "user").id == 1  # a Cyrillic о
    assert names.match("SuperMOD2", "room") is None
    assert names.match("staff-only", "room").id == 2 and names.match("staff-only", "user") is None
    assert names.match("ROOT", "room").id == 3 and names.match("rооt", "user").id == 3
    assert names.match("alice", "user") is None


@pytest.mark.parametrize(("pattern", "words"), [
    ("", "empty"), (" admin", "white space"), ("**", "nothing but wildcards"), ("a*b*c*d*e*f", "more than 4"),
    ("ad\u202emin", "bidirectional"), ("x" * 65, "longer than 64"), (7, "a string"),
])
def test_bad_patterns_are_refused_naming_the_problem(pattern, words):
    assert words in pattern_problem(pattern)


def test_a_scope_is_one_of_three():
    assert scope_problem("any") is None and "user, room, any" in scope_problem("everyone")


async def test_guests_and_their_rooms_are_refused_reserved_names_on_every_node(two_nodes, web_app):
    a, b = two_nodes.nodes
    entry_id = await a.chat.room_care.reserve(ROOT, "Admin", "any", "staff only")
    await two_nodes.settle()
    await a.chat.room_care.reserve(ROOT, "*official*", "room")
    await a.chat.room_care.reserve(ROOT, "Boss", "user")
    await until(lambda: len(b.chat.reserved.entries) == 3, what="b read the list again")
    for node in (a, b):
        guest = await two_nodes.client(node)
        refused = await guest.identify(name="Admіn")  # a Cyrillic і
        assert refused["code"] == "name_reserved" and "staff only" in refused["message"]
        assert (refused["name"], refused["reason"]) == ("Admіn", "staff only")  # for a page in any language
    alice = await two_nodes.user(b, "alice")
    assert (await alice.identify(name="x"))["code"] == "already_identified"
    renamed = await (await two_nodes.client(b)).identify(token=alice.welcome["token"], name="ADMIN")
    assert renamed["code"] == "name_reserved"
    made = await alice.request("create", room="The-Official-News")
    assert (made["code"], made["name"], made["reason"]) == ("name_reserved", "The-Official-News", "")
    assert (await alice.request("create", room="news"))["type"] == "created"
    app_user = await (await two_nodes.client(b)).identify(app_token=web_app.token("u-1", name="Boss"))
    assert app_user["type"] == "welcome", "the app vouches for its users' names"
    # an admin may create a reserved room: admins are who reserve them
    assert (await a.chat.room_care.create(ROOT, "official")).name == "official"

    await a.chat.room_care.release(ROOT, entry_id)
    await until(lambda: b.chat.reserved.match("Admin", "user") is None, what="b read the list again")
    welcome = await (await two_nodes.client(b)).identify(name="Admin")
    assert welcome["type"] == "welcome", welcome
    page = await a.store.audit.page(None, 10)
    assert [(r["action"], r["target"]) for r in reversed(page.rows)] == [
        ("name.reserve", "name:Admin"), ("name.reserve", "name:*official*"), ("name.reserve", "name:Boss"),
        ("room.create", "room:official"),
        ("name.release", "name:Admin")]


async def test_the_list_survives_a_restart_and_bad_entries_are_refused(two_nodes):
    a, b = two_nodes.nodes
    await a.chat.room_care.reserve(ROOT, "root", "user")
    with pytest.raises(ProtocolError) as twice:
        await a.chat.room_care.reserve(ROOT, "root", "room")
    assert twice.value.code == "name_reserved" and "already" in twice.value.message
    for bad in (("**", "user", ""), ("ok", "all", ""), ("ok", "user", "x" * 201)):
        with pytest.raises(ProtocolError):
            await a.chat.room_care.reserve(ROOT, *bad)
    with pytest.raises(ProtocolError) as missing:
        await a.chat.room_care.release(ROOT, 999)
    assert "999" in missing.value.message
    assert [e.pattern for e in await a.store.reserved.load()] == ["root"]
    b.load_rooms()  # what a start does: the list read from the store
    assert b.chat.reserved.match("RООT", "user") is not None

"""The audit log and admin accounts in the store, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from chatd.audit import Actor, entry
from chatd.auth.admins import account_key
from chatd.store.admins import NameTaken
from chatd.store.schema import Room
from tests.adminclient import ROOT
from tests.stores import migrations_until, opened, set_back

MONA = Actor("user", 7, "mona", frozenset({"moderator"}))


async def test_pages_go_newest_first_by_keyset_and_filter(any_store):
    for n in range(7):
        await any_store.audit.add(entry(ROOT if n % 2 else MONA, "user.mute" if n < 5 else "user.ban", f"user:{n}",
                                        reason=f"r{n}", detail={"seconds": n}))
    first = await any_store.audit.page(None, 3)
    assert [r["target"] for r in first.rows] == ["user:6", "user:5", "user:4"] and first.more
    second = await any_store.audit.page(first.rows[-1]["id"], 3)
    third = await any_store.audit.page(second.rows[-1]["id"], 3)
    assert [r["target"] for r in second.rows + third.rows] == ["user:3", "user:2", "user:1", "user:0"]
    assert not third.more
    assert [r["target"] for r in (await any_store.audit.page(None, 9, action="user.ban")).rows] == ["user:6", "user:5"]
    by_mona = (await any_store.audit.page(None, 9, actor="mona", action="user.mute")).rows
    assert [r["target"] for r in by_mona] == ["user:4", "user:2", "user:0"]
    assert by_mona[0]["actor"] == {"kind": "user", "id": 7, "name": "mona"} and by_mona[0]["detail"] == {"seconds": 4}
    assert (await any_store.audit.page(None, 9, target="user:3")).rows[0]["reason"] == "r3"


async def test_an_action_and_its_row_commit_together_or_not_at_all(any_store):
    def job(fail: bool) -> None:
        with any_store.db.atomic():  # a writer job's several changes go in a savepoint (chatd.store.writer)
            Room.insert(name="gone" if fail else "kept", topic="", created=1).execute(any_store.db)
            any_store.audit.insert(entry(ROOT, "room.create", "room:gone" if fail else "room:kept"))
            if fail:
                raise RuntimeError("the action failed after its row")

    await any_store.writer.run(lambda: job(False))
    with pytest.raises(RuntimeError):
        await any_store.writer.run(lambda: job(True))
    assert [r["target"] for r in (await any_store.audit.page(None, 9)).rows] == ["room:kept"]


def test_unknown_actions_and_kinds_are_refused():
    with pytest.raises(ValueError):
        entry(ROOT, "user.vanish", "user:1")
    with pytest.raises(ValueError):
        entry(Actor("robot", 1, "x"), "user.mute", "user:1")


def test_long_texts_are_cut_to_bound_a_row():
    row = entry(ROOT, "user.ban", "user:" + "9" * 1000, reason="x" * 5000)
    assert len(row["target"]) == 200 and len(row["reason"]) == 500


def test_roles_nest():
    assert ROOT.may("moderator") and ROOT.may("admin") and MONA.may("moderator") and not MONA.may("admin")
    assert not Actor("user", 2, "eve", frozenset({"editor"})).may("moderator")


async def test_accounts_are_one_per_name_and_names_that_look_alike(any_store):
    """``chatd.names``' rule for look-alikes: Cyrillic а, fullwidth, invisible joiners and case."""
    admins = any_store.admins
    admins.create("admin", "admin", "h1")
    for name in ("\u0430dmin", "ＡＤＭＩＮ", "ad\u200bmin", "ADMIN"):
        with pytest.raises(NameTaken) as e:
            admins.create(name, account_key(name), "h2")
        assert str(e.value) == "admin", name
    admins.create("admins", "admins", "h3")
    assert [r.name for r in admins.list()] == ["admin", "admins"]
    assert admins.remove("admin") and admins.create("\u0430dmin", account_key("\u0430dmin"), "h4"), "its keys went"


async def test_accounts_are_one_per_name_whatever_its_case(any_store):
    admins = any_store.admins
    admins.create("Root", "root", "h1")
    with pytest.raises(NameTaken):
        admins.create("ROOT", "root", "h2")
    assert [(r.name, r.sessions) for r in admins.list()] == [("Root", 0)]
    account = await admins.account("root")
    assert account[1:] == ("Root", "h1")
    session = await admins.open_session({"token_hash": "t1", "csrf": "c", "account": account[0], "created": 10,
                                         "seen": 10}, oldest=0, idle_oldest=0)
    assert (await admins.session("t1", 10)).id == session and admins.list()[0].sessions == 1
    assert admins.set_password("root", "h3").name == "Root" and await admins.session("t1", 10) is None
    assert (await admins.account("root"))[2] == "h3"
    assert admins.remove("root").name == "Root" and admins.remove("root") is None and admins.list() == []


async def test_opening_a_session_removes_the_expired_ones(any_store):
    admins = any_store.admins
    admins.create("root", "root", "h")
    account = (await admins.account("root"))[0]
    for token, created, seen in (("old", 1, 5000), ("idle", 4000, 10), ("fine", 4000, 5000)):
        await admins.open_session({"token_hash": token, "csrf": "c", "account": account, "created": created,
                                   "seen": seen}, oldest=0, idle_oldest=0)
    await admins.open_session({"token_hash": "new", "csrf": "c", "account": account, "created": 6000, "seen": 6000},
                              oldest=1000, idle_oldest=1000)
    found = [await admins.session(t, 6000) is not None for t in ("old", "idle", "fine", "new")]
    assert found == [False, False, True, True]


async def test_a_database_from_before_administration_gets_its_tables(tmp_path, monkeypatch):
    before = migrations_until(monkeypatch, "_v12_admin_accounts")
    path = str(tmp_path / "chatd.db")
    opened(path).close()
    set_back(path, before, *(f"DROP TABLE {table}" for table in ("admin_session", "admin_account", "audit_log")))
    store = opened(path)
    try:
        await store.audit.add(entry(ROOT, "admin.login", "admin:root"))
        store.admins.create("root", "root", "h")
        assert [r.name for r in store.admins.list()] == ["root"]
    finally:
        store.close()

"""Retention (``chatd.retention``, ``chatd.store.retention``) on SQLite and
PostgreSQL: what a dry run counts is what the purge removes, batch by batch,
newer messages and other rooms untouched, and a client resuming from a
purged position gets an exact answer."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatd import retention
from chatd.audit import SYSTEM
from chatd.store.retention import DAY_MS
from tests.conftest import until
from tests.stores import KINDS

OLD, NEW = 40, 10  # days ago


@pytest.fixture(params=KINDS)
def config_overrides(request: pytest.FixtureRequest, tmp_path: Path) -> dict:
    database = request.getfixturevalue("postgres_url") if request.param == "postgres" else str(tmp_path / "chatd.db")
    return {"database": database, "history": {"retention_days": 30}, "rooms": {"default": ["lobby", "keep"]}}


async def age(server, ids: list[int], days: int) -> None:
    """Make the messages ``ids`` ``days`` old (their ts), as if sent then."""
    def job() -> None:
        ts = server.store.db.execute_sql("SELECT max(ts) FROM message").fetchone()[0] - days * DAY_MS
        marks = ", ".join("?" * len(ids))
        server.store.db.execute_sql(server.store._q(f"UPDATE message SET ts = ? WHERE id IN ({marks})"), (ts, *ids))

    await server.store.writer.run(job)


async def test_a_dry_run_counts_what_the_purge_removes_in_batches_and_newer_messages_stay(server, seed, monkeypatch):
    old_lobby = await seed(7, "old", room="lobby")
    old_keep = await seed(3, "kept for ever here", room="keep")
    bob = (await server.store.sign_ins.sign_up("bob")).user_id
    old_private = await seed(2, "old secret", to=bob)
    new = await seed(4, "new", room="lobby")
    await age(server, old_lobby + old_keep + old_private, OLD)
    await age(server, new, NEW)
    await server.chat.room_care.change(SYSTEM, "keep", "retention_days", 0)
    monkeypatch.setattr(retention, "BATCH_ROWS", 3)  # several batches

    plan = {c.room: c for c in await server.chat.retention.plan()}
    assert set(plan) == {"lobby", None}, "a room kept for ever is left out"
    assert (plan["lobby"].count, plan[None].count) == (7, 2)
    assert plan["lobby"].oldest_kept[0] == new[0] and plan[None].oldest_kept is None

    removed = await server.chat.retention.purge(SYSTEM)
    assert removed == {"rooms": {"lobby": 7}, "private": 2, "messages": 9}
    history = await server.store.room_history(server.hub.room("lobby").id, before=None, after=None, limit=100)
    assert [row.id for row in history.rows] == new
    kept = await server.store.room_history(server.hub.room("keep").id, before=None, after=None, limit=100)
    assert [row.id for row in kept.rows] == old_keep
    audit = (await server.store.audit.page(None, 10)).rows
    assert (audit[0]["action"], audit[0]["detail"]) == ("retention.purge", removed)
    assert await server.chat.retention.purge(SYSTEM) == {"rooms": {}, "private": 0, "messages": 0}
    assert len((await server.store.audit.page(None, 10)).rows) == 2, "a purge of nothing writes no row"


async def test_a_client_resuming_from_a_purged_position_gets_the_kept_messages_exactly(server, seed, user):
    old = await seed(5, "old", room="lobby")
    new = await seed(3, "new", room="lobby")
    await age(server, old, OLD)
    await server.chat.retention.purge(SYSTEM)

    alice = await user("alice")
    joined = await alice.request("join", room="lobby", since=old[1], epoch=server.store.epoch.id)
    assert "reset" not in joined, "a purge changes no position: the ids still mean the same messages"
    assert [m["id"] for m in joined["messages"]] == new and joined["more"] is False
    older = await alice.request("history", room="lobby", before=new[0])
    assert older["messages"] == [] and older["more"] is False
    sent = await alice.say("lobby", "after the purge")
    assert sent["id"] > new[-1], "ids are never handed out again"


async def test_purging_every_message_keeps_later_ids_and_positions_valid(server, seed, user):
    old = await seed(3, "old", room="lobby")
    await age(server, old, OLD)
    await server.chat.retention.purge(SYSTEM)
    alice = await user("alice")
    joined = await alice.request("join", room="lobby", since=old[-1], epoch=server.store.epoch.id)
    assert "reset" not in joined and joined["messages"] == []
    assert (await alice.say("lobby", "first after"))["id"] > old[-1]


async def test_the_server_purges_by_itself_one_purge_at_a_time(server, seed):
    old = await seed(4, "old", room="lobby")
    await age(server, old, OLD)
    server.chat.retention.tick(SYSTEM)
    server.chat.retention.tick(SYSTEM)  # while one runs, no second
    await until(lambda: server.chat.retention._running.done(), what="the purge")
    page = await server.store.room_history(server.hub.room("lobby").id, before=None, after=None, limit=10)
    assert page.rows == []
    assert [r["action"] for r in (await server.store.audit.page(None, 10)).rows] == ["retention.purge"]

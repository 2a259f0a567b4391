"""A user deletion cut off by a crash is finished (``chatd.usercare``: ``resume``, deleting
again): a real server process, SIGKILLed while the deletion is half done, on SQLite and
PostgreSQL; after the restart the rest becomes tombstones by itself, the search and the chat
log show none of it, and the anonymous user is still found by id and deleted again."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from chatd.auth.admins import account_key, hash_password
from chatd.store.userdata import ANONYMOUS
from chatd.usercare import BATCH_ROWS
from tests.adminclient import PASSWORD, admin_login
from tests.ops_fixtures import Chatd, pid_alive, wait_for
from tests.stores import KINDS, new_user, opened

MESSAGES = 3 * BATCH_ROWS  # three batches: the kill lands after the first
WORD = "zanzibar"  # in every one of carol's messages: what the search must stop finding
STOP = "the test cuts the deletion off here"
# A trigger that makes the second batch fail, so that the deletion is half done, however fast the machine.
STOP_TRIGGERS = {
    "sqlite": [f"CREATE TRIGGER stop_here BEFORE UPDATE OF deleted ON message WHEN NEW.id = {{id}} "
               f"BEGIN SELECT RAISE(ABORT, '{STOP}'); END"],
    "postgres": [f"CREATE FUNCTION stop_here() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION '{STOP}'; END $$ "
                 "LANGUAGE plpgsql",
                 "CREATE TRIGGER stop_here BEFORE UPDATE OF deleted ON message FOR EACH ROW "
                 "WHEN (NEW.id = {id}) EXECUTE FUNCTION stop_here()"],
}
UNSTOP = {"sqlite": ["DROP TRIGGER stop_here"],
          "postgres": ["DROP TRIGGER stop_here ON message", "DROP FUNCTION stop_here()"]}


@pytest.fixture(params=KINDS)
def kind_and_url(request: pytest.FixtureRequest, short_dir) -> tuple[str, str]:
    if request.param == "postgres":
        return "postgres", request.getfixturevalue("postgres_url")
    return "sqlite", str(short_dir / "chatd.db")


async def seeded(kind: str, url: str) -> tuple[int, list[int]]:
    """carol with ``MESSAGES`` lobby messages, a private one from bob, an admin account, and the stop
    trigger on her second batch; → (carol's id, her message ids)."""
    store = opened(url)
    try:
        store.ensure_rooms(["lobby"])
        lobby = store.rooms()[0][0]
        carol, bob = await new_user(store, "carol"), await new_user(store, "bob")

        def fill() -> list[int]:
            db, q = store.db, store._q
            rows = [(lobby, carol, "carol", f"{WORD} number {i}", 1_000 + i, f"c{i}") for i in range(MESSAGES)]
            db.execute_sql(q("INSERT INTO message (room_id, sender_id, sender_name, text, ts, cid) VALUES "
                             + ", ".join(["(?, ?, ?, ?, ?, ?)"] * len(rows))), [v for row in rows for v in row])
            db.execute_sql(q("INSERT INTO message (sender_id, sender_name, recipient_id, recipient_name, pair, text, "
                             "ts, cid) VALUES (?, 'bob', ?, 'carol', ?, 'hi carol', 5000, 'p')"),
                           (bob, carol, f"{min(bob, carol)}:{max(bob, carol)}"))
            ids = [r[0] for r in db.execute_sql(q("SELECT id FROM message WHERE sender_id = ? ORDER BY id"),
                                                (carol,)).fetchall()]
            for sql in STOP_TRIGGERS[kind]:
                db.execute_sql(sql.format(id=ids[BATCH_ROWS + 1]))
            return ids

        ids = await store.writer.run(fill)
        store.admins.create("root", account_key("root"), hash_password(PASSWORD))
        return carol, ids
    finally:
        store.close()


def state(url: str, carol: int) -> tuple[int, int, int]:
    """(carol's messages still with text, her messages not yet anonymous, messages to her still naming her)."""

    async def read() -> tuple[int, int, int]:
        store = opened(url)
        try:
            return await store.read(lambda: tuple(store.db.execute_sql(store._q(
                "SELECT (SELECT count(*) FROM message WHERE sender_id = ? AND text <> ''), "
                "(SELECT count(*) FROM message WHERE sender_id = ? AND sender_name <> ?), "
                "(SELECT count(*) FROM message WHERE recipient_id = ? AND recipient_name <> ?)"),
                (carol, carol, ANONYMOUS, carol, ANONYMOUS)).fetchone()))
        finally:
            store.close()

    return asyncio.run(read())


def run_sql(url: str, statements: list[str]) -> None:
    async def run() -> None:
        store = opened(url)
        try:
            await store.writer.run(lambda: [store.db.execute_sql(sql) for sql in statements])
        finally:
            store.close()

    asyncio.run(run())


async def test_a_deletion_cut_off_by_a_kill_is_finished_by_the_next_start(chatd_install: Chatd, kind_and_url):
    kind, url = kind_and_url
    carol, ids = await seeded(kind, url)
    chatd_install.config["database"] = url
    chatd_install.write_config()
    assert chatd_install.start().returncode == 0
    admin = await admin_login(chatd_install, "root")

    status, body, _ = await admin.call("DELETE", f"/users/{carol}", {"reason": "asked"})
    assert status == 500, body  # the stop trigger: the first batch is in, the rest is not
    assert await asyncio.to_thread(state, url, carol) == (MESSAGES - BATCH_ROWS, MESSAGES - BATCH_ROWS, 0)
    os.kill(chatd_install.pid, signal.SIGKILL)
    wait_for(lambda: not pid_alive(chatd_install.pids[-1]), what="the server killed")
    await asyncio.to_thread(run_sql, url, UNSTOP[kind])

    assert chatd_install.start().returncode == 0  # finishes the deletion by itself, in the background
    await asyncio.to_thread(wait_for, lambda: state(url, carol) == (0, 0, 0), 60, "the deletion finished")
    admin = await admin_login(chatd_install, "root")
    assert (await admin.call("GET", f"/search?q={WORD}"))[1]["results"] == []
    _, log, _ = await admin.call("GET", f"/log?user={carol}&limit=200")
    assert {(m["from"]["name"], m["text"], m["deleted"]) for m in log["messages"]} == {(ANONYMOUS, "", True)}
    assert "finishing the deletion of user" in chatd_install.log()

    status, found, _ = await admin.call("GET", f"/users?q={carol}")
    assert found["users"] == [{"id": carol, "name": ANONYMOUS, "kind": "deleted", "online": False}]
    assert (await admin.call("DELETE", f"/users/{carol}", {}))[:2] == (200, {"deleted": carol, "tombstones": 0})
    assert (await admin.call("GET", "/audit"))[1]["entries"][0]["detail"] == {"again": True}

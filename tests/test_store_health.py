"""A database outage (chatd.store.health): PostgreSQL restarted or down, an SQLite file
locked by another process. Requests are answered `unavailable` (never `internal`),
the log says so once per outage, a restarted server is used again at once, `chatd
status` and `/healthz` tell the truth, and start-up failures are one clear line."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import sqlite3
import urllib.request
from typing import Any

import pytest
from tornado.httpclient import AsyncHTTPClient, HTTPRequest

from chatd.protocol.codes import DATABASE_UNREACHABLE
from chatd.server import Server
from chatd.store import open_store
from chatd.store.health import cannot_open
from tests.apiclient import api_call, api_key
from tests.conftest import until
from tests.ops_fixtures import Chatd
from tests.services import free_port

pytestmark = pytest.mark.postgres


@pytest.fixture
def config_overrides(own_postgres) -> dict[str, Any]:
    return {"database": own_postgres.database}


async def healthz(server: Server) -> dict[str, Any]:
    def get() -> dict[str, Any]:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/healthz", timeout=10) as reply:
            return json.loads(reply.read())

    return await asyncio.to_thread(get)


async def test_after_a_postgres_restart_the_first_requests_succeed(server, user, connect, own_postgres):
    alice = await user("alice", "lobby")
    assert (await alice.say("lobby", "before"))["type"] == "ack"  # the writer holds a connection
    readers = [alice, *[await user(f"reader{i}", "lobby") for i in range(3)]]
    await asyncio.gather(*(r.request("history", room="lobby") for r in readers))  # and the reader threads do
    await asyncio.to_thread(own_postgres.restart)  # every connection terminated by the server

    assert (await alice.say("lobby", "after"))["type"] == "ack"
    page = await alice.request("history", room="lobby")
    assert [m["text"] for m in page["messages"]] == ["before", "after"]
    bob = await connect()
    assert (await bob.identify(name="bob"))["type"] == "welcome"
    assert (await bob.request("join", room="lobby"))["type"] == "joined"
    again = await connect()
    assert (await again.identify(token=alice.welcome["token"]))["type"] == "welcome"
    assert (await alice.request("create", room="after-restart"))["type"] == "created"


async def test_while_postgres_is_down_every_request_is_unavailable_and_logged_once(
        server, user, connect, own_postgres, caplog):
    alice = await user("alice", "lobby")
    assert (await alice.request("create", room="other"))["type"] == "created"
    caplog.set_level(logging.INFO)
    await asyncio.to_thread(own_postgres.stop)

    answers = [await alice.say("lobby", "lost?"), await alice.request("history", room="lobby"),
               await alice.request("join", room="other"), await alice.request("create", room="new-room"),
               await alice.request("history", **{"with": 1})]
    for _ in range(2):
        bob = await connect()
        answers.append(await bob.identify(name="bob"))
        answers.append(await bob.identify(token=alice.welcome["token"]))
    for frame in answers:
        assert frame["type"] == "error" and frame["code"] == "unavailable", frame
        assert frame["message"] == DATABASE_UNREACHABLE, frame
    assert (await healthz(server))["database"] == "unreachable"
    stats = await server.stats()
    assert stats["messages_stored"] is None and stats["database_unreachable"], stats

    store_logs = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.getMessage().split(":")[0] for r in store_logs] == ["database unreachable"], store_logs

    await asyncio.to_thread(own_postgres.start)
    assert (await alice.say("lobby", "back"))["type"] == "ack"
    assert any(r.getMessage().startswith("database back after") for r in caplog.records)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert (await healthz(server))["database"] == "ok"


async def test_postgres_back_is_noticed_with_no_request_to_notice_it(server, user, own_postgres, caplog):
    """While it is down the store asks it every second (chatd.store.outage), so "database back",
    /healthz and chatd status do not wait for a next use that may not come."""
    alice = await user("alice", "lobby")
    caplog.set_level(logging.INFO)
    await asyncio.to_thread(own_postgres.stop)
    assert (await alice.request("history", room="lobby"))["code"] == "unavailable"
    await asyncio.to_thread(own_postgres.start)

    await until(lambda: server.store.health.down() is None, 30.0, "the store to notice the database is back")
    lines = [r.getMessage() for r in caplog.records if r.name == "chatd.store"]
    assert [line.split(":")[0].split(" after")[0] for line in lines] == ["database unreachable", "database back"], lines
    assert (await healthz(server))["database"] == "ok"


@pytest.mark.parametrize("config_overrides", [{}])  # SQLite, not PostgreSQL
async def test_an_sqlite_file_locked_by_another_process_is_unavailable_not_internal(server, user, config_overrides):
    alice = await user("alice", "lobby")
    holder = sqlite3.connect(server.config.database, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # as a backup tool or a stuck process would
    try:
        refused = await alice.say("lobby", "locked")  # after the busy timeout (5 s)
        assert refused["code"] == "unavailable" and refused["message"] == DATABASE_UNREACHABLE, refused
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert (await alice.say("lobby", "unlocked"))["type"] == "ack"


def test_status_while_postgres_is_down_reports_it_in_both_forms(chatd_install: Chatd, own_postgres):
    chatd_install.config["database"] = own_postgres.database
    chatd_install.write_config()
    assert chatd_install.start().returncode == 0
    own_postgres.stop()

    code, text, err = chatd_install.run("status")
    assert code == 0, err
    database = next(line for line in text.splitlines() if line.strip().startswith("database"))
    assert "unreachable (" in database and "127.0.0.1" in database, text
    code, out, err = chatd_install.run("status", "--json")
    assert code == 0, err
    status = json.loads(out)
    assert status["database_unreachable"] and status["messages_stored"] is None, status
    assert "Traceback" not in chatd_install.log()


def test_a_start_on_an_unreachable_database_says_which_and_where_in_one_line(chatd_install: Chatd):
    url = f"postgresql://chat:s3cret@127.0.0.1:{free_port()}/chatd"  # nothing listens there
    chatd_install.config["database"] = url
    chatd_install.write_config()
    result = chatd_install.cli("start")  # in the foreground: the log goes to standard error
    assert result.returncode != 0
    assert "Traceback" not in result.stderr and "s3cret" not in result.stderr, result.stderr
    assert (f"chatd: cannot start: cannot open the database at {url.replace('s3cret', '***')} (key 'database'): "
            in result.stderr), result.stderr


def test_a_refused_password_comes_with_where_passwords_come_from():
    text = cannot_open("postgresql://chat@db/chatd", "key 'database'",
                       'connection failed: connection to server at "db", port 5432 failed: '
                       "fe_sendauth: no password supplied")
    assert "database_password_file" in text and "$CHATD_DATABASE_PASSWORD" in text
    assert "database_password_file" not in cannot_open("/var/lib/chatd.db", "key 'database'", "disk I/O error")


def test_migrate_store_refuses_another_scheme_at_once_and_names_an_unreachable_target(chatd_install: Chatd):
    code, _, err = chatd_install.run("migrate-store", "mysql://chat@127.0.0.1/chatd")
    assert code == 2 and "postgresql://" in err and "mysql://chat@127.0.0.1/chatd" in err, err
    url = f"postgresql://chat@127.0.0.1:{free_port()}/chatd"
    open_store(str(chatd_install.dir / "chatd.db"), shared=False, synchronous="normal", batch_max=1).ensure_schema()
    code, _, err = chatd_install.run("migrate-store", url)  # (a database to copy: the target is the problem)
    assert code != 0 and f"cannot open the database at {url} (the migrate-store target)" in err, err


async def test_while_postgres_is_down_every_api_refusal_says_when_to_send_again(server, user, own_postgres):
    """docs/api.md, "Errors": every 503 ``unavailable`` carries Retry-After, whichever operation met
    the outage (a write, a read, the key's own check), not only POST /messages."""
    alice = await user("alice", "lobby")
    key = api_key(server, "read", "publish", "manage")
    await asyncio.to_thread(own_postgres.stop)
    calls = [("POST", "/messages", {"room": "lobby", "text": "lost?"}), ("POST", "/rooms", {"name": "new-room"}),
             ("GET", "/rooms/lobby/history", None), ("GET", "/rooms", None),
             ("GET", f"/users/{alice.welcome['user']['id']}/history?with=1", None),
             ("POST", "/events", {"user_id": alice.welcome["user"]["id"], "event": "ping", "data": {}})]
    for method, path, body in calls:
        status, answer, headers = await api_call(server, method, path, body, key=key)
        assert status == 503 and answer["error"]["code"] == "unavailable", (path, status, answer)
        assert int(headers["Retry-After"]) == math.ceil(answer["error"]["retry_ms"] / 1000) >= 1, (path, headers)
    upload = HTTPRequest(f"http://127.0.0.1:{server.port}/upload?name=a.txt", method="POST", body=b"hello",
                         headers={"Authorization": f"Bearer {alice.welcome['token']}"})
    answer = await AsyncHTTPClient().fetch(upload, raise_error=False)
    assert answer.code == 503 and json.loads(answer.body)["error"]["code"] == "unavailable", answer.body
    assert int(answer.headers["Retry-After"]) >= 1, answer.headers

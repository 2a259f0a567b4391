"""Names held across a restart (docs/protocol.md, "Names"; docs/operations.md, "Reload and
restart"): a user online when the server ended — `chatd restart`, a stop, `kill -9` — takes
its name back with its token, and a guest who comes first is refused it and its look-alikes,
for ``identity.name_hold_seconds`` from the start; then the name is free as any other."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import time

import pytest
from websockets.exceptions import ConnectionClosed

from chatd.audit import SYSTEM
from chatd.protocol.codes import CloseCode
from chatd.server import Server
from chatd.store.schema import now_ms
from tests.conftest import Clock, make_config
from tests.ops_fixtures import Chatd, pid_alive, wait_for
from tests.wsclient import ChatClient

HOLD = 300  # identity.name_hold_seconds, the default
LOOK_ALIKES = ["Dave", "DAVE", "D\u0430ve", "Ｄａｖｅ"]  # the name itself, and with a Cyrillic а, full width


async def online(url: str, name: str) -> ChatClient:
    """A guest online as ``name``, in the lobby, once what its identify wrote is committed
    (the ack of a later message: the writer commits in order), so that a ``kill -9`` after
    this cannot be before it."""
    client = await (await ChatClient.connect(url)).enter("lobby", name=name)
    assert (await client.say("lobby", f"{name} here"))["type"] == "ack"
    return client


async def assert_held_then_resumed(url: str, owner: ChatClient) -> None:
    """A guest asking for the owner's name or a look-alike is refused; the owner's token
    gets it back, under its id."""
    user = owner.welcome["user"]
    async with ChatClient.connect(url) as guest:
        for name in LOOK_ALIKES:
            refused = await guest.identify(name=name)
            assert refused["code"] == "name_taken", (name, refused)
            assert f"'{user['name']}'" in refused["message"]
    async with ChatClient.connect(url) as back:
        welcome = await back.identify(token=owner.welcome["token"])
        assert welcome["type"] == "welcome" and welcome["user"] == user


async def test_after_chatd_restart_a_guest_coming_first_is_refused_the_name_of_one_online(chatd_daemon: Chatd):
    d = chatd_daemon
    dave = await online(d.ws_url, "Dave")
    restart = asyncio.ensure_future(asyncio.to_thread(d.cli, "restart"))
    with pytest.raises(ConnectionClosed) as closed:
        await dave.expect("nothing more")
    assert closed.value.rcvd.code == CloseCode.SERVICE_RESTART
    try:
        await assert_held_then_resumed(d.ws_url, dave)  # the new process: the old one stopped accepting
    finally:
        result = await restart
        d.pids.append(d.pid)
    assert result.returncode == 0, result.stderr


async def test_after_kill_9_and_a_start_a_guest_coming_first_is_refused_the_name_of_one_online(
        chatd_daemon: Chatd):
    d = chatd_daemon
    dave = await online(d.ws_url, "Dave")
    pid = d.pid
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not pid_alive(pid), what="the killed server to be gone")
    with pytest.raises(ConnectionClosed):
        await dave.expect("nothing more")
    result = d.start()
    assert result.returncode == 0, result.stderr
    assert "1 names held for the users who had them before the start" in d.log()
    await assert_held_then_resumed(d.ws_url, dave)


async def test_names_held_from_before_the_start_are_free_after_the_hold(tmp_path):
    """In one process, with a clock the test moves: a user online when the server ended (here
    as after a crash: its name never let go) is held from the start for the hold; one that had
    let its name go keeps the rest of its hold, one whose hold was over is not held; then the
    name is free, and its user's token is refused it (it may come back under another name)."""
    config = make_config(tmp_path)
    first = Server(config)
    await first.start()
    url = f"ws://127.0.0.1:{first.port}/ws"
    clients = [await online(url, name) for name in ("Dave", "Ann", "Cy")]
    await first.stop(timeout=5)
    for client in clients:
        await client.close()
    now = now_ms()
    with sqlite3.connect(tmp_path / "chatd.db") as db:
        for name, let_go in (("Dave", None), ("Ann", now - 200_000), ("Cy", now - (HOLD + 100) * 1000)):
            assert db.execute("UPDATE name_hold SET let_go = ? WHERE name = ?", (let_go, name)).rowcount == 1
    db.close()
    second = Server(config)
    await second.start()
    try:
        second.chat.clock = clock = Clock(time.monotonic())
        url = f"ws://127.0.0.1:{second.port}/ws"
        async with ChatClient.connect(url) as guest:
            assert (await guest.identify(name="CY"))["type"] == "welcome"
        async with ChatClient.connect(url) as guest:
            assert (await guest.identify(name="d\u0430ve"))["code"] == "name_taken"
            assert (await guest.identify(name="ANN"))["code"] == "name_taken"
            clock.now += 101  # Ann's hold is over; Dave's, from the start, is not
            assert (await guest.identify(name="Dave"))["code"] == "name_taken"
            assert (await guest.identify(name="ANN"))["type"] == "welcome"
        async with ChatClient.connect(url) as guest:
            clock.now += HOLD - 101
            taken = await guest.identify(name="Dave")
            assert taken["type"] == "welcome" and taken["user"]["id"] != clients[0].welcome["user"]["id"]
        async with ChatClient.connect(url) as late:  # Dave, too late: refused, and restored only renamed
            dave = clients[0].welcome
            refused = await late.identify(token=dave["token"])
            assert refused["code"] == "name_taken"
            renamed = await late.identify(token=dave["token"], name="Dave2")
            assert renamed["type"] == "welcome" and renamed["user"] == {**dave["user"], "name": "Dave2"}
        await second.chat.store.writer.run(lambda: None)  # what the start submitted, committed
        with sqlite3.connect(tmp_path / "chatd.db") as db:  # Dave's hold ran from the start: pruned once over
            assert db.execute("SELECT count(*) FROM name_hold WHERE let_go IS NULL AND user_id = ?",
                              (dave["user"]["id"],)).fetchone()[0] == 0
        db.close()
    finally:
        await second.stop(timeout=5)


async def test_an_erased_user_holds_no_name_now_nor_after_a_restart(tmp_path):
    """docs/operations.md, "User data": after a deletion nothing says who the user was; its
    name, online or let go, is free at once and is not written down for the next process."""
    config = make_config(tmp_path)
    server = Server(config)
    await server.start()
    try:
        url = f"ws://127.0.0.1:{server.port}/ws"
        eve, mo = await online(url, "Eve"), await online(url, "Mo")
        await mo.close()  # Mo's name let go: held for Mo
        ids = [client.welcome["user"]["id"] for client in (eve, mo)]
        for user_id in ids:
            await server.chat.user_care.delete(SYSTEM, user_id)
        async with asyncio.timeout(10):
            await eve.ws.wait_closed()  # Eve's session ended by the deletion
        for name in ("EVE", "m\u043e"):  # their look-alikes: nothing held
            async with ChatClient.connect(url) as guest:
                assert (await guest.identify(name=name))["type"] == "welcome"
        await server.chat.store.writer.run(lambda: None)
        with sqlite3.connect(tmp_path / "chatd.db") as db:
            held = db.execute("SELECT user_id FROM name_hold WHERE user_id IN (?, ?)", ids).fetchall()
        db.close()
        assert held == []
    finally:
        await server.stop(timeout=5)

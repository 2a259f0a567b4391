"""``workers: N``: a supervisor and N worker processes behind one port, as
real processes driven through the real CLI (docs/operations.md, "Several
processes on one machine"). Until the Redis bus serves messages between
workers, these test the processes: both workers serve, status and
connections add them up, reload reaches both, a killed worker is replaced
(and one that keeps dying waits longer each time), restart refuses no
connection and loses nothing, stop leaves no process, systemd hears from
the supervisor only; and ``workers: 1`` starts no supervisor at all.
"""

from __future__ import annotations

import array
import asyncio
import concurrent.futures
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed

from chatd.protocol.codes import CloseCode
from chatd.status import ExitStatus
from chatd.supervision import RESPAWN_FIRST
from tests.conftest import until
from tests.ops_fixtures import Chatd, Chatter, Prober, pid_alive, silent_websockets, wait_for
from tests.services import RedisServer
from tests.test_database_refusals import backup_of_damage_under_a_running_server
from tests.test_lifecycle import assert_restarted_twice_cleanly, chat_more, chat_to_the_end
from tests.wsclient import ChatClient

pytestmark = pytest.mark.redis  # the config check wants a bus for workers: 2
ROOMS = ["lobby", "r0", "r1", "r2"]  # a room per chatter: each sees its own messages, whichever worker it is on


@pytest.fixture
def workers_install(chatd_install: Chatd, redis_server: RedisServer) -> Chatd:
    """A config with ``workers: 2``, not started."""
    chatd_install.config.update(workers=2, bus=redis_server.url, rooms={"default": ROOMS})
    chatd_install.write_config()
    return chatd_install


@pytest.fixture
def workers(workers_install: Chatd) -> Chatd:
    """chatd with ``workers: 2`` started by ``chatd start -d``."""
    d = workers_install
    result = d.start()
    assert result.returncode == 0, result.stderr
    assert "workers 2" in result.stdout
    d.pids += worker_pids(d)
    return d


def worker_pids(d: Chatd) -> list[int]:
    return [w["pid"] for w in d.status()["workers"]]


def children_of(pid: int) -> list[int]:
    """The processes whose parent is ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue  # gone meanwhile
            if int(stat.rpartition(")")[2].split()[1]) == pid:
                found.append(int(entry.name))
    return found


async def clients_on_every_worker(d: Chatd, pids: list[int], most: int = 200) -> dict[int, ChatClient]:
    """Connect identified clients until every worker in ``pids`` holds one;
    → one client per worker pid. The kernel gives each connection to
    whichever worker takes it first, so it may take a few."""
    clients: dict[str, ChatClient] = {}
    while True:
        name = f"user{len(clients)}"
        clients[name] = await ChatClient.connect(d.ws_url)
        await clients[name].identify(name=name)
        rows = await asyncio.to_thread(d.connections)
        holder = {row["user"]["name"]: row["worker"] for row in rows if row["user"]}
        if set(holder.values()) >= set(pids):
            break
        assert len(clients) < most, f"{most} connections, and not one on each of {pids}: {holder}"
    one = {holder[name]: client for name, client in clients.items() if holder.get(name) in pids}
    for client in clients.values():
        if client not in one.values():
            await client.close()
    return one


async def test_both_workers_serve_and_status_and_connections_count_them_all(workers: Chatd):
    d = workers
    status = await asyncio.to_thread(d.status)
    pids = [w["pid"] for w in status["workers"]]
    assert status["pid"] == d.pid and len(set(pids)) == 2 and d.pid not in pids
    assert sorted(children_of(d.pid)) == sorted(pids), "the workers are the supervisor's children"
    assert [w["state"] for w in status["workers"]] == ["serving", "serving"]

    clients = await clients_on_every_worker(d, pids)
    for pid, client in clients.items():
        await client.request("join", room="lobby")
        assert (await client.say("lobby", f"hello from {pid}"))["type"] == "ack"
    rows = await asyncio.to_thread(d.connections)
    assert {row["worker"] for row in rows} == set(pids)
    status = await asyncio.to_thread(d.status)
    per_worker = {w["pid"]: w for w in status["workers"]}
    assert status["connections"] == len(rows) == sum(w["connections"] for w in per_worker.values())
    assert status["users_online"] == len({row["user"]["id"] for row in rows if row["user"]})
    assert all(w["connections"] >= 1 and w["users_online"] >= 1 for w in per_worker.values())
    assert status["rss_bytes"] > sum(w["rss_bytes"] for w in per_worker.values()) > 2_000_000
    assert status["messages_stored"] == 2 and status["messages_since_start"] == 2

    human = (await asyncio.to_thread(d.cli, "status")).stdout
    assert "workers       2" in human and "all processes" in human
    for pid in pids:
        assert re.search(rf"^  \d+\s+{pid}\s+serving\s+\d+\s+\d+\s+\S+ MiB$", human, re.M), human
    table = (await asyncio.to_thread(d.cli, "connections")).stdout
    assert "WORKER" in table.splitlines()[0] and all(str(pid) in table for pid in pids)

    target = d.dir / "backup.db"  # one of the workers copies the database they share
    result = await asyncio.to_thread(d.cli, "backup", str(target))
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(target) as copy:
        assert copy.execute("SELECT count(*) FROM message").fetchone()[0] == 2
    for client in clients.values():
        await client.close()


async def test_clients_on_different_workers_chat_and_see_each_other(workers: Chatd):
    d = workers
    (one, a), (other, b) = (await clients_on_every_worker(d, worker_pids(d))).items()
    assert one != other
    joined_a = await a.request("join", room="lobby")
    joined_b = await b.request("join", room="lobby")
    alice_id = joined_a["members"][0]["id"]
    # Presence converges across workers (docs/protocol.md, "Several nodes"): a's join is in b's answer
    # if b's worker had heard it by then, else it follows as an event — and b's reaches a either way.
    if joined_b["online"] == 2:
        assert alice_id in [m["id"] for m in joined_b["members"]], "presence counts the member on the other worker"
    else:
        assert (await b.expect("presence", room="lobby", event="join"))["user"]["id"] == alice_id
    assert (await a.expect("presence", room="lobby", event="join"))["user"]["id"] != alice_id
    ack = await a.say("lobby", "from one worker")
    got = await b.expect("message", text="from one worker")
    assert got["id"] == ack["id"]
    sent = await b.request("say", to=got["from"]["id"], text="privately, from the other")
    assert (await a.expect("message", text="privately, from the other"))["id"] == sent["id"]
    # `chatd user delete`: the supervisor has one worker finish it; the page on the other sees it too
    result = await asyncio.to_thread(d.cli, "user", "delete", str(got["from"]["id"]), "--yes")
    assert result.returncode == 0 and "1 message made tombstones; its sessions ended" in result.stdout, result
    await b.expect("deleted", id=ack["id"])
    for client in (a, b):
        await client.close()


async def test_reload_reaches_every_worker_and_an_invalid_file_changes_nothing(workers: Chatd):
    d = workers
    clients = await clients_on_every_worker(d, worker_pids(d))
    for client in clients.values():
        await client.request("join", room="lobby")
    d.config["limits"]["max_text_chars"] = 10
    d.write_config()
    result = await asyncio.to_thread(d.cli, "reload")
    assert result.returncode == 0 and "limits.max_text_chars" in result.stdout, result.stderr
    for client in clients.values():
        assert (await client.say("lobby", "x" * 11))["code"] == "text_too_long"
        assert (await client.say("lobby", "x" * 10))["type"] == "ack"

    d.config["limits"]["max_text_chars"] = 20
    d.config["limits"]["rate_burst"] = -1  # invalid: the whole file is refused
    d.write_config()
    result = await asyncio.to_thread(d.cli, "reload")
    assert result.returncode == ExitStatus.CONFIG and "rate_burst" in result.stderr
    for client in clients.values():  # every worker keeps what it had
        assert (await client.say("lobby", "x" * 11))["code"] == "text_too_long"
        await client.close()


@pytest.mark.parametrize(("sig", "said", "close_code"), [
    (signal.SIGKILL, "was killed by SIGKILL", None),  # a crash: its clients' connections just end
    (signal.SIGTERM, "exited with status 0", CloseCode.GOING_AWAY),  # renewing one worker: it stops as `chatd stop`
], ids=["kill -9", "kill"])
async def test_a_worker_that_ends_is_replaced_and_the_others_serve_meanwhile(workers: Chatd, sig, said, close_code):
    d = workers
    first, second = worker_pids(d)
    clients = await clients_on_every_worker(d, [first, second])
    survivor = clients[second]
    await survivor.request("join", room="lobby")

    os.kill(first, sig)
    with pytest.raises(ConnectionClosed) as closed:
        await clients[first].ws.recv()
    assert (closed.value.rcvd.code if closed.value.rcvd else None) == close_code
    assert (await survivor.say("lobby", "still here"))["type"] == "ack", "the other worker's clients stay"
    async with ChatClient.connect(d.ws_url) as newcomer:  # accepted by whichever worker is there
        assert (await newcomer.identify(name="newcomer"))["type"] == "welcome"

    replaced = await asyncio.to_thread(wait_for, lambda: _replaced(d, first), 30, "the worker replaced")
    d.pids.append(replaced)
    assert f"worker 1 (pid {first}) {said}" in d.log() and "starting another now" in d.log()
    assert replaced in children_of(d.pid)
    again = await clients_on_every_worker(d, [replaced, second])  # the new one serves
    for client in [*again.values(), survivor]:
        await client.close()


def _replaced(d: Chatd, dead: int) -> int | None:
    """The pid of the serving worker in the dead one's place, once there is one."""
    row = d.status()["workers"][0]
    return row["pid"] if row["pid"] not in (None, dead) and row["state"] == "serving" else None


def test_a_worker_that_keeps_dying_is_started_again_later_each_time(workers: Chatd):
    d = workers
    pid = worker_pids(d)[0]
    for _ in range(3):  # each one killed as soon as it serves: each lived less than STABLE_SECONDS
        os.kill(pid, signal.SIGKILL)
        pid = wait_for(lambda dead=pid: _replaced(d, dead), 30, "the worker replaced")
        d.pids.append(pid)
    waits = [line.rpartition("starting another ")[2] for line in d.log().splitlines() if "starting another" in line]
    assert waits == ["now", f"in {RESPAWN_FIRST:g} s", f"in {2 * RESPAWN_FIRST:g} s"]
    assert d.status()["workers"][1]["state"] == "serving", "the other worker was never touched"

    os.kill(pid, signal.SIGKILL)  # and once more; while it waits to start another, a stop
    wait_for(lambda: f"in {4 * RESPAWN_FIRST:g} s" in d.log(), 30, "the fourth death seen")
    assert d.cli("stop").returncode == 0
    assert not any(pid_alive(p) for p in d.pids), "no process left, and none started"
    stopping = d.log().rpartition("stopping (timeout")[2]
    assert "started" not in stopping, "the stop called off the worker that was to start"


async def test_restart_refuses_no_connection_and_loses_nothing(workers: Chatd):
    d = workers
    chatters = [Chatter(d.ws_url, f"user{i}", room=f"r{i}") for i in range(3)]
    tasks = [asyncio.ensure_future(c.run()) for c in chatters]
    prober = Prober(d.ws_url)
    old = [d.pid, *worker_pids(d)]
    try:
        for _ in range(2):
            await chat_more(chatters)
            result = await asyncio.to_thread(d.cli, "restart")
            assert result.returncode == 0, result.stderr
            assert d.pid not in old
            new = [d.pid, *await asyncio.to_thread(worker_pids, d)]
            assert len(new) == 3 and not set(new) & set(old), "a new supervisor with new workers"
            d.pids += new
            old += new
        await chat_more(chatters)
        acked = await chat_to_the_end(chatters)
    finally:
        for c in chatters:
            c.done.set()
        await asyncio.gather(*tasks, prober.stop())

    assert_restarted_twice_cleanly(chatters, prober)
    running = {d.pid, *worker_pids(d)}
    await until(lambda: not any(pid_alive(p) for p in set(old) - running), what="the old sets to exit")

    assert d.cli("stop").returncode == 0
    with sqlite3.connect(d.dir / "chatd.db") as db:
        stored = [row[0] for row in db.execute("SELECT id FROM message")]
    assert sorted(stored) == sorted(acked), "every acknowledged message stored, once, and nothing else"


async def test_stop_ends_every_process_within_its_timeout(workers: Chatd):
    d = workers
    pids = [d.pid, *worker_pids(d)]
    clients = await clients_on_every_worker(d, pids[1:])
    stuck = silent_websockets(d.port, 4)  # never read, never answer a close
    result = await asyncio.to_thread(d.cli, "stop", "--timeout", "2")
    assert result.returncode == 0 and f"stopped (pid {pids[0]})" in result.stdout, result.stderr
    assert not any(pid_alive(p) for p in pids), "the supervisor exits only once its workers have"
    log = d.log()
    assert log.count("chatd stopped") == 3 and "overran" not in log and "killing worker" not in log, log
    for client in clients.values():
        with pytest.raises(ConnectionClosed) as closed:
            await client.ws.recv()
        assert closed.value.rcvd.code == CloseCode.GOING_AWAY
    for s in stuck:
        s.close()
    assert d.cli("status").returncode == ExitStatus.NOT_RUNNING and not (d.dir / "chatd.sock").exists()


async def test_a_killed_supervisor_takes_its_workers_with_it(workers: Chatd):
    """Its workers see their link end and stop as `chatd stop` would: no
    process is left holding the port, and the next start works."""
    d = workers
    pids = worker_pids(d)
    clients = await clients_on_every_worker(d, pids)
    os.kill(d.pid, signal.SIGKILL)
    for client in clients.values():
        with pytest.raises(ConnectionClosed) as closed:
            await client.ws.recv()
        assert closed.value.rcvd.code == CloseCode.GOING_AWAY
    await until(lambda: not any(pid_alive(p) for p in pids), what="the workers to exit")
    result = await asyncio.to_thread(d.start)
    assert result.returncode == 0, result.stderr
    d.pids += await asyncio.to_thread(worker_pids, d)


def test_ctrl_c_in_a_terminal_stops_the_set(workers_install: Chatd):
    """Ctrl-C reaches the whole foreground process group: the supervisor stops
    its workers, which do not act on it themselves."""
    d = workers_install
    argv = [sys.executable, "-m", "chatd", "start", "-c", str(d.config_path)]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=d.dir, env=env,
                          start_new_session=True) as proc:  # a process group of its own, as a terminal gives
        d.pids.append(proc.pid)
        try:
            assert "workers 2" in proc.stdout.readline()
            pids = worker_pids(d)
            d.pids += pids
            os.killpg(proc.pid, signal.SIGINT)
            assert proc.wait(timeout=15) == 0
            log = proc.stderr.read()
            assert "KeyboardInterrupt" not in log and log.count("chatd stopped") == 3, log
            assert not any(pid_alive(p) for p in pids)
        finally:
            proc.kill()


def test_restart_changes_the_number_of_workers(workers: Chatd):
    """`workers` takes a restart: the successor runs as many as the file says,
    one process on its own for 1."""
    d = workers
    for count in (1, 3):
        d.config["workers"] = count
        d.write_config()
        old = [d.pid, *(w["pid"] for w in d.status().get("workers", []))]
        result = d.cli("restart")
        assert result.returncode == 0, result.stderr
        d.pids.append(d.pid)
        now = [w["pid"] for w in d.status().get("workers", [])]
        d.pids += now
        assert len(now) == (count if count > 1 else 0)
        assert sorted(children_of(d.pid)) == sorted(now)
        wait_for(lambda old=old: not any(pid_alive(p) for p in old), 15, "the old processes to exit")


def test_a_stop_during_a_restart_is_no_failure_of_the_successors_workers(workers: Chatd):
    """`chatd stop` while the successor's first worker is still connecting to the bus (here one
    that accepts and never answers): the old supervisor kills the successor, whose worker,
    its link ended, stops. Its start-up was cut short by a stop, not failed: one line at info
    level, no traceback at ERROR."""
    d = workers
    old = [d.pid, *worker_pids(d)]
    with socket.socket() as silent:  # a "Redis" that takes every connection and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        accepted: list[socket.socket] = []
        threading.Thread(target=lambda: accepted.extend(iter(lambda: silent.accept()[0], None)), daemon=True).start()
        d.config["bus"] = f"redis://127.0.0.1:{silent.getsockname()[1]}/0"
        d.write_config()
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            restart = pool.submit(d.cli, "restart")
            successor = wait_for(lambda: [p for p in children_of(d.pid) if p not in old], what="the successor")[0]
            starting = wait_for(lambda: children_of(successor), what="its first worker")
            d.pids += [successor, *starting]
            wait_for(lambda: accepted, what="the successor's worker to reach the bus")
            stopped = d.cli("stop")
            assert stopped.returncode == 0, stopped.stderr
            assert restart.result().returncode != 0
        wait_for(lambda: not any(pid_alive(p) for p in starting), what="the successor's worker to end")
        for conn in accepted:
            conn.close()
    log = d.log()
    assert "start-up failed" not in log and "Traceback" not in log, log
    assert log.count("start-up abandoned: told to stop while starting") == len(starting), log


def test_a_backup_by_a_worker_of_a_damaged_database_is_refused(workers_install: Chatd):
    backup_of_damage_under_a_running_server(workers_install)


def test_systemd_hears_from_the_supervisor_only(workers_install: Chatd):
    """READY=1 once every worker serves, MAINPID the supervisor (a new one
    after a restart); no worker sends systemd anything."""
    d = workers_install
    path = str(d.dir / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
        notify.bind(path)
        notify.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)  # each message says which pid sent it
        notify.settimeout(15)
        senders: set[int] = set()

        def expect(*fields: str) -> str:
            while True:
                data, ancillary, _, _ = notify.recvmsg(4096, socket.CMSG_SPACE(12))
                for level, kind, creds in ancillary:
                    if (level, kind) == (socket.SOL_SOCKET, socket.SCM_CREDENTIALS):
                        senders.add(array.array("i", creds[:12])[0])
                if all(f in data.decode().split("\n") for f in fields):
                    return data.decode()

        env = {k: v for k, v in os.environ.items() if k not in ("CHATD_HANDOVER", "CHATD_CONFIG")}
        env.update(NOTIFY_SOCKET=path, PYTHONPATH=str(Path(__file__).resolve().parent.parent))
        argv = [sys.executable, "-m", "chatd", "start", "-c", str(d.config_path)]
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=d.dir)
        d.pids.append(proc.pid)
        try:
            expect("READY=1", f"MAINPID={proc.pid}")
            status = d.status()
            assert [w["state"] for w in status["workers"]] == ["serving", "serving"]
            d.pids += [w["pid"] for w in status["workers"]]
            assert d.cli("restart").returncode == 0
            new = d.pid
            expect(f"MAINPID={new}")
            expect("READY=1", f"MAINPID={new}")
            assert proc.wait(timeout=15) == 0, "the old supervisor exits once it has handed over"
            d.pids += [new, *worker_pids(d)]
            assert d.cli("stop").returncode == 0
            expect("STOPPING=1")
            assert senders == {proc.pid, new}, "only the supervisors speak to systemd"
        finally:
            proc.kill()
            proc.wait()


def test_workers_on_the_command_line_outlive_a_restart(chatd_install: Chatd, redis_server: RedisServer):
    d = chatd_install
    result = d.start("--workers", "2")
    assert result.returncode == ExitStatus.CONFIG and "needs a bus" in result.stderr
    d.config["bus"] = redis_server.url
    d.write_config()
    result = d.start("--workers", "2")
    assert result.returncode == 0, result.stderr
    d.pids += worker_pids(d)
    assert d.cli("restart").returncode == 0
    d.pids.append(d.pid)
    assert len(worker_pids(d)) == 2, "the successor got --workers 2 too"
    d.pids += worker_pids(d)
    result = d.cli("reload")
    assert result.returncode == 0 and "workers" not in result.stdout, "nor does a reload see a change to restart for"
    assert d.cli("stop").returncode == 0


def test_one_worker_is_one_process_as_ever(chatd_install: Chatd, redis_server: RedisServer):
    d = chatd_install
    d.config["bus"] = redis_server.url  # a bus alone changes nothing about the processes
    d.write_config()
    assert d.start().returncode == 0
    status = d.status()
    assert "workers" not in status and status["pid"] == d.pid
    assert children_of(d.pid) == [], "no supervisor, no worker: the server itself"
    assert d.cli("stop").returncode == 0

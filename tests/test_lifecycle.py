"""End to end: real ``chatd`` processes driven through the real CLI, real
WebSocket clients, a real SQLite file.

Start as a daemon, status, a second start, stop, a pidfile left by kill -9,
start-up errors on the terminal, the foreground banner, reload with clients
connected, restart with clients chatting through it, stop with clients that
never close, backup while running, and what systemd is told.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import time

import pytest
from websockets.exceptions import ConnectionClosed

from chatd.commands import STOP_ASK, STOP_GRACE
from chatd.control import ask
from chatd.protocol.codes import CloseCode
from chatd.status import ExitStatus
from tests.conftest import until
from tests.ops_fixtures import Chatd, Chatter, Prober, pid_alive, silent_websockets, taken_port, wait_for
from tests.wsclient import ChatClient


def test_daemon_start_status_stop(chatd_install: Chatd):
    d = chatd_install
    result = d.start()
    assert result.returncode == 0, result.stderr
    assert f"pid {d.pid}" in result.stdout and "database" in result.stdout and "log" in result.stdout
    # It returned only once serving: the port answers at once, no waiting.
    with socket.create_connection(("127.0.0.1", d.port), timeout=2):
        pass
    status = d.status()
    assert status["running"] and status["pid"] == d.pid and status["state"] == "serving"
    assert status["listen"] == f"127.0.0.1:{d.port}" and status["rooms"] == 1
    sock = d.dir / "chatd.sock"
    assert stat.S_IMODE(sock.stat().st_mode) == 0o600, "the control socket is owner-only"
    assert "serving on" in d.log(), "a daemon logs to its logfile"

    again = d.cli("start", "-d")
    assert again.returncode == ExitStatus.ALREADY_RUNNING
    assert f"already running (pid {d.pid})" in again.stderr

    pid = d.pid
    stopped = d.cli("stop")
    assert stopped.returncode == 0 and f"stopped (pid {pid})" in stopped.stdout
    assert not pid_alive(pid)
    assert d.cli("status").returncode == ExitStatus.NOT_RUNNING
    assert not sock.exists()
    assert d.cli("stop").returncode == 0, "stopping a stopped server is not an error"


def test_pidfile_left_by_kill_9_does_not_block_start(chatd_daemon: Chatd):
    d = chatd_daemon
    old = d.pid
    os.kill(old, signal.SIGKILL)
    wait_for(lambda: not pid_alive(old), what="the kill")
    assert d.pidfile.read_text().strip() == str(old), "the stale pidfile is still there"
    assert d.cli("status").returncode == ExitStatus.NOT_RUNNING
    result = d.start()
    assert result.returncode == 0, result.stderr
    assert d.pid != old and d.status()["pid"] == d.pid


def test_start_errors_reach_the_terminal(chatd_install: Chatd):
    d = chatd_install
    with taken_port() as port:
        d.config["listen"] = f"127.0.0.1:{port}"
        d.write_config()
        result = d.start()
        assert result.returncode == ExitStatus.ERROR
        assert "cannot listen on" in result.stderr
    assert d.cli("status").returncode == ExitStatus.NOT_RUNNING, "nothing left running"

    d.write_config("listen: [not, a, string]\n")
    result = d.start()
    assert result.returncode == ExitStatus.CONFIG and "listen" in result.stderr

    d.config.update(listen="127.0.0.1:0", logfile=str(d.dir / "no" / "such" / "dir.log"))
    d.write_config()
    result = d.start()
    assert result.returncode == ExitStatus.ERROR and "key 'logfile': cannot write" in result.stderr
    assert not (d.dir / "chatd.sock").exists(), "a failed start leaves no control socket"

    d.config.update(logfile=str(d.dir / "chatd.log"), database=str(d.dir / "notes.txt"))
    (d.dir / "notes.txt").write_text("not a database " * 100)
    d.write_config()
    result = d.start()  # fails once serving was being set up: the database cannot be opened
    assert result.returncode == ExitStatus.ERROR and "cannot start" in result.stderr, result.stderr
    assert not (d.dir / "chatd.sock").exists(), "a failed start leaves no control socket"


def test_foreground_banner_and_sigterm(chatd_install: Chatd):
    d = chatd_install
    argv = [sys.executable, "-m", "chatd", "start", "-c", str(d.config_path)]
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=d.dir) as proc:
        try:
            banner = proc.stdout.readline()
            assert banner.startswith("chatd ") and f"pid {proc.pid}" in banner and "log standard error" in banner
            assert d.status()["pid"] == proc.pid
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=10) == 0
            assert "chatd stopped" in proc.stderr.read(), "foreground logs go to standard error"
        finally:
            proc.kill()


async def chat_more(chatters: list[Chatter], n: int = 10) -> None:
    """Wait until every chatter has had ``n`` more messages acknowledged."""
    goal = {id(c): len(c.acked) + n for c in chatters}
    await until(lambda: all(len(c.acked) >= goal[id(c)] for c in chatters), what=f"{n} more messages each")


async def chat_to_the_end(chatters: list[Chatter]) -> set[int]:
    """Stop saying new things, wait until every say is acknowledged and each
    chatter has seen its own; → the ids of every acknowledged message."""
    for c in chatters:
        c.sending = False
    await until(lambda: not any(c.unacked for c in chatters), what="every say acknowledged")
    await until(lambda: all(set(c.acked.values()) <= set(c.seen) for c in chatters), what="each seeing its own")
    return {i for c in chatters for i in c.acked.values()}


def assert_restarted_twice_cleanly(chatters: list[Chatter], prober: Prober) -> None:
    """Two restarts, and no connection refused, no message seen twice or out of order."""
    for c in chatters:
        assert c.failures == [], "no connection attempt may fail"
        assert c.seen == sorted(set(c.seen)), "no message seen twice, none out of order"
        assert c.close_codes.count(CloseCode.SERVICE_RESTART) == 2
    assert prober.failed == [] and prober.ok > 0


async def test_restart_loses_nothing_and_refuses_no_connection(chatd_daemon: Chatd):
    d = chatd_daemon
    chatters = [Chatter(d.ws_url, f"user{i}") for i in range(3)]
    tasks = [asyncio.ensure_future(c.run()) for c in chatters]
    prober = Prober(d.ws_url)
    pids = [d.pid]
    try:
        for _ in range(2):
            await chat_more(chatters)
            result = await asyncio.to_thread(d.cli, "restart")
            assert result.returncode == 0, result.stderr
            assert d.pid != pids[-1] and f"→ {d.pid}" in result.stdout
            pids.append(d.pid)
            d.pids.append(d.pid)
        await chat_more(chatters)
        acked = await chat_to_the_end(chatters)
        await until(lambda: all(acked <= set(c.seen) for c in chatters), what="everyone seeing everything")
    finally:
        for c in chatters:
            c.done.set()
        await asyncio.gather(*tasks, prober.stop())

    assert_restarted_twice_cleanly(chatters, prober)
    # An old process goes on after its successor serves: it finishes the close
    # handshakes and answers what it had accepted (stop_timeout at most), then exits.
    await until(lambda: not any(pid_alive(p) for p in pids[:-1]), what="the old processes to exit")

    assert d.cli("stop").returncode == 0
    with sqlite3.connect(d.dir / "chatd.db") as db:
        stored = [row[0] for row in db.execute("SELECT id FROM message")]
    assert sorted(stored) == sorted(acked), "every acknowledged message stored, once, and nothing else"


def test_restart_from_a_directory_holding_a_folder_named_chatd(chatd_daemon: Chatd):
    """The new process imports the installed chatd, not a chatd/ folder where chatd runs
    (e.g. a clone beside the config): python -m puts the working directory first."""
    d = chatd_daemon
    shadow = d.dir / "chatd"
    shadow.mkdir()
    (shadow / "__init__.py").write_text("raise ImportError('the chatd/ folder of the working directory')\n")
    pid = d.pid
    result = d.cli("restart")
    assert result.returncode == 0, result.stderr
    assert d.pid != pid
    d.pids.append(d.pid)
    assert d.status()["state"] == "serving"


def test_restart_with_a_broken_config_keeps_the_old_process(chatd_daemon: Chatd):
    d = chatd_daemon
    pid = d.pid
    d.write_config("listen: [broken\n")
    result = d.cli("restart")
    assert result.returncode == ExitStatus.CONFIG
    assert "restart failed" in result.stderr and "not valid YAML" in result.stderr
    d.write_config()
    assert d.status()["pid"] == pid and d.status()["state"] == "serving"


async def test_reload_keeps_every_client_and_refuses_a_broken_file(chatd_daemon: Chatd):
    d = chatd_daemon
    async with ChatClient.connect(d.ws_url) as alice, ChatClient.connect(d.ws_url) as bob:
        await alice.identify(name="alice")
        await bob.identify(name="bob")
        await alice.request("join", room="lobby")
        await bob.request("join", room="lobby")

        async def chat(text: str) -> None:
            ack = await alice.say("lobby", text)
            assert ack["type"] == "ack", ack
            assert (await bob.expect("message", text=text))["id"] == ack["id"]

        await chat("before")
        d.logfile.rename(d.dir / "chatd.log.1")  # what logrotate does
        d.config["rooms"] = {"default": ["lobby", "news"]}
        d.config["limits"]["max_text_chars"] = 10
        d.config["log_level"] = "debug"
        d.config["store"] = {"batch_max": 7}  # takes a restart
        d.write_config()
        result = await asyncio.to_thread(d.cli, "reload")
        assert result.returncode == 0, result.stderr
        assert "rooms.default" in result.stdout and "limits.max_text_chars" in result.stdout
        assert "store.batch_max" in result.stdout.split("chatd restart")[1]
        await chat("after")
        assert (await alice.say("lobby", "x" * 11))["code"] == "text_too_long"
        rooms = await alice.request("rooms")
        assert {r["name"] for r in rooms["rooms"]} == {"lobby", "news"}
        assert "reloaded" in d.log() and "store.batch_max" in d.log(), "the log was reopened"

        d.write_config("limits: {max_text_chars: -5}\n")
        result = await asyncio.to_thread(d.cli, "reload")
        assert result.returncode == ExitStatus.CONFIG
        assert "reload refused" in result.stderr and "max_text_chars" in result.stderr
        os.kill(d.pid, signal.SIGHUP)  # the same through the signal: refused in the log
        await until(lambda: d.log().count("reload refused") >= 2, what="the refusal in the log")
        await chat("still here")  # the old configuration, same connections
        assert (await alice.say("lobby", "x" * 11))["code"] == "text_too_long"
        assert d.status()["connections"] == 2


@pytest.mark.parametrize("graceful", [[], ["-g"]], ids=["stop", "stop -g"])
async def test_stop_returns_within_its_timeout_with_clients_that_never_close(chatd_daemon: Chatd, graceful):
    d = chatd_daemon
    stuck = silent_websockets(d.port, 3)  # never read, never answer a close
    async with ChatClient.connect(d.ws_url) as polite:
        assert await asyncio.to_thread(lambda: wait_for(lambda: d.status()["connections"] == 4))
        result = await asyncio.to_thread(d.cli, "stop", *graceful, "--timeout", "2")
        assert result.returncode == 0, result.stderr  # the CLI did not have to kill it
        # No wall clock here (a loaded machine starts the CLI slowly): the server's
        # own watchdog logs "overran" and exits if its stop outlives the timeout.
        log = d.log()
        assert "chatd stopped" in log and "overran" not in log, log
        with pytest.raises(ConnectionClosed) as closed:
            await polite.ws.recv()
        assert closed.value.rcvd.code == CloseCode.GOING_AWAY
    for s in stuck:
        s.close()


async def test_status_connections_and_backup_while_running(chatd_daemon: Chatd):
    d = chatd_daemon
    async with ChatClient.connect(d.ws_url) as carol:
        await carol.identify(name="carol")
        await carol.request("join", room="lobby")
        for i in range(5):
            assert (await carol.say("lobby", f"m{i}"))["type"] == "ack"
        rows = await asyncio.to_thread(d.connections)
        assert len(rows) == 1
        row = rows[0]
        assert row["user"]["name"] == "carol" and row["rooms"] == ["lobby"]
        assert row["remote_address"] == "127.0.0.1"
        assert row["frames_in"] == 7 and row["frames_out"] >= 7 and row["bytes_in"] > 0
        table = (await asyncio.to_thread(d.cli, "connections")).stdout
        assert "carol" in table and "lobby" in table and "1 connection" in table
        status = await asyncio.to_thread(d.status)
        assert status["connections"] == 1 and status["users_online"] == 1
        assert status["messages_stored"] == 5 and status["messages_per_second"] > 0
        assert status["rss_bytes"] > 1_000_000 and status["database_bytes"] > 0
        human = (await asyncio.to_thread(d.cli, "status")).stdout
        assert f"chatd is running (pid {d.pid})" in human and "users online" in human

        target = d.dir / "backup.db"
        result = await asyncio.to_thread(d.cli, "backup", str(target))
        assert result.returncode == 0, result.stderr
        with sqlite3.connect(target) as copy:
            assert copy.execute("SELECT count(*) FROM message").fetchone()[0] == 5
        # An operator's mistake is said plainly, and is not an error of chatd's in its log.
        for path, why in ((d.dir / "no" / "such.db", "does not exist"), (d.dir / "chatd.db", "the live database")):
            result = await asyncio.to_thread(d.cli, "backup", str(path))
            assert result.returncode == ExitStatus.ERROR and why in result.stderr, result.stderr
        assert "ERROR" not in d.log()


def test_a_backup_asked_of_a_stopping_server_says_to_ask_again_once_stopped(chatd_daemon: Chatd):
    """Its store closes under the backup (an error in its log); once stopped, `chatd backup`
    copies the file itself."""
    d = chatd_daemon
    pid = d.pid
    stuck = silent_websockets(d.port, 1)  # its close handshake holds the stop
    wait_for(lambda: d.status()["connections"] == 1, what="the silent client connected")
    assert ask(str(d.dir / "chatd.sock"), "stop", seconds=60)["ok"]
    wait_for(lambda: d.status()["state"] == "stopping", what="the stop begun")
    target = d.dir / "backup.db"
    refused = d.cli("backup", str(target))
    assert refused.returncode == ExitStatus.ERROR, refused
    assert f"pid {pid} is stopping: run the backup again once it has stopped" in refused.stderr
    for s in stuck:
        s.close()
    wait_for(lambda: not pid_alive(pid), 30, "the server stopped")
    assert d.cli("backup", str(target)).returncode == 0
    assert "ERROR" not in d.log()


def test_systemd_notifications(chatd_install: Chatd):
    """Under systemd (NOTIFY_SOCKET): -d is ignored, READY after binding,
    RELOADING/READY around a reload, MAINPID handed over on restart."""
    d = chatd_install
    path = str(d.dir / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
        notify.bind(path)
        notify.settimeout(15)

        def expect(*fields: str) -> str:
            while True:
                message = notify.recv(4096).decode()
                if all(f in message.split("\n") for f in fields):
                    return message

        env = {**os.environ, "NOTIFY_SOCKET": path}
        env.pop("CHATD_HANDOVER", None)
        argv = [sys.executable, "-m", "chatd", "start", "-d", "-c", str(d.config_path)]
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=d.dir)
        d.pids.append(proc.pid)
        try:
            expect("READY=1", f"MAINPID={proc.pid}")
            assert proc.poll() is None, "-d is ignored under systemd: the process stays in the foreground"
            assert d.cli("reload").returncode == 0
            expect("RELOADING=1")
            expect("READY=1")
            assert d.cli("restart").returncode == 0
            new = d.pid
            expect(f"MAINPID={new}")
            expect("READY=1", f"MAINPID={new}")
            assert proc.wait(timeout=10) == 0, "the old process exits once it has handed over"
            d.pids.append(new)
            assert d.cli("stop").returncode == 0
            expect("STOPPING=1")
        finally:
            proc.kill()
            proc.wait()


def test_status_json_when_not_running(chatd_install: Chatd):
    result = chatd_install.cli("status", "--json")
    assert result.returncode == ExitStatus.NOT_RUNNING
    assert json.loads(result.stdout) == {"running": False}


def test_stop_kills_a_hung_server_within_the_timeout_and_its_grace(chatd_daemon: Chatd):
    """A stopped (SIGSTOP) server accepts the control connection and never answers: that wait
    counts in `stop`'s bound (0.5 + 2 s here). A command that waited its usual STOP_ASK (5 s) for
    the answer could not meet the bound below whatever the machine; it is not a measure of this
    one. The command runs in this process, so no interpreter's start-up counts in it."""
    d = chatd_daemon
    pid = d.pid
    os.kill(pid, signal.SIGSTOP)
    began = time.monotonic()
    code, _, err = d.run("stop", "--timeout", "0.5")
    took = time.monotonic() - began
    assert code == ExitStatus.ERROR and f"pid {pid} did not stop within 0.5 s; killed it" in err
    assert not pid_alive(pid)
    assert took < STOP_ASK, took


def test_a_server_without_its_control_socket_is_unknown_and_stops_by_signal(chatd_daemon: Chatd):
    d = chatd_daemon
    pid = d.pid
    (d.dir / "chatd.sock").unlink()
    result = d.cli("status")
    assert result.returncode == ExitStatus.UNKNOWN and f"running (pid {pid}) but not answering" in result.stderr
    result = d.cli("stop")  # falls back to SIGTERM
    assert result.returncode == 0 and f"stopped (pid {pid})" in result.stdout
    assert (f"chatd: sent SIGTERM to pid {pid}: its control socket did not take the stop request (cannot reach "
            f"{d.dir / 'chatd.sock'}: No such file or directory)") in result.stderr, result.stderr
    assert not pid_alive(pid)


def test_a_stop_by_signal_says_what_the_signal_cannot_carry_and_keeps_its_bound(chatd_daemon: Chatd):
    """Without its control socket, `stop -g --timeout 1` can only send SIGTERM, which carries
    neither: the server stops by its own stop_timeout (5 s here), which clients that never answer
    the close use up. The command says so, and keeps its bound: it kills it STOP_GRACE s after 1 s."""
    d = chatd_daemon
    pid = d.pid
    stuck = silent_websockets(d.port, 2)
    (d.dir / "chatd.sock").unlink()
    result = d.cli("stop", "-g", "--timeout", "1")
    assert result.returncode == ExitStatus.ERROR, result.stderr
    assert (f"chatd: a signal carries no timeout: pid {pid} stops within its own stop_timeout (the config says "
            f"5 s), without waiting for clients to leave (-g), not as asked; this command kills it if it is still "
            f"there {STOP_GRACE:g} s after --timeout 1 s") in result.stderr, result.stderr
    assert f"pid {pid} did not stop within 1 s; killed it" in result.stderr
    assert not pid_alive(pid)
    for s in stuck:
        s.close()


def test_a_stop_found_through_the_database_says_it_signalled_when_the_socket_did_not_answer(chatd_daemon: Chatd):
    """Found through its database's lock (its pidfile changed in the config), without its control
    socket: `stop` said "stopping pid N through <socket>", then sent SIGTERM."""
    d = chatd_daemon
    pid = d.pid
    d.config.update(pidfile="run2.pid")
    d.write_config()
    (d.dir / "chatd.sock").unlink()
    result = d.cli("stop")
    assert result.returncode == 0 and f"stopped (pid {pid})" in result.stdout, result.stderr
    assert "through" not in result.stdout, result.stdout
    assert f"chatd: sent SIGTERM to pid {pid}: its control socket did not take the stop request" in result.stderr
    assert not pid_alive(pid)


def test_a_server_whose_pidfile_changed_is_found_through_its_database(chatd_daemon: Chatd):
    """The config's `pidfile` and `listen` change while chatd runs (docs/configuration.md: they take
    `chatd stop` and `chatd start`): the database's lock still finds it, and no second server starts on it."""
    d = chatd_daemon
    pid, port, db = d.pid, d.port, str(d.dir / "chatd.db")
    d.config.update(pidfile="run2.pid", listen="127.0.0.1:0")
    d.write_config()
    for command in ("status", "reload", "restart", "connections"):
        result = d.cli(command)
        assert result.returncode == ExitStatus.UNKNOWN, (command, result.stdout, result.stderr)
        assert f"running as pid {pid} on {db}" in result.stderr and str(d.dir / "chatd.pid") in result.stderr
    status = json.loads(d.cli("status", "--json").stdout)
    assert status["running"] and status["pid"] == pid and status["pidfile"] == str(d.dir / "chatd.pid")

    again = d.cli("start", "-d")
    assert again.returncode == ExitStatus.ALREADY_RUNNING, again.stdout
    assert f"pid {pid}" in again.stderr and db in again.stderr
    assert not (d.dir / "run2.pid").exists(), "the refused start leaves no pidfile of its own"
    restore = d.cli("restore", str(d.dir / "backup.db"))
    assert restore.returncode == ExitStatus.ALREADY_RUNNING and f"pid {pid}" in restore.stderr
    migrate = d.cli("migrate-store", "postgresql://chat@127.0.0.1:1/chatd")  # refused before it connects
    assert migrate.returncode == ExitStatus.ALREADY_RUNNING and f"pid {pid}" in migrate.stderr, migrate.stderr
    with socket.create_connection(("127.0.0.1", port), timeout=2):
        pass  # the old server still serves, on its own control socket
    assert ask(str(d.dir / "chatd.sock"), "status")["pid"] == pid, "its control socket is still its own"

    stopped = d.cli("stop")
    assert stopped.returncode == 0 and f"stopped (pid {pid})" in stopped.stdout, stopped.stderr
    assert not pid_alive(pid)
    assert d.start().returncode == 0, "then the start the docs say"
    assert (d.dir / "run2.pid").read_text().strip() == str(d.pids[-1])
    assert d.cli("stop").returncode == 0


def test_after_a_restart_the_old_process_draining_its_clients_holds_no_lock(chatd_daemon: Chatd):
    """The old process closes its clients after the hand-over, waiting for their close frames;
    clients that never answer kept it, and its copies of the locks, for seconds: a stop of the
    successor then left the pidfile locked by it ("running (pid 0)"), and a start was refused."""
    d = chatd_daemon
    silent = silent_websockets(d.port, 3)  # never read, never answer a close
    assert d.cli("restart").returncode == 0
    assert d.cli("stop").returncode == 0  # the old process may still be draining its silent clients
    status = d.cli("status")
    assert status.returncode == ExitStatus.NOT_RUNNING, (status.stdout, status.stderr)
    assert d.start().returncode == 0
    for s in silent:
        s.close()


def test_a_server_no_record_names_is_not_called_not_running(chatd_daemon: Chatd):
    """A config reaching the served database through a hard link (its record is under the other
    name: found by the processes holding the file open), and then the record deleted: start is
    refused, and status and stop say a process holds it."""
    d = chatd_daemon
    pid = d.pid
    os.link(d.dir / "chatd.db", d.dir / "hard.db")
    d.config.update(database=str(d.dir / "hard.db"), pidfile=str(d.dir / "other.pid"))
    d.write_config()
    result = d.cli("status")
    assert result.returncode == ExitStatus.UNKNOWN and f"chatd is running as pid {pid}" in result.stderr
    result = d.cli("start", "-d")
    assert result.returncode == ExitStatus.ALREADY_RUNNING and f"is in use by pid {pid} (pidfile" in result.stderr
    (d.dir / "chatd.db.lock").unlink()
    for command in ("status", "stop"):
        result = d.cli(command)
        assert result.returncode == ExitStatus.UNKNOWN, (command, result.stdout, result.stderr)
        assert "locked by a process that left no record" in result.stderr and "fuser" in result.stderr
    assert d.start().returncode == ExitStatus.ALREADY_RUNNING
    assert pid_alive(d.pids[0]), "nothing stopped it"


def test_the_database_lock_passes_through_a_restart(chatd_daemon: Chatd):
    d = chatd_daemon
    (d.dir / "other").mkdir()
    assert d.cli("restart").returncode == 0
    d.pids.append(d.pid)
    other = Chatd(d.dir / "other", database=str(d.dir / "chatd.db"))  # another install, the same database
    result = other.start()
    other.kill_all()
    assert result.returncode == ExitStatus.ALREADY_RUNNING and f"pid {d.pid}" in result.stderr, result.stdout
    assert d.status()["pid"] == d.pid, "its control socket is still its own"


def test_restart_and_reload_say_which_keys_take_a_stop_and_a_start(chatd_daemon: Chatd):
    d = chatd_daemon
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        other = free.getsockname()[1]
    d.config["listen"] = f"127.0.0.1:{other}"
    d.write_config()
    reload = d.cli("reload")
    assert reload.returncode == 0 and "applied by `chatd restart`" not in reload.stdout
    assert "only by `chatd stop` and `chatd start`" in reload.stdout and "listen" in reload.stdout
    restart = d.cli("restart")
    assert restart.returncode == 0, restart.stderr
    d.pids.append(d.pid)
    assert f"not applied: listen stays 127.0.0.1:{d.port} (the config says 127.0.0.1:{other})" in restart.stdout
    assert d.status()["listen"] == f"127.0.0.1:{d.port}"
    again = d.cli("reload")  # the file still differs from what serves
    assert "only by `chatd stop` and `chatd start` (a restart keeps them): listen" in again.stdout


def test_a_server_whose_control_socket_changed_still_answers(chatd_daemon: Chatd):
    d = chatd_daemon
    pid = d.pid
    d.config["control_socket"] = "new.sock"
    d.write_config()
    assert d.status()["pid"] == pid, "asked on the socket its database's lock records"
    reload = d.cli("reload")
    assert reload.returncode == 0
    assert "only by `chatd stop` and `chatd start` (a restart keeps them): control_socket" in reload.stdout
    stopped = d.cli("stop")
    assert stopped.returncode == 0 and f"stopped (pid {pid})" in stopped.stdout


def test_a_config_whose_control_socket_names_another_servers_reaches_its_own_server(chatd_daemon: Chatd):
    """x's config edited to name y's control socket: status, backup and stop asked y and said so
    as x's (y stopped, x served on, x's backup held y's database); they now ask x on the socket x
    recorded, or say that another process answers."""
    x = chatd_daemon
    (x.dir / "y").mkdir()
    y = Chatd(x.dir / "y")
    try:
        assert y.start().returncode == 0, "another server, its own database and socket"
        assert y.cli("apikey", "create", "only-in-y", "--scope", "read").returncode == 0
        x_pid, y_pid = x.pid, y.pid
        x.config["control_socket"] = str(y.dir / "chatd.sock")
        x.write_config()
        assert x.status()["pid"] == x_pid
        backup = x.cli("backup", str(x.dir / "x-backup.db"))
        assert backup.returncode == 0, backup.stderr
        with sqlite3.connect(x.dir / "x-backup.db") as copy:
            assert copy.execute("SELECT name FROM api_key").fetchall() == [], "x's database, not y's"
        stopped = x.cli("stop")
        assert stopped.returncode == 0 and f"stopped (pid {x_pid})" in stopped.stdout, stopped
        assert not pid_alive(x_pid) and pid_alive(y_pid) and y.status()["pid"] == y_pid
    finally:
        y.kill_all()

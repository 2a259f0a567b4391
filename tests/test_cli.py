"""The ``chatd`` command in-process: help, exit statuses, the commands that
need no running server. (Against real servers: test_lifecycle.py.)"""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from chatd.cli import EXIT_HELP, locate, main
from chatd.control import ControlServer, bind_control
from chatd.daemon import PidFile, running_pid
from chatd.status import ExitStatus
from chatd.store.migrations import SCHEMA_VERSION

COMMANDS = ["start", "stop", "reload", "restart", "status", "connections", "backup", "restore", "check-config"]
OPERATIONS = (Path(__file__).resolve().parent.parent / "docs" / "operations.md").read_text()


def run(*argv: str, env: dict | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), env if env is not None else {}, out, err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "chatd.yaml"
    path.write_text(yaml.safe_dump({"listen": "127.0.0.1:0"}))
    return path


def test_help_lists_every_command_and_exit_status():
    code, out, _ = run("--help")
    assert code == 0
    for command in COMMANDS:
        assert re.search(rf"^\s+{command}\s", out, re.M), command
    for status in ExitStatus:
        assert re.search(rf"^\s+{status.value}\s", out, re.M), status


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str):
    code, out, _ = run(command, "--help")
    assert code == 0 and f"usage: chatd {command}" in out and "-c PATH" in out


def test_usage_errors_exit_2():
    assert run("frobnicate")[0] == ExitStatus.USAGE
    assert run()[0] == ExitStatus.USAGE
    code, _, err = run("stop", "--timeout", "-1")
    assert code == ExitStatus.USAGE and "timeout" in err


@pytest.mark.parametrize("status", list(ExitStatus))
def test_every_exit_status_is_documented(status: ExitStatus):
    assert re.search(rf"^\| {status.value} \|", OPERATIONS, re.M), f"docs/operations.md lacks exit status {status}"
    assert re.search(rf"^  {status.value}\s", EXIT_HELP, re.M)


@pytest.mark.parametrize("command", ["status", "connections", "reload", "restart"])
def test_commands_that_need_a_server_say_it_is_not_running(config: Path, command: str):
    code, out, _ = run(command, "-c", str(config))
    assert code == ExitStatus.NOT_RUNNING and "not running" in out


@pytest.mark.parametrize("command", [["status"], ["check-config"], ["--help"], ["--version"], ["status", "--help"]])
def test_output_that_cannot_be_written_ends_without_a_traceback(config: Path, command: list[str]):
    """`chatd status | head -0` (the reader has gone), `> /dev/full` (ENOSPC), `>&-` (no stdout)."""
    argv = [sys.executable, "-m", "chatd", *command, "-c", str(config)]
    read_end, write_end = os.pipe()
    os.close(read_end)  # gone before chatd writes a byte
    closed_pipe = subprocess.run(argv, stdout=write_end, stderr=subprocess.PIPE, timeout=60)
    os.close(write_end)
    assert (closed_pipe.returncode, closed_pipe.stderr) == (ExitStatus.ERROR, b"")
    with open("/dev/full", "w") as full:
        disk_full = subprocess.run(argv, stdout=full, stderr=subprocess.PIPE, text=True, timeout=60)
    assert disk_full.returncode == ExitStatus.ERROR
    assert disk_full.stderr == "chatd: cannot write the output: No space left on device\n"
    no_stdout = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=60,
                               preexec_fn=lambda: os.close(1))
    assert no_stdout.returncode == ExitStatus.ERROR
    assert no_stdout.stderr == "chatd: cannot write the output: standard output is closed\n"


def test_status_json_not_running(config: Path):
    code, out, _ = run("status", "--json", "-c", str(config))
    assert code == ExitStatus.NOT_RUNNING and json.loads(out) == {"running": False}


def test_stop_when_not_running_succeeds(config: Path):
    code, out, _ = run("stop", "-c", str(config))
    assert code == ExitStatus.OK and "not running" in out


def test_config_comes_from_the_environment(config: Path):
    code, out, _ = run("check-config", env={"CHATD_CONFIG": str(config)})
    assert code == 0 and str(config) in out


def test_start_with_an_invalid_config_exits_78(tmp_path: Path):
    bad = tmp_path / "chatd.yaml"
    bad.write_text("limits: {max_text_chars: 0}\n")
    code, _, err = run("start", "-c", str(bad))
    assert code == ExitStatus.CONFIG and "max_text_chars" in err
    assert run("check-config", "-c", str(bad))[0] == ExitStatus.CONFIG


def test_check_config_names_a_retired_key_and_its_replacement(tmp_path: Path):
    old = tmp_path / "chatd.yaml"
    old.write_text("proxy_headers: true\n")
    code, _, err = run("check-config", "-c", str(old))
    assert code == ExitStatus.CONFIG and "'proxy_headers' was replaced by 'trusted_proxies'" in err


# Tornado's bind_sockets does not close the socket whose bind failed; the CLI exits right after.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_start_on_a_taken_port_fails_and_leaves_nothing_locked(tmp_path: Path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        path = tmp_path / "chatd.yaml"
        path.write_text(yaml.safe_dump({"listen": f"127.0.0.1:{taken.getsockname()[1]}"}))
        code, _, err = run("start", "-c", str(path))
    assert code == ExitStatus.ERROR and "cannot listen on" in err
    assert running_pid(str(tmp_path / "chatd.pid")) is None, "the pidfile lock was let go"


def test_a_broken_config_still_finds_the_pidfile(tmp_path: Path):
    path = tmp_path / "chatd.yaml"
    path.write_text("pidfile: run/x.pid\nlisten: 12\n")
    config, problem = locate(path)
    assert problem and "listen" in problem
    assert config.pidfile == str(tmp_path / "run" / "x.pid")
    code, out, err = run("status", "-c", str(path))
    assert code == ExitStatus.NOT_RUNNING and "warning" in err


def chatd_like(db: sqlite3.Connection) -> None:
    """Make ``db`` pass for a chatd database (its schema version recorded, chatd.store.sqlitefile)
    with a ``message`` table of its own: a backup copies it whole."""
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
    db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
    db.execute("CREATE TABLE message (id INTEGER PRIMARY KEY, text TEXT)")


def test_backup_while_not_running(tmp_path: Path, config: Path):
    with sqlite3.connect(tmp_path / "chatd.db") as db:
        chatd_like(db)
        db.execute("INSERT INTO message (text) VALUES ('kept')")
    db.close()
    code, out, _ = run("backup", str(tmp_path / "copy.db"), "-c", str(config))
    assert code == 0 and "backed up" in out
    with sqlite3.connect(tmp_path / "copy.db") as copy:
        assert copy.execute("SELECT text FROM message").fetchall() == [("kept",)]
    copy.close()
    (tmp_path / "other.yaml").write_text("database: none.db\n")
    code, _, err = run("backup", str(tmp_path / "copy.db"), "-c", str(tmp_path / "other.yaml"))
    assert code == ExitStatus.ERROR and "backup failed" in err


def written(path: Path) -> tuple[int, int, int] | None:
    """What a write changes of the file at ``path`` (inode, size, modification time), None if there is
    none. Not its access time, which reading the config (and the clock's next second) changes."""
    if not path.exists():
        return None
    st = os.stat(path)
    return st.st_ino, st.st_size, st.st_mtime_ns


def test_a_backup_replaces_no_file_of_chatds_and_nothing_but_a_file(tmp_path: Path, config: Path):
    """`chatd backup PATH` replaced whatever was at PATH: the config, the pidfile, a FIFO."""
    with sqlite3.connect(tmp_path / "chatd.db") as db:
        chatd_like(db)
    db.close()
    (tmp_path / "chatd.log").write_text("a log line\n")
    os.link(tmp_path / "chatd.db", tmp_path / "hard.db")
    os.mkfifo(tmp_path / "fifo")
    for target, why in (("chatd.yaml", "is the config file"), ("chatd.log", "is chatd's log file"),
                        ("hard.db", "is the live database itself"), ("chatd.db-wal", "is the live database itself"),
                        ("chatd.db.lock", "is the database's lock record"), ("fifo", "is not a regular file")):
        before = written(tmp_path / target)
        code, _, err = run("backup", str(tmp_path / target), "-c", str(config))
        assert code == ExitStatus.ERROR and why in err, (target, err)
        assert written(tmp_path / target) == before, target
    code, out, _ = run("backup", str(tmp_path / "older-backup.db"), "-c", str(config))
    assert code == 0 and "backed up" in out


def test_status_rows_of_workers():
    """`chatd status` with workers: a row per worker, also for one that is down."""
    from chatd.commands import worker_row

    serving = {"worker": 1, "pid": 4711, "state": "serving", "connections": 3, "users_online": 2, "rss_bytes": 52 << 20}
    assert worker_row(serving) == (1, 4711, "serving", 3, 2, "52.0 MiB")
    down = {"worker": 2, "pid": None, "state": "restarting", "restart_in_seconds": 3.5}
    assert worker_row(down) == (2, "-", "restarting in 3.5 s", "-", "-", "-")
    mute = {"worker": 2, "pid": 4712, "state": "not answering"}
    assert worker_row(mute) == (2, 4712, "not answering", "-", "-", "-")


def refused_alike(config: Path, settings: dict[str, str], problem: str) -> None:
    """``config`` with ``settings``: check-config refuses it saying ``problem`` (after the file
    and a colon), and start refuses it in the same words."""
    config.write_text(yaml.safe_dump({"listen": "127.0.0.1:0", **settings}))
    code, _, err = run("check-config", "-c", str(config))
    assert code == ExitStatus.CONFIG and f"{config}: {problem}" in err.splitlines(), err
    assert run("start", "-c", str(config))[1:] == ("", err)


def test_check_config_refuses_what_start_would_in_its_words_and_makes_nothing(short_dir: Path):
    """check-config passed a database whose directory does not exist, and `chatd start` then
    failed: it says what start says, naming the key and the path, and creates nothing."""
    missing = short_dir / "gone"
    config = short_dir / "chatd.yaml"
    config.write_text(yaml.safe_dump({"listen": "127.0.0.1:0", "database": str(missing / "chatd.db")}))
    before = sorted(short_dir.iterdir())
    code, _, err = run("check-config", "-c", str(config))
    line = f"{config}: key 'database': cannot write {missing / 'chatd.db'}: its directory {missing} does not exist"
    assert code == ExitStatus.CONFIG and line in err.splitlines(), err
    assert sorted(short_dir.iterdir()) == before, "no pidfile, no directory, no database"
    code, _, start_err = run("start", "-c", str(config))
    assert code == ExitStatus.ERROR and start_err == err

    # A PostgreSQL database is no path; the pidfile is checked as well.
    config.write_text(yaml.safe_dump({"database": "postgresql://chat@127.0.0.1:1/chatd",
                                      "pidfile": str(missing / "chatd.pid")}))
    code, _, err = run("check-config", "-c", str(config))
    assert code == ExitStatus.CONFIG and "key 'database'" not in err
    assert f"key 'pidfile': cannot write {missing / 'chatd.pid'}: its directory {missing} does not exist" in err

    # A file that is not a socket where the control socket goes: start never removes it.
    notes = short_dir / "notes.txt"
    notes.write_text("precious")
    refused_alike(config, {"control_socket": str(notes)},
                  f"key 'control_socket': cannot write {notes}: a file that is not a socket is there; "
                  "chatd does not remove it")
    assert notes.read_text() == "precious"
    beside = short_dir / "side.db-wal"
    beside.mkdir()  # where SQLite writes the database's WAL: start failed late, having made the database
    refused_alike(config, {"database": str(short_dir / "side.db")},
                  f"key 'database': cannot write {short_dir / 'side.db'}: {beside}, beside it, is a directory")
    assert not (short_dir / "side.db").exists()
    long_socket = short_dir / ("s" * 120)  # more than a Unix socket's address holds (unix(7))
    refused_alike(config, {"control_socket": str(long_socket)},
                  f"key 'control_socket': cannot write {long_socket}: the path is longer than 107 bytes, "
                  "the most a Unix socket's address holds")
    before = sorted(short_dir.iterdir())

    # The log file only `start -d` writes: a warning, which the daemon's start then refuses with.
    config.write_text(yaml.safe_dump({"listen": "127.0.0.1:0", "logfile": str(missing / "chatd.log")}))
    code, out, err = run("check-config", "-c", str(config))
    problem = f"{config}: key 'logfile': cannot write {missing / 'chatd.log'}: its directory {missing} does not exist"
    assert code == ExitStatus.OK and "configuration is valid" in out and f"chatd: warning: {problem}" in err
    assert sorted(short_dir.iterdir()) == before


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to check as another user")
def test_check_config_names_a_directory_the_user_cannot_write(short_dir: Path):
    """Checked as the user that runs it: here one that may not make files in the database's directory."""
    os.chmod(short_dir, 0o755)
    locked = short_dir / "db"
    locked.mkdir(mode=0o755)  # root's: another user may not make files in it
    run_dir = short_dir / "run"
    run_dir.mkdir()
    os.chmod(run_dir, 0o777)
    config = short_dir / "chatd.yaml"
    config.write_text(yaml.safe_dump({"listen": "127.0.0.1:0", "database": str(locked / "chatd.db"),
                                      "pidfile": str(run_dir / "chatd.pid"),
                                      "control_socket": str(run_dir / "chatd.sock"), "logfile": ""}))
    config.chmod(0o644)

    def as_nobody(command: str) -> subprocess.CompletedProcess:
        # Everything imported and read once as root first: Python's own files are in root's home here.
        probe = (f"import os, sys\nimport chatd.lifecycle\nfrom chatd.cli import main\n"
                 f"from chatd.config import load_config\nload_config({str(config)!r})\n"
                 f"os.setgid(65534); os.setuid(65534)\n"
                 f"sys.exit(main([{command!r}, '-c', {str(config)!r}], {{}}, sys.stdout, sys.stderr))\n")
        return subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60,
                              cwd=Path(__file__).resolve().parent.parent)

    checked = as_nobody("check-config")
    line = f"{config}: key 'database': cannot write {locked / 'chatd.db'}: its directory {locked} is not writable"
    assert checked.returncode == ExitStatus.CONFIG and line in checked.stderr.splitlines(), checked.stderr
    started = as_nobody("start")
    assert started.returncode == ExitStatus.ERROR and started.stderr == checked.stderr


async def test_stop_refused_by_a_process_letting_go_of_its_socket_asks_again(short_dir: Path):
    """At a restart the old process lets go of its control socket and refuses what it reads from
    then on (chatd.control.close), and its successor takes the next connection on the same socket.
    `chatd stop` took that refusal for an answer: the old process went, the successor served on.
    Here one server gives the old process's refusal, then the successor's answer."""
    config = short_dir / "chatd.yaml"
    config.write_text(yaml.safe_dump({"listen": "127.0.0.1:0"}))
    old, successor = (subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"]) for _ in range(2))
    pidfile = PidFile(str(short_dir / "chatd.pid"))
    pidfile.acquire()
    pidfile.write(old.pid)  # until the successor serves
    asked: list[dict] = []

    async def stop(request: dict) -> dict:
        asked.append(request)
        if len(asked) == 1:
            return {"ok": False, "closing": True, "error": f"not answering: pid {old.pid} is handing over"}
        pidfile.write(successor.pid)  # serving: then its control server answers
        successor.kill()
        successor.wait()
        return {"ok": True, "pid": successor.pid, "timeout": request["seconds"]}

    async def status(_: dict) -> dict:  # who answers: the pidfile's process, as a server says
        return {"ok": True, "pid": int((short_dir / "chatd.pid").read_text())}

    control = await ControlServer.start(bind_control(str(short_dir / "chatd.sock")), {"stop": stop, "status": status})
    try:
        code, out, err = await asyncio.to_thread(run, "stop", "-c", str(config))
    finally:
        await control.close()
        pidfile.close()
        old.kill()
        old.wait()
    assert (code, out, err) == (ExitStatus.OK, f"chatd stopped (pid {successor.pid})\n", ""), (out, err)
    assert len(asked) == 2

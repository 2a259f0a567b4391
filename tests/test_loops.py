"""The event loop a chatd process runs (``event_loop``, chatd.loops): a real
``chatd start -d`` with each setting chats, and says which loop it runs in its
log and in ``chatd status``; ``uvloop`` without the package installed is a
config error naming the key, and ``auto`` then runs asyncio's own loop.

"Without the package" is simulated with a directory first on PYTHONPATH whose
uvloop.py fails to import, as an uninstalled package would."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatd.status import ExitStatus
from tests.ops_fixtures import Chatd, _env
from tests.wsclient import ChatClient

NO_UVLOOP = 'raise ImportError("No module named \'uvloop\' (simulated: the extra is not installed)")\n'


def without_uvloop(directory: Path) -> dict[str, str]:
    """The test processes' environment, with ``import uvloop`` failing."""
    shim = directory / "no-uvloop"
    shim.mkdir()
    (shim / "uvloop.py").write_text(NO_UVLOOP)
    env = _env()
    env["PYTHONPATH"] = f"{shim}:{env['PYTHONPATH']}"
    return env


async def round_trip(chatd: Chatd) -> None:
    """Two clients in a room: one says something, the other receives it, the sender is acknowledged."""
    async with ChatClient.connect(chatd.ws_url) as alice, ChatClient.connect(chatd.ws_url) as bob:
        await alice.enter("lobby", name="alice")
        await bob.enter("lobby", name="bob")
        ack = await alice.say("lobby", "over uvloop or not")
        assert ack["type"] == "ack", ack
        got = await bob.expect("message", room="lobby")
        assert got["text"] == "over uvloop or not" and got["id"] == ack["id"]


@pytest.mark.parametrize(("setting", "runs"), [("auto", "uvloop"), ("asyncio", "asyncio"), ("uvloop", "uvloop")])
async def test_a_server_chats_on_the_loop_its_setting_names(chatd_install: Chatd, setting: str, runs: str):
    pytest.importorskip("uvloop")  # in chatd[test]; without it only the test below applies
    chatd_install.config["event_loop"] = setting
    chatd_install.write_config()
    result = chatd_install.start()
    assert result.returncode == 0, result.stderr
    await round_trip(chatd_install)
    assert chatd_install.status()["event_loop"].partition(" ")[0] == runs
    assert f"event loop: {runs}" in chatd_install.log()
    code, out, _ = chatd_install.run("status")
    assert code == 0 and f"event loop    {runs}" in out, out


@pytest.mark.redis
@pytest.mark.parametrize("runs", ["asyncio", "uvloop"])
async def test_workers_run_the_loop_of_the_supervisor(chatd_install: Chatd, redis_server, runs: str):
    """The loop runs before a worker is given its config: the supervisor passes the setting on."""
    pytest.importorskip("uvloop")
    chatd_install.config.update(workers=2, bus=redis_server.url, event_loop=runs)
    chatd_install.write_config()
    result = chatd_install.start()
    assert result.returncode == 0, result.stderr
    await round_trip(chatd_install)
    status = chatd_install.status()
    chatd_install.pids += [w["pid"] for w in status["workers"]]
    assert [w["event_loop"].partition(" ")[0] for w in status["workers"]] == [runs, runs]
    assert status["event_loop"].partition(" ")[0] == runs


async def test_without_uvloop_auto_runs_asyncio_and_uvloop_is_a_config_error(chatd_install: Chatd):
    env = without_uvloop(chatd_install.dir)
    chatd_install.config["event_loop"] = "uvloop"
    chatd_install.write_config()
    for command in ("check-config", "start"):
        refused = chatd_install.cli(command, env=env)
        assert refused.returncode == ExitStatus.CONFIG, refused
        assert "key 'event_loop' is uvloop, but uvloop is not installed" in refused.stderr, refused.stderr
        assert "pip install 'chatd[uvloop]'" in refused.stderr

    chatd_install.config["event_loop"] = "auto"
    chatd_install.write_config()
    result = chatd_install.start(env=env)
    assert result.returncode == 0, result.stderr
    await round_trip(chatd_install)
    assert chatd_install.status()["event_loop"] == "asyncio"
    assert "event loop: asyncio (event_loop: auto)" in chatd_install.log()

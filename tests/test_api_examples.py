"""docs/api.md's examples for web apps (docs/examples/chatd.php with the real php CLI, and
docs/examples/chatd_client.py), run as the doc shows them against a real server, with real
WebSocket clients seeing what the app's users see."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import sys
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from websockets.exceptions import ConnectionClosed

from chatd.protocol.codes import CloseCode
from tests.apiclient import api_key
from tests.conftest import until
from tests.webapp import WebApp

ROOT = Path(__file__).resolve().parent.parent
API_DOC = (ROOT / "docs" / "api.md").read_text()
PHP, PYTHON = ROOT / "docs" / "examples" / "chatd.php", ROOT / "docs" / "examples" / "chatd_client.py"
APP = WebApp()  # its secret is chatd's app_tokens.secret; the examples sign their own tokens with it
RUN_SECONDS = 60  # bound on one run of an example (each is one or two HTTP requests)


def command(example: Path) -> list[str]:
    """How docs/api.md says to run ``example``. No php is a failure: .ci/run installs php-cli and php-curl."""
    if example.suffix == ".php":
        php = shutil.which("php")
        assert php, "the php CLI is missing: install Debian's php-cli and php-curl (as .ci/run does)"
        return [php, str(example)]
    return [sys.executable, str(example)]


@pytest.fixture
def config_overrides() -> dict[str, Any]:
    return {"app_tokens": {"secret": APP.secret}}


@pytest.fixture
def run(server):
    """``answer = await run(example, "is-online", "u-1")``: its JSON output; ``key=`` another API
    key; ``fails=True``: expect a non-zero exit and return stderr."""
    key = api_key(server, "publish", "read", "manage")

    async def run_example(example: Path, *args: str, fails: bool = False, api_key: str = key) -> Any:
        env = {**os.environ, "CHATD_URL": f"http://127.0.0.1:{server.port}", "CHATD_API_KEY": api_key,
               "CHATD_APP_SECRET": APP.secret}
        process = await asyncio.create_subprocess_exec(*command(example), *args, env=env,
                                                       stdout=asyncio.subprocess.PIPE,
                                                       stderr=asyncio.subprocess.PIPE)
        async with asyncio.timeout(RUN_SECONDS):
            out, err = await process.communicate()
        if fails:
            assert process.returncode != 0 and not out, (process.returncode, out, err)
            return err.decode()
        assert process.returncode == 0, (args, err.decode())
        return json.loads(out)

    return run_example


async def sign_in(run, example: Path, connect, sub: str, name: str, *rooms: str):
    """A user of the app following the example's login link: the page identifies with the fragment's token."""
    url = urlsplit(await run(example, "login-url", sub, name))
    assert not url.query and url.fragment.startswith("app_token=")  # never in the query string: logs keep those
    return await (await connect()).enter(*rooms, app_token=unquote(url.fragment.removeprefix("app_token=")))


@pytest.mark.parametrize("example", [PHP, PYTHON], ids=["php", "python"])
async def test_the_example_does_each_common_job(example, run, server, connect):
    phone = await sign_in(run, example, connect, "u-1", "Alice", "lobby")
    laptop = await sign_in(run, example, connect, "u-1", "Alice")
    alice = phone.welcome["user"]
    assert laptop.welcome["user"]["id"] == alice["id"] and alice["name"] == "Alice"  # two devices, one user
    bob = await sign_in(run, example, connect, "u-2", "Bob")

    sent = await run(example, "send-to-user", "u-1", "u-2", "your order shipped", "order-1-shipped")
    for device in (phone, laptop):
        got = await device.expect("message", id=sent["id"])
        assert (got["text"], got["from"]["id"], got["to"]["id"]) == ("your order shipped", bob.welcome["user"]["id"],
                                                                     alice["id"])
    again = await run(example, "send-to-user", "u-1", "u-2", "your order shipped", "order-1-shipped")
    assert again["id"] == sent["id"]  # a retry with its Idempotency-Key is stored once

    said = await run(example, "send-to-room", "lobby", "u-2", "hello lobby")
    got = await phone.expect("message", id=said["id"])
    assert (got["room"], got["text"]) == ("lobby", "hello lobby")

    assert await run(example, "is-online", "u-1") == {"online": True, "sessions": 2}
    assert await run(example, "is-online", "u-never-signed-in") == {"online": False, "sessions": 0}

    await bob.close()
    await until(lambda: bob.welcome["user"]["id"] not in server.hub.users, what="bob gone")
    assert await run(example, "is-online", "u-2") == {"online": False, "sessions": 0}
    stored = await run(example, "notify-user", "u-2", "invoice.paid", '{"invoice": 7}', "3600")
    back = await sign_in(run, example, connect, "u-2", "Bob")  # offline when it was sent: it comes on connect
    assert await back.expect("event") == {"type": "event", "name": "invoice.paid", "data": {"invoice": 7},
                                          "ts": stored["ts"], "id": stored["id"]}

    assert await run(example, "kick", "u-1", "account suspended") == {"id": alice["id"], "sessions_here": 2}
    for device in (phone, laptop):
        assert (await device.expect("kicked"))["reason"] == "account suspended"
        with pytest.raises(ConnectionClosed) as closed:
            await device.expect("never")
        assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (CloseCode.KICKED, "account suspended")


@pytest.mark.parametrize("example", [PHP, PYTHON], ids=["php", "python"])
async def test_the_example_fails_loudly_when_chatd_refuses(example, run, server, connect):
    await sign_in(run, example, connect, "u-1", "Alice")
    err = await run(example, "send-to-user", "u-1", "u-nobody", "hi", fails=True)
    assert "404 no_such_user" in err
    err = await run(example, "send-to-room", "no-such-room", "u-1", "hi", fails=True)
    assert "404 no_such_room" in err
    err = await run(example, "is-online", "u-1", fails=True, api_key="chatd_0000_wrong")
    assert "401 unauthorized" in err
    err = await run(example, "kick", "u-1", "bye", fails=True, api_key=api_key(server, "read"))
    assert "403 forbidden" in err
    count = await server.store.read(lambda: server.store.db.execute_sql("SELECT count(*) FROM message").fetchone()[0])
    assert count == 0  # nothing refused was stored


@pytest.mark.parametrize("example, language", [(PHP, "php"), (PYTHON, "python")])
def test_the_doc_shows_the_example_as_it_is_run(example, language):
    shown = re.findall(rf"```{language}\n(.*?)```", API_DOC, re.S)
    assert example.read_text() in shown, f"docs/api.md must show {example.name} verbatim in a ```{language} block"

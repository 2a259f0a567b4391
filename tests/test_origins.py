"""The Origin rule for /ws: pure cases, then handshakes with a real server."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from websockets.exceptions import InvalidStatus

from chatd.origins import MAX_LOGGED, for_log, normalize_origin, origin_allowed
from tests.conftest import make_config
from tests.wsclient import ChatClient

APP = "https://app.example.org"


@pytest.mark.parametrize(("value", "expected"), [
    ("https://chat.example.org", "https://chat.example.org"),
    ("HTTPS://Chat.Example.ORG:443", "https://chat.example.org"),
    ("http://chat.example.org:80", "http://chat.example.org"),
    ("http://chat.example.org:8080", "http://chat.example.org:8080"),
    ("http://[::1]:8080", "http://[::1]:8080"),
    ("https://chat.example.org/", None), ("https://chat.example.org/x", None), ("https://chat.example.org?", None),
    ("https://u@chat.example.org", None), ("https://chat.example.org:99999", None), ("ftp://chat.example.org", None),
    ("null", None), ("", None), ("https://", None), ("https://bücher.example", None), ("chat.example.org", None),
])
def test_normalize_origin(value, expected):
    assert normalize_origin(value) == expected


@pytest.mark.parametrize(("origin", "host", "allowed", "expected"), [
    ("https://chat.example.org", "chat.example.org", [], True),  # the page's own host
    ("https://chat.example.org", "chat.example.org:443", [], True),
    ("http://127.0.0.1:8080", "127.0.0.1:8080", [], True),
    ("http://CHAT.example.org", "chat.EXAMPLE.org", [], True),
    ("http://[::1]:8080", "[::1]:8080", [], True),
    ("http://127.0.0.1:8081", "127.0.0.1:8080", [], False),  # another port is another origin
    ("https://evil.example", "chat.example.org", [], False),
    ("https://chat.example.org.evil.example", "chat.example.org", [], False),
    ("null", "chat.example.org", [], False),
    ("https://evil.example", None, [], False),
    (APP, "chat.example.org", [APP], True),  # allowed_origins
    ("https://APP.example.org:443", "chat.example.org", ["https://app.example.org"], True),
    ("http://app.example.org", "chat.example.org", [APP], False),  # the scheme is part of an origin
    (APP, "chat.example.org", ["https://app.example.org:8443"], False),
])
def test_origin_allowed(origin, host, allowed, expected):
    assert origin_allowed(origin, host, allowed) is expected


def test_a_logged_origin_is_one_quoted_bounded_line():
    assert for_log("https://evil.example\nINFO forged line") == "'https://evil.example\\nINFO forged line'"
    assert len(for_log("x" * 10_000)) <= MAX_LOGGED + 3


async def handshake_status(ws_url: str, origin: str | None, fetch_site: str | None = None) -> int:
    """101 if the WebSocket opened, else the status of the refusal."""
    headers = {"Sec-Fetch-Site": fetch_site} if fetch_site else None
    try:
        async with ChatClient.connect(ws_url, origin=origin, additional_headers=headers) as client:
            assert (await client.identify(name="someone"))["type"] == "welcome"
            return 101
    except InvalidStatus as e:
        return e.response.status_code


@pytest.mark.parametrize("config_overrides", [{"allowed_origins": [APP]}])
@pytest.mark.parametrize(("origin", "fetch_site", "expected"), [
    (None, None, 101),  # not a browser: no Origin, not affected
    ("own", None, 101),
    (APP, None, 101),
    ("https://evil.example", None, 403),
    ("null", None, 403),
    # Sec-Fetch-Site does not overrule the Origin rule, either way (Tornado 6.6 alone would believe it).
    ("https://evil.example", "same-origin", 403),
    ("own", "cross-site", 101),
    (None, "cross-site", 101),  # no Origin: no browser's handshake, whatever the header says
])
async def test_handshake_origin(server, ws_url, origin, fetch_site, expected, caplog):
    if origin == "own":
        origin = f"http://127.0.0.1:{server.port}"
    with caplog.at_level(logging.INFO, logger="chatd.upgrade"):
        assert await handshake_status(ws_url, origin, fetch_site) == expected
    refusals = [r for r in caplog.records if r.name == "chatd.upgrade" and "refused" in r.getMessage()]
    if expected == 403:
        assert [r.levelno for r in refusals] == [logging.INFO]
        assert f"origin {origin!r}" in refusals[0].getMessage() and "127.0.0.1" in refusals[0].getMessage()
    else:
        assert not refusals


async def test_allowed_origins_is_live(server, ws_url, tmp_path: Path):
    assert await handshake_status(ws_url, APP) == 403
    live, _ = server.reload(make_config(tmp_path, allowed_origins=[APP]))
    assert live == ["allowed_origins"]
    assert await handshake_status(ws_url, APP) == 101

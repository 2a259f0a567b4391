"""Outgoing webhook calls (chatd.webhooks) against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from chatd.webhooks import BACKOFF_MAX, DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, Webhooks, backoff, sign, verify
from tests.conftest import make_config, until

SECRET = b"k" * 32
ALLOWED = {"allowed_hosts": ["127.0.0.1"]}


@pytest.fixture
async def make_hooks(tmp_path):
    """``hooks = make_hooks(retries=1)``: Webhooks with these ``webhooks.*`` settings, allowing 127.0.0.1
    unless they say otherwise; closed at the end."""
    made: list[Webhooks] = []

    def make(**settings: Any) -> Webhooks:
        config = make_config(tmp_path, webhooks={**ALLOWED, "backoff_seconds": 0.05, **settings})
        made.append(Webhooks(lambda: config))
        return made[-1]

    yield make
    for webhooks in made:
        await webhooks.close()


@pytest.fixture
def hooks(make_hooks) -> Webhooks:
    return make_hooks()


def test_signature_is_hmac_sha256_over_timestamp_dot_body():
    body = b'{"a":1}'
    header = sign(SECRET, 1700000000, body)
    expected = hmac.new(SECRET, b"1700000000." + body, hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={expected}"
    assert verify(SECRET, header, body, now=1700000100)
    assert not verify(SECRET, header, body + b" ", now=1700000100)  # the body changed
    assert not verify(b"x" * 32, header, body, now=1700000100)  # another secret
    assert not verify(SECRET, header, body, now=1700000000 + 301)  # too old: a replay
    assert not verify(SECRET, "v1=" + expected, body, now=1700000000)  # no timestamp


def test_backoff_doubles_with_jitter_and_is_capped():
    assert backoff(1, 2.0, lambda lo, hi: lo) == 1.0
    assert backoff(1, 2.0, lambda lo, hi: hi) == 3.0
    assert backoff(3, 2.0, lambda lo, hi: 1.0) == 8.0
    assert backoff(30, 2.0, lambda lo, hi: 1.0) == BACKOFF_MAX


async def test_a_call_is_a_signed_json_post(hooks, hook):
    answers: list[bytes] = []
    hook.answer((200, b'{"text": "hello"}'))
    assert hooks.send(hook.url(), SECRET, "bot.message", {"text": "h\u00e9"}, answers.append)
    (got,) = await hook.next_request(1)
    assert json.loads(got.body) == {"text": "h\u00e9"}
    assert got.headers["Content-Type"] == "application/json"
    assert got.headers[EVENT_HEADER] == "bot.message"
    assert verify(SECRET, got.headers[SIGNATURE_HEADER], got.body, now=time.time())
    await until(lambda: answers, what="the answer handed back")
    assert answers == [b'{"text": "hello"}']
    assert hooks.stats()["sent"] == 1


async def test_failures_are_retried_with_backoff_then_succeed(make_hooks, hook):
    hooks = make_hooks(retries=3)
    hook.answer((503, b""), (500, b""), (200, b""))
    hooks.send(hook.url(), SECRET, "e", {})
    first, second, third = await hook.next_request(3)
    assert first.headers[DELIVERY_HEADER] == second.headers[DELIVERY_HEADER] == third.headers[DELIVERY_HEADER]
    assert second.at - first.at >= 0.05 * 0.5  # backoff_seconds with the least jitter
    assert third.at - second.at >= 0.05 * 2 * 0.5  # doubled
    await until(lambda: hooks.stats()["sent"] == 1, what="the third try counted as sent")
    assert hooks.stats()["failed"] == 0


async def test_retries_are_bounded(make_hooks, hook):
    hooks = make_hooks(retries=2)
    hook.answer((503, b""))
    hooks.send(hook.url(), SECRET, "e", {})
    await until(lambda: hooks.stats()["failed"] == 1, what="the call given up")
    assert len(hook.received) == 3  # one try and two retries


async def test_a_client_error_is_not_retried(hooks, hook):
    hook.answer((400, b""))
    hooks.send(hook.url(), SECRET, "e", {})
    await until(lambda: hooks.stats()["failed"] == 1, what="the call given up")
    assert len(hook.received) == 1


async def test_redirects_are_not_followed(hooks, hook):
    hook.answer((302, b"", {"Location": "/elsewhere"}))
    hooks.send(hook.url(), SECRET, "e", {})
    await until(lambda: hooks.stats()["failed"] == 1, what="the call given up")
    assert [r.path for r in hook.received] == ["/hook"]


async def test_a_hanging_webhook_times_out_and_is_retried(make_hooks, hook):
    hooks = make_hooks(timeout_seconds=0.3, retries=1)
    hook.answer(None)
    start = time.monotonic()
    hooks.send(hook.url(), SECRET, "e", {})
    await until(lambda: hooks.stats()["failed"] == 1, what="the call given up")
    assert len(hook.received) == 2
    assert time.monotonic() - start >= 0.6  # two tries, each cut at the timeout


async def test_a_full_queue_drops_and_counts(make_hooks, hook, caplog):
    hooks = make_hooks(concurrency=1, queue_max=2, timeout_seconds=30)
    hook.answer(None)
    sent = [hooks.send(hook.url(), SECRET, "e", {"n": n}) for n in range(5)]
    assert sent == [True, True, True, False, False]  # one under way, two waiting, two dropped
    assert hooks.stats() == {"sent": 0, "failed": 0, "dropped": 2, "queued": 2, "running": 1}
    await hook.next_request(1)
    assert len(hook.received) == 1  # concurrency 1: the others wait
    assert ["webhook queue full" in r.getMessage() for r in caplog.records].count(True) == 1  # logged once


@pytest.mark.parametrize("url", ["http://127.0.0.1:{port}/hook", "http://localhost:{port}/hook",
                                 "http://[::1]:{port}/hook", "http://10.0.0.1:{port}/hook",
                                 "http://169.254.169.254/latest/meta-data/"])
async def test_internal_addresses_are_refused_by_default(make_hooks, hook, url, caplog):
    hooks = make_hooks(allowed_hosts=[], retries=0)
    hooks.send(url.format(port=hook.port), SECRET, "e", {})
    await until(lambda: hooks.stats()["failed"] == 1, what="the call refused")
    assert hook.received == []
    assert any("not a public address" in r.getMessage() for r in caplog.records)




def _documented(language: str) -> str:
    """The signature check docs/api.md gives in ``language`` ("Python" or "PHP")."""
    text = (Path(__file__).resolve().parent.parent / "docs" / "api.md").read_text()
    section = text.split(f"### Checking the signature in {language}\n", 1)[1]
    return section.split("```", 2)[1].split("\n", 1)[1]


def _signed(secret: str, body: bytes, at: int) -> str:
    return sign(secret.encode(), at, body)


@pytest.mark.parametrize("age", [0, 400])
def test_the_documented_python_check_verifies_chatds_signature(age):
    scope: dict[str, Any] = {}
    exec(_documented("Python"), scope)  # the docs' code, as written
    secret, body = "ab" * 32, '{"text":"h\u00e9"}'.encode()
    header = _signed(secret, body, int(time.time()) - age)
    assert scope["chatd_signature_ok"](secret, header, body) is (age == 0)
    assert not scope["chatd_signature_ok"](secret, header, body + b" ")


@pytest.mark.parametrize("age", [0, 400])
def test_the_documented_php_check_verifies_chatds_signature(tmp_path, age):
    secret, body = "ab" * 32, '{"text":"h\u00e9"}'.encode()
    header = _signed(secret, body, int(time.time()) - age)
    script = tmp_path / "check.php"
    script.write_text(_documented("PHP") + "\n$body = file_get_contents($argv[3]);\n"
                      "echo chatd_signature_ok($argv[1], $argv[2], $body) ? 'ok' : 'refused';\n"
                      "echo chatd_signature_ok($argv[1], $argv[2], $body . ' ') ? ' ok' : ' refused';\n")
    (tmp_path / "body").write_bytes(body)
    result = subprocess.run(["php", str(script), secret, header, str(tmp_path / "body")], capture_output=True,
                            text=True, timeout=30, check=True)
    assert result.stdout == ("ok refused" if age == 0 else "refused refused"), result.stderr

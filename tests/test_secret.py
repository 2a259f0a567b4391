"""The secret that signs tokens (chatd.auth.secret): weak ones are refused by
``chatd check-config``, at start and on reload (the old config kept, the
reason said), from the config file or from ``identity.secret_file``."""

from __future__ import annotations

import asyncio
import base64
import logging
import random
import re
import secrets
from pathlib import Path

import pytest
import yaml

from chatd import logs
from chatd.auth.secret import SECRET_MIN_BYTES, secret_problem
from chatd.cli import main
from chatd.server import Server
from chatd.status import ExitStatus
from tests.conftest import make_config
from tests.ops_fixtures import Chatd
from tests.wsclient import ChatClient

ROOT = Path(__file__).resolve().parent.parent
STRONG = secrets.token_hex(32)
# Random secrets for the parameters below, the same in every process: pytest-xdist's workers must
# collect the same test ids.
PARAMETERS = random.Random("test_secret")


@pytest.mark.parametrize(("secret", "why"), [
    ("", "0 bytes long"),
    ("k" * (SECRET_MIN_BYTES - 1), f"is {SECRET_MIN_BYTES - 1} bytes long"),
    (PARAMETERS.randbytes(15).hex(), "30 bytes long"),
    ("a" * 64, "repeats a string of 1 characters"),
    ("changeme" * 4, "repeats a string of 8 characters"),
    ("abc123" * 8, "repeats"),
    ("0123456789abcdef" * 2, "repeats"),
    ("abcdefghijklmnopqrstuvwxyz0123456789", "runs of repeated or neighbouring"),
    ("qwertyuiopasdfghjklzxcvbnm1234567890", "runs of repeated or neighbouring"),
    ("aaaabbbbccccddddeeeeffffgggghhhhiiii", "runs of repeated or neighbouring"),
    ("Change-Me-Please-This-Is-Not-Random-At-All", "placeholder (it holds 'changeme')"),
    ("my chatd secret for the token signing 2024", "placeholder (it holds 'secret')"),
    ("the-default-key-of-our-staging-servers-xyz", "placeholder (it holds 'default')"),
    ("Password1Password2Password3Password4", "placeholder (it holds 'password')"),
    ("chatd" * 7 + "!", "mostly repetition"),
    ("test" * 9 + "1", "mostly repetition"),
    ("AbCd" * 8 + "X", "mostly repetition"),
    ("Tr0ub4dor&3" * 3 + "xx", "mostly repetition"),
])
def test_weak_secrets_are_refused_saying_why(secret, why):
    problem = secret_problem(secret.encode())
    assert problem and why in problem and "openssl rand -hex 32" in problem, problem


@pytest.mark.parametrize("secret", [PARAMETERS.randbytes(16).hex(), PARAMETERS.randbytes(32).hex(),
                                    base64.urlsafe_b64encode(PARAMETERS.randbytes(32)).rstrip(b"=").decode(),
                                    base64.b64encode(PARAMETERS.randbytes(33)).decode(),
                                    "correct horse battery staple mountain glacier orbit"])
def test_random_secrets_and_long_passphrases_are_accepted(secret):
    assert secret_problem(secret.encode()) is None
    assert secret_problem(secrets.token_bytes(32)) is None, "a secret file may hold raw random bytes"


async def test_log_level_debug_never_writes_the_secret_to_the_log(tmp_path, caplog):
    """peewee logs each statement with its values at debug: the generated secret among them."""
    logs.set_level("debug")
    caplog.set_level(logging.DEBUG)
    try:
        server = Server(make_config(tmp_path))
        await server.start()
        secret = server.store.secret().hex()
        await server.stop(timeout=5)
    finally:
        logs.set_level("info")
    assert caplog.records, "debug logging was on"
    assert not [r for r in caplog.records if secret in r.getMessage()]


async def test_with_no_secret_configured_each_database_gets_32_random_bytes(tmp_path):
    made = []
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
        server = Server(make_config(tmp_path / name))
        await server.start()
        made.append(server.store.secret())
        await server.stop(timeout=5)
    assert [len(secret) for secret in made] == [SECRET_MIN_BYTES] * 2 and made[0] != made[1]


def test_every_example_secret_in_the_docs_and_the_shipped_config_is_refused():
    """An example is public: whoever copies it signs tokens anyone can forge."""
    texts = [(ROOT / "chatd.yaml").read_text(), *(p.read_text() for p in (ROOT / "docs").glob("*.md"))]
    examples = [m for text in texts for m in re.findall(r'secret: "([^"]+)"', text)]
    assert examples, "the docs show at least one example to refuse"
    for example in examples:
        assert secret_problem(example.encode()), example


def run(*argv: str) -> tuple[int, str, str]:
    import io

    out, err = io.StringIO(), io.StringIO()
    return main(list(argv), {}, out, err), out.getvalue(), err.getvalue()


def write(path: Path, identity: dict) -> Path:
    path.write_text(yaml.safe_dump({"listen": "127.0.0.1:0", "identity": identity}))
    return path


def test_check_config_and_start_refuse_a_weak_secret_naming_the_key(tmp_path):
    config = write(tmp_path / "chatd.yaml", {"secret": "hunter2"})
    for command in ("check-config", "start"):
        code, _, err = run(command, "-c", str(config))
        assert code == ExitStatus.CONFIG, (command, err)
        assert "key 'identity.secret': is 7 bytes long; at least 32 are needed" in err, err
    write(config, {"secret": STRONG})
    assert run("check-config", "-c", str(config))[0] == ExitStatus.OK


def test_the_secret_may_come_from_a_file_which_is_checked_the_same(tmp_path):
    config = tmp_path / "chatd.yaml"
    secret_file = tmp_path / "secret"
    secret_file.write_text(STRONG + "\n")  # what `openssl rand -hex 32 > secret` writes
    write(config, {"secret_file": "secret"})  # relative to the config file
    assert run("check-config", "-c", str(config))[0] == ExitStatus.OK
    secret_file.write_text("changeme" * 4)
    code, _, err = run("check-config", "-c", str(config))
    assert code == ExitStatus.CONFIG and f"key 'identity.secret_file': the secret in {secret_file} repeats" in err
    secret_file.unlink()
    code, _, err = run("check-config", "-c", str(config))
    assert code == ExitStatus.CONFIG and f"key 'identity.secret_file': cannot read {secret_file}" in err
    write(config, {"secret_file": "secret", "secret": STRONG})
    code, _, err = run("check-config", "-c", str(config))
    assert code == ExitStatus.CONFIG and "both set: keep one" in err


async def test_tokens_hold_across_a_restart_with_the_same_secret_and_a_new_secret_signs_everyone_out(tmp_path):
    async def identify(identity: dict, **fields: str) -> dict:
        """Start a server with these identity settings on the same database, identify once, stop."""
        server = Server(make_config(tmp_path, identity=identity))
        await server.start()
        try:
            async with ChatClient.connect(f"ws://127.0.0.1:{server.port}/ws") as client:
                return await client.identify(**fields)
        finally:
            await server.stop(timeout=5)

    (tmp_path / "secret").write_text(STRONG)
    token = (await identify({"secret_file": str(tmp_path / "secret")}, name="alice"))["token"]
    assert (await identify({"secret": STRONG}, token=token))["type"] == "welcome", "the same secret, inline"
    refused = await identify({"secret": secrets.token_hex(32)}, token=token)
    assert refused["code"] == "bad_token" and "signature" in refused["message"]


async def test_reload_with_a_weak_secret_keeps_the_running_config_and_says_why(chatd_install: Chatd):
    d = chatd_install
    d.config["identity"] = {"secret": STRONG}
    d.write_config()
    assert d.start().returncode == 0
    async with ChatClient.connect(d.ws_url) as alice:
        token = (await alice.identify(name="alice"))["token"]
        d.config["identity"] = {"secret": "changeme"}
        d.write_config()
        result = await asyncio.to_thread(d.cli, "reload")
        assert result.returncode == ExitStatus.CONFIG
        assert "reload refused" in result.stderr and "key 'identity.secret': is 8 bytes long" in result.stderr
        assert "key 'identity.secret'" in d.log(), "the reason is in the log too"
        assert (await alice.request("rooms"))["type"] == "rooms", "the connection carries on"
        d.config["identity"] = {"secret": secrets.token_hex(32)}  # strong, but a new secret takes a restart
        d.write_config()
        result = await asyncio.to_thread(d.cli, "reload")
        assert result.returncode == 0 and "identity.secret" in result.stdout.split("chatd restart")[1]
    async with ChatClient.connect(d.ws_url) as again:
        assert (await again.identify(token=token))["type"] == "welcome", "the running secret is still the old one"

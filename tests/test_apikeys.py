"""chatd apikey create|list|revoke against the configured database, and the key format."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

from chatd.auth.apikeys import KeyRefused, digest, new_key, parse_bearer
from chatd.cli import main
from tests.stores import new_user, opened
from tests.test_care_commands import run as care_run


def run(tmp_path, *argv):
    out, err = io.StringIO(), io.StringIO()
    (tmp_path / "chatd.yaml").write_text(f"database: {tmp_path / 'chatd.db'}\n")
    # -c last, as every other command takes it (it may come right after `apikey` too: a test below)
    status = main([*argv, "-c", str(tmp_path / "chatd.yaml")], {}, out, err)
    return status, out.getvalue(), err.getvalue()


def test_a_key_is_printed_once_stored_hashed_listed_and_revoked(tmp_path):
    status, out, err = run(tmp_path, "apikey", "create", "shop", "--scope", "publish", "--scope", "read")
    assert status == 0 and "only time" in err
    key = out.strip()
    public_id, secret = parse_bearer(f"Bearer {key}")
    assert secret not in (tmp_path / "chatd.db").read_bytes().decode("latin-1")
    assert digest(secret).encode() in (tmp_path / "chatd.db").read_bytes()
    status, out, _ = run(tmp_path, "apikey", "list", "--json")
    [row] = json.loads(out)
    assert row["name"] == "shop" and row["id"] == public_id and row["scopes"] == ["publish", "read"]
    assert row["revoked"] is None and secret not in out
    assert run(tmp_path, "apikey", "create", "shop", "--scope", "read")[0] == 1  # names are unique
    assert run(tmp_path, "apikey", "revoke", public_id)[0] == 0
    assert json.loads(run(tmp_path, "apikey", "list", "--json")[1])[0]["revoked"] is not None
    assert run(tmp_path, "apikey", "revoke", "nobody")[0] == 1


def test_the_config_may_come_before_the_action_too(tmp_path):
    run(tmp_path, "apikey", "create", "shop", "--scope", "read")
    out, err = io.StringIO(), io.StringIO()
    assert main(["apikey", "-c", str(tmp_path / "chatd.yaml"), "list", "--json"], {}, out, err) == 0
    assert [row["name"] for row in json.loads(out.getvalue())] == ["shop"]


def test_bad_names_scopes_and_users_are_refused(tmp_path):
    assert run(tmp_path, "apikey", "create", "bad name", "--scope", "read")[0] == 2
    assert run(tmp_path, "apikey", "create", "x", "--scope", "root")[0] == 2
    status, _, err = run(tmp_path, "apikey", "create", "bot", "--scope", "publish", "--user", "77")
    assert status == 1 and "no user 77" in err


def test_bearer_parsing_refuses_what_is_not_a_key():
    key, public_id, _ = new_key()
    assert parse_bearer(f"bearer {key}")[0] == public_id
    for header in (None, "", key, f"Basic {key}", f"Bearer {key}x", "Bearer chatd__", f"Bearer  {key} x"):
        try:
            parse_bearer(header)
        except KeyRefused:
            continue
        raise AssertionError(f"accepted {header!r}")


def test_a_key_whose_one_showing_cannot_be_written_is_not_created(tmp_path):
    """`chatd apikey create ... > /dev/full`, `| (reader gone)` or `>&-`: the secret is shown nowhere,
    so no key is left that nobody can use, and its name stays free."""
    (tmp_path / "chatd.yaml").write_text(f"database: {tmp_path / 'chatd.db'}\n")
    argv = [sys.executable, "-m", "chatd", "apikey", "create", "shop", "--scope", "read",
            "-c", str(tmp_path / "chatd.yaml")]
    read_end, write_end = os.pipe()
    os.close(read_end)
    with open("/dev/full", "w") as full:
        outcomes = [subprocess.run(argv, stdout=write_end, stderr=subprocess.PIPE, timeout=60),
                    subprocess.run(argv, stdout=full, stderr=subprocess.PIPE, timeout=60),
                    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60,
                                   preexec_fn=lambda: os.close(1))]
    os.close(write_end)
    answers = [(o.returncode, b"Traceback" in o.stderr, b"created" in o.stderr) for o in outcomes]
    assert answers == [(1, False, False)] * 3
    assert json.loads(run(tmp_path, "apikey", "list", "--json")[1]) == []
    assert run(tmp_path, "apikey", "create", "shop", "--scope", "read")[0] == 0


async def test_a_key_is_not_bound_to_a_deleted_user(tmp_path, store_url):
    """A deleted user is kept as a row (kind "deleted"), but nothing acts as it: no key is bound to it."""
    store = opened(store_url)
    try:
        user = await new_user(store, "gone")
    finally:
        store.close()
    assert care_run(tmp_path, store_url, "user", "delete", str(user), "--yes")[0] == 0
    status, out, err = care_run(tmp_path, store_url, "apikey", "create", "ghost", "--scope", "publish",
                                "--user", str(user))
    assert status == 1 and f"user {user} was deleted" in err and "chatd_" not in out
    assert json.loads(care_run(tmp_path, store_url, "apikey", "list", "--json")[1]) == [], "no key was made"

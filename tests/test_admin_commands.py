"""``chatd admin create|list|remove|passwd`` on the configured database, SQLite and PostgreSQL,
run in-process as the console script runs it."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from chatd.cli import main
from chatd.store import open_store
from chatd.store.schema import AdminSession
from tests.stores import opened


@pytest.fixture
def config_file(tmp_path: Path, store_url: str) -> Path:
    path = tmp_path / "chatd.yaml"
    path.write_text(f"database: {json.dumps(store_url)}\n")
    return path


def run(config_file: Path, *argv: str, stdin: str = "") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("sys.stdin", io.StringIO(stdin))
        status = main(["admin", *argv, "-c", str(config_file)], {}, out, err)
    return status, out.getvalue(), err.getvalue()


def listed(config_file: Path) -> list[dict]:
    status, out, _ = run(config_file, "list", "--json")
    assert status == 0
    return json.loads(out)


def test_a_name_that_looks_like_an_accounts_is_refused_naming_it(config_file):
    assert run(config_file, "create", "admin", "--password-stdin", stdin="a long password\n")[0] == 0
    status, _, err = run(config_file, "create", "\u0430dmin", "--password-stdin", stdin="a long password\n")
    assert status == 1 and err.strip() == ("chatd: admin create: the name '\u0430dmin' looks like the admin account "
                                           "'admin', which exists: choose another")
    assert [a["name"] for a in listed(config_file)] == ["admin"]


async def test_create_list_passwd_remove(config_file, store_url):
    assert run(config_file, "create", "Root", "--password-stdin", stdin="a long password\n")[0] == 0
    status, _, err = run(config_file, "create", "root", "--password-stdin", stdin="a long password\n")
    assert status == 1 and "exists" in err
    assert [(a["name"], a["sessions"]) for a in listed(config_file)] == [("Root", 0)]
    store = opened(store_url)
    try:
        account = (await store.admins.account("root"))[0]
        for token in ("s1", "s2"):
            await store.admins.open_session({"token_hash": token, "csrf": "c", "account": account, "created": 1,
                                             "seen": 1}, oldest=0, idle_oldest=0)
        status, out, _ = run(config_file, "passwd", "ROOT", "--password-stdin", stdin="another password\n")
        assert status == 0 and "2 session(s) ended" in out
        assert await store.read(lambda: AdminSession.select().count(store.db)) == 0
        assert run(config_file, "remove", "root")[0] == 0 and listed(config_file) == []
        status, _, err = run(config_file, "remove", "root")
        assert status == 1 and "no admin account 'root'" in err
        actions = [(r["action"], r["actor"]["kind"]) for r in (await store.audit.page(None, 9)).rows]
        assert actions == [("admin.remove", "cli"), ("admin.passwd", "cli"), ("admin.create", "cli")]
    finally:
        store.close()


@pytest.mark.parametrize("argv,stdin,problem", [
    (("create", "r o o t", "--password-stdin"), "a long password\n", "may hold only"),
    (("create", "root", "--password-stdin"), "short\n", "at least 10 characters"),
    (("create", "root", "--password-stdin"), "\n", "at least 10 characters"),
    (("passwd", "nobody", "--password-stdin"), "a long password\n", "no admin account"),
])
def test_refusals_say_why(config_file, store_url, argv, stdin, problem):
    open_store(store_url, shared=True, synchronous="normal", batch_max=512).ensure_schema()  # a database there
    status, _, err = run(config_file, *argv, stdin=stdin)
    assert status == 1 and problem in err


@pytest.mark.parametrize("answers,ok", [(["a long password", "a long password"], True),
                                        (["a long password", "a long passwort"], False)])
def test_the_password_is_asked_twice(config_file, monkeypatch, answers, ok):
    given = iter(answers)
    monkeypatch.setattr("getpass.getpass", lambda prompt: next(given))
    status, _, err = run(config_file, "create", "root")
    assert (status == 0) == ok and (ok or "differ" in err)

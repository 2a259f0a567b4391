"""Stores of both kinds for the store tests: ``any_store`` runs a test once on
SQLite and once on PostgreSQL (marked ``postgres``).

    async def test_x(any_store): ...      # an open store, closed after the test
    async def test_y(store_url): ...      # its URL (an SQLite path or a postgresql:// URL), to open by hand
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from chatd.store import Draft, Store, Stored, open_store

KINDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=KINDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return request.getfixturevalue("postgres_url") if request.param == "postgres" else str(tmp_path / "chatd.db")


def set_back(path: str, before: int, *undo: str) -> None:
    """Make the SQLite database at ``path`` as the chatd of schema version ``before`` left it:
    run the ``undo`` statements (the later tables dropped, columns removed), set the version."""
    with sqlite3.connect(path) as db:
        for sql in undo:
            db.execute(sql)
        db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(before),))
    db.close()


def migrations_until(monkeypatch: pytest.MonkeyPatch, step: str) -> int:
    """Make this chatd's schema end at the migration step named ``step`` (later steps, other
    issues' tables, left out), for a test that opens a database from just before it; → the
    version before that step."""
    from chatd.store import migrations

    names = [m.__name__ for m in migrations.MIGRATIONS]
    end = names.index(step) + 1
    monkeypatch.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:end])
    monkeypatch.setattr(migrations, "SCHEMA_VERSION", end + 1)
    return end


def opened(url: str, shared: bool = False) -> Store:
    store = open_store(url, shared=shared, synchronous="normal", batch_max=512)
    store.open(asyncio.get_running_loop())
    return store


@pytest.fixture
async def any_store(store_url: str) -> AsyncIterator[Store]:
    store = opened(store_url)
    yield store
    store.close()


async def new_user(store: Store, name: str) -> int:
    """A new user (with its first sign-in, as identify makes one); → its id."""
    return (await store.sign_ins.sign_up(name)).user_id


def save(store: Store, draft: Draft) -> asyncio.Future[Stored]:
    """``store.save_message`` as an awaitable."""
    future = asyncio.get_running_loop().create_future()
    store.save_message(draft, lambda result, error: future.set_exception(error) if error else future.set_result(result))
    return future

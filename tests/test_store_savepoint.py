"""chatd.store.savepoint: a writer job's writes that go together are all
stored or none, and a job whose writes were undone leaves the batch's other
jobs stored, on SQLite and PostgreSQL."""

from __future__ import annotations

import time

import pytest

from chatd.store.savepoint import OneChange

ADD = 'INSERT INTO "user" (name, created, kind) VALUES (?, ?, ?)'
COUNT = 'SELECT count(*) FROM "user" WHERE name = ?'


def two_users(store, first: str, second: str | None):
    """A job adding the user ``first``, then ``second`` (None: a statement that fails), as one change."""
    def job() -> None:
        with OneChange(store.db):
            store.db.execute_sql(store._q(ADD), (first, int(time.time() * 1000), "guest"))
            if second is None:
                store.db.execute_sql("SELECT no_such_column FROM meta")
            store.db.execute_sql(store._q(ADD), (second, int(time.time() * 1000), "guest"))
    return job


async def count(store, name: str) -> int:
    return await store.writer.run(lambda: store.db.execute_sql(store._q(COUNT), (name,)).fetchone()[0])


async def test_a_change_is_all_stored_or_none_and_the_batch_goes_on(any_store):
    store = any_store
    # Submitted in one pass: the writer runs them in one transaction.
    failing = store.writer.run(two_users(store, "ann", None))
    stored = store.writer.run(two_users(store, "bea", "cy"))
    with pytest.raises(Exception, match="no_such_column"):
        await failing
    await stored
    assert [await count(store, n) for n in ("ann", "bea", "cy")] == [0, 1, 1]


async def test_one_change_inside_another_is_undone_alone(any_store):
    store = any_store

    def job() -> None:
        with OneChange(store.db):
            two_users(store, "dee", "eve")()
            with pytest.raises(Exception, match="no_such_column"):
                two_users(store, "fay", None)()
            store.db.execute_sql(store._q(ADD), ("gus", int(time.time() * 1000), "guest"))

    await store.writer.run(job)
    assert [await count(store, n) for n in ("dee", "eve", "fay", "gus")] == [1, 1, 0, 1]

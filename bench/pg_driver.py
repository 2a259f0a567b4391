"""Which PostgreSQL driver for chatd's store: psycopg 3 or asyncpg, on the same server.

Run by hand (under a minute), against a database it may write to (it makes
and drops a table of its own, ``bench_message``, shaped like chatd's):

    python bench/pg_driver.py postgresql://chatd@127.0.0.1:5432/bench

Two figures per driver, each the median of REPEATS runs:
- writes: acknowledged inserts per second from one writer committing in
  groups, as chatd's writer does: BATCH inserts per transaction, each one
  statement whose new id comes back (INSERT … RETURNING id), then COMMIT;
  an insert counts once its transaction has committed;
- reads: pages per second from one connection: PAGE messages of a room
  after a random id, the query of a resume (chatd.store.base ``_page``).

psycopg runs in a thread of its own, as chatd's writer and reader threads
do; asyncpg runs on an asyncio loop of its own, as it must.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time

import asyncpg
import psycopg

BATCH = 64  # inserts per transaction: a busy writer's batch
WRITES = 4000  # inserts per run
READS = 2000  # pages per run
PAGE = 50  # messages per page
ROOMS = 10
PREFILL = 20_000  # messages present before the reads
REPEATS = 3

SCHEMA = """
DROP TABLE IF EXISTS bench_message;
CREATE TABLE bench_message (id BIGSERIAL PRIMARY KEY, room_id BIGINT NOT NULL, sender_id BIGINT NOT NULL,
    sender_name TEXT NOT NULL, text TEXT NOT NULL, ts BIGINT NOT NULL, cid TEXT);
CREATE INDEX bench_message_room_id_id ON bench_message (room_id, id);
CREATE UNIQUE INDEX bench_message_sender_cid ON bench_message (sender_id, cid);
"""
INSERT = ("INSERT INTO bench_message (room_id, sender_id, sender_name, text, ts, cid) VALUES ({}, {}, {}, {}, {}, {}) "
          "ON CONFLICT (sender_id, cid) DO NOTHING RETURNING id")
PAGE_QUERY = ("SELECT id, room_id, sender_id, sender_name, text, ts FROM bench_message "
              "WHERE room_id = {} AND id > {} ORDER BY id LIMIT {}")
TEXT = "a message of an ordinary length, some forty to eighty characters"


def rows(n: int, seed: int) -> list[tuple]:
    rng = random.Random(seed)
    return [(rng.randrange(ROOMS), rng.randrange(1000), "someone", TEXT, int(time.time() * 1000), f"{seed}-{i}")
            for i in range(n)]


def psycopg_writes(url: str, data: list[tuple]) -> float:
    with psycopg.connect(url) as conn:
        sql = INSERT.format(*["%s"] * 6)
        start = time.perf_counter()
        for at in range(0, len(data), BATCH):
            with conn.transaction():
                for row in data[at:at + BATCH]:
                    conn.execute(sql, row).fetchone()
        return len(data) / (time.perf_counter() - start)


def psycopg_reads(url: str, cursors: list[tuple[int, int]]) -> float:
    with psycopg.connect(url, autocommit=True) as conn:
        sql = PAGE_QUERY.format("%s", "%s", "%s")
        start = time.perf_counter()
        for room, after in cursors:
            conn.execute(sql, (room, after, PAGE)).fetchall()
        return len(cursors) / (time.perf_counter() - start)


async def asyncpg_writes(url: str, data: list[tuple]) -> float:
    conn = await asyncpg.connect(url)
    try:
        sql = INSERT.format(*[f"${i}" for i in range(1, 7)])
        start = time.perf_counter()
        for at in range(0, len(data), BATCH):
            async with conn.transaction():
                for row in data[at:at + BATCH]:
                    await conn.fetchval(sql, *row)
        return len(data) / (time.perf_counter() - start)
    finally:
        await conn.close()


async def asyncpg_reads(url: str, cursors: list[tuple[int, int]]) -> float:
    conn = await asyncpg.connect(url)
    try:
        sql = PAGE_QUERY.format("$1", "$2", "$3")
        start = time.perf_counter()
        for room, after in cursors:
            await conn.fetch(sql, room, after, PAGE)
        return len(cursors) / (time.perf_counter() - start)
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("url", help="postgresql://… a database the benchmark may write to")
    url = parser.parse_args().url
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(SCHEMA)
        with conn.cursor().copy("COPY bench_message (room_id, sender_id, sender_name, text, ts, cid) "
                                "FROM STDIN") as copy:
            for row in rows(PREFILL, seed=0):
                copy.write_row(row)
        conn.execute("ANALYZE bench_message")
    rng = random.Random(1)
    cursors = [(rng.randrange(ROOMS), rng.randrange(PREFILL)) for _ in range(READS)]
    figures: dict[str, list[float]] = {}
    for run in range(REPEATS):
        for name, measure in (
                ("psycopg 3 writes", lambda r=run: psycopg_writes(url, rows(WRITES, seed=10 + r))),
                ("asyncpg writes", lambda r=run: asyncio.run(asyncpg_writes(url, rows(WRITES, seed=20 + r)))),
                ("psycopg 3 reads", lambda: psycopg_reads(url, cursors)),
                ("asyncpg reads", lambda: asyncio.run(asyncpg_reads(url, cursors)))):
            figures.setdefault(name, []).append(measure())
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE bench_message")
    print(f"{'':<18} {'median':>10} {'runs':>30}")
    for name, values in figures.items():
        unit = "inserts/s" if "writes" in name else "pages/s"
        runs = ", ".join(f"{v:,.0f}" for v in values)
        print(f"{name:<18} {statistics.median(values):>10,.0f} {unit:<9} ({runs})")


if __name__ == "__main__":
    main()

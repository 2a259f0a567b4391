"""Search and chat-log latency at 1,000,000 messages (issue 11), on SQLite and PostgreSQL.

Generates a chatd database of mixed Chinese, English and mixed messages of chat-like lengths
(bulk inserts into a temporary database, with the search index's triggers off), builds the index
as the migration ``_v15_search_index`` does (timed: what an upgrade costs), then measures through
the store's own reads (``store.search.find``, the reader pool included):

- search latency p50/p95 per query kind, as a user (their rooms and conversations) and as an admin;
- the admin chat log: its first page, a deep keyset page (``before`` near the oldest rows), and a
  filtered page (one room, a time range).

    python3 bench/search.py                       # SQLite, 1,000,000 messages, in a temp directory
    python3 bench/search.py --messages 100000 --store postgres --postgres-url postgresql://…

Prints a Markdown section for bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chatd.store import open_store  # noqa: E402
from chatd.store.schema import pair_key  # noqa: E402
from chatd.store.search import Filters, Scope  # noqa: E402
from chatd.store.searchindex import create_index  # noqa: E402

SEED = 11
BATCH = 20_000
USERS = 2000
ROOMS = 40
MEMBERS_ONLY_EVERY = 8  # every 8th room is members-only
PRIVATE_SHARE = 0.1
REPEAT = 30  # queries per kind and scope

_CJK = ("今天 明天 昨天 会议 下午 上午 三点 项目 部署 服务器 测试 上线 版本 问题 修复 客户 需求 文档 周末 "
        "吃饭 大家 同事 老板 时间 地点 改到 确认 一下 可以 没有 已经 我们 你们 他们 这个 那个 什么 为什么 怎么 好的 "
        "谢谢 收到 辛苦 马上 稍等 数据 接口 发布 回滚 报警 监控 日志 用户 登录 支付 订单 活动 计划")
CJK_WORDS = _CJK.split()
_EN = ("the a to and of in is it you that for on we this with be are have not but at can what so if "
       "deploy deployed deploying build server release test fix bug meeting tomorrow today lunch "
       "please thanks ok sure review merge branch ticket customer issue login payment order update "
       "docs api database backup monitor alert rollback version weekend coffee later done")
EN_WORDS = _EN.split()
QUERIES = {
    "2-char CJK": ["会议", "部署", "下午", "版本", "回滚"],
    "longer CJK": ["会议改到下午", "今天的会议", "服务器报警", "确认一下版本"],
    "English word": ["deploy", "meeting", "rollback", "customer", "backup"],
    "mixed": ["部署 server", "会议 tomorrow", "release 版本"],
    "no hits": ["xylophone", "鳄鱼", "quantum 鳄鱼"],
}


def text(rng: random.Random) -> str:
    """A chat message: Chinese (half), English (a third) or both, 2-40 words."""
    kind = rng.random()
    n = max(1, int(rng.expovariate(1 / 8)))
    if kind < 0.5:
        words = rng.choices(CJK_WORDS, k=min(n, 30))
        return "".join(words) + rng.choice(("", "。", "！", "？", "，好的"))
    if kind < 0.83:
        return " ".join(rng.choices(EN_WORDS, k=min(n, 40))).capitalize() + rng.choice(("", ".", "!", "?"))
    return "".join(w if rng.random() < 0.5 else f" {rng.choice(EN_WORDS)} " for w in rng.choices(CJK_WORDS, k=n))


def generate(store, total: int) -> None:
    """Users, rooms and ``total`` messages, in bulk, with the search index built afterwards."""
    rng = random.Random(SEED)
    db, q = store.db, store._q
    pg = store.__class__.__name__ == "PostgresStore"
    with db.connection_context():
        for statement in (("DROP TRIGGER message_search ON message", "DROP INDEX message_search",
                           "ALTER TABLE message DROP COLUMN search", "DROP FUNCTION chatd_message_search()",
                           "DROP FUNCTION chatd_search_text(text)") if pg else
                          ("DROP TRIGGER message_search_update", "DROP TRIGGER message_search_delete",
                           "DROP TABLE message_search", "DELETE FROM meta WHERE key = 'search_indexed'")):
            db.execute_sql(statement)
        now = int(time.time() * 1000)
        with db.atomic():
            for uid in range(1, USERS + 1):
                db.execute_sql(q('INSERT INTO "user" (id, name, created) VALUES (?, ?, ?)'), (uid, f"user{uid}", now))
            for rid in range(1, ROOMS + 1):
                db.execute_sql(q("INSERT INTO room (id, name, topic, created, members_only) VALUES (?, ?, '', ?, ?)"),
                               (rid, f"room{rid}", now, rid % MEMBERS_ONLY_EVERY == 0))
                if rid % MEMBERS_ONLY_EVERY == 0:
                    for uid in rng.sample(range(1, USERS + 1), 50):
                        db.execute_sql(q("INSERT INTO room_member (room_id, user_id, source, added) "
                                         "VALUES (?, ?, 'api', ?)"), (rid, uid, now))
        start_ts = now - total * 500  # one message every half second, up to now
        sql = q("INSERT INTO message (room_id, sender_id, sender_name, recipient_id, recipient_name, pair, text, ts) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
        for first in range(0, total, BATCH):
            rows = []
            for i in range(first, min(total, first + BATCH)):
                sender = rng.randint(1, USERS)
                if rng.random() < PRIVATE_SHARE:
                    to = rng.randint(1, USERS)
                    rows.append((None, sender, f"user{sender}", to, f"user{to}", pair_key(sender, to), text(rng),
                                 start_ts + i * 500))
                else:
                    rows.append((rng.randint(1, ROOMS), sender, f"user{sender}", None, None, None, text(rng),
                                 start_ts + i * 500))
            with db.atomic():
                if pg:
                    db.connection().cursor().executemany(sql, rows)
                else:
                    db.connection().executemany(sql, rows)
            print(f"  {first + len(rows):,} messages", end="\r", file=sys.stderr)
        if pg:
            db.execute_sql("SELECT setval('message_id_seq', (SELECT max(id) FROM message))")
        started = time.perf_counter()
        with db.atomic():
            create_index(db, fill=True)
        print(f"\nindex built in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        db.execute_sql("ANALYZE")


async def timed(fn) -> float:
    started = time.perf_counter()
    await fn()
    return (time.perf_counter() - started) * 1000


def pct(samples: list[float], p: float) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[p - 1] if len(samples) > 1 else samples[0]


async def measure(store, total: int) -> list[str]:
    rng = random.Random(SEED + 1)
    lines = ["| query kind | scope | p50 ms | p95 ms |", "|---|---|---:|---:|"]
    for kind, queries in QUERIES.items():
        for scope_name, scope in (("user", None), ("admin", Scope())):
            samples = []
            for n in range(REPEAT):
                who = scope or Scope(viewer=rng.randint(1, USERS))
                query = queries[n % len(queries)]
                samples.append(await timed(lambda who=who, query=query: store.search.find(
                    who, Filters(text=query), None, 20)))
            lines.append(f"| {kind} | {scope_name} | {pct(samples, 50):.1f} | {pct(samples, 95):.1f} |")
    newest = store.newest_id
    log = ["| chat log page (50 rows) | p50 ms | p95 ms |", "|---|---:|---:|"]
    pages = {
        "first page": lambda: store.search.find(Scope(), Filters(), None, 50),
        "deep keyset page (before = 1% of the ids)": lambda: store.search.find(Scope(), Filters(), newest // 100, 50),
        "one room, first page": lambda: store.search.find(Scope(), Filters(room_id=3), None, 50),
        "one room, deep page": lambda: store.search.find(Scope(), Filters(room_id=3), newest // 100, 50),
        "one author, first page": lambda: store.search.find(Scope(), Filters(senders=(7,)), None, 50),
        "an hour a day back": lambda: store.search.find(Scope(), Filters(
            since=int(time.time() * 1000) - 86_400_000, until=int(time.time() * 1000) - 82_800_000), None, 50),
    }
    for name, page in pages.items():
        samples = [await timed(page) for _ in range(REPEAT)]
        log.append(f"| {name} | {pct(samples, 50):.1f} | {pct(samples, 95):.1f} |")
    return [f"{total:,} messages.", "", *lines, "", *log, "", *await plans(store, newest)]


async def plans(store, newest: int) -> list[str]:
    """The query plans of a search and of the chat log's pages: each should walk an index."""
    pg = store.__class__.__name__ == "PostgresStore"
    cases = {"search (user)": (Scope(viewer=5), Filters(text="会议"), None),
             "log, first page": (Scope(), Filters(), None), "log, deep page": (Scope(), Filters(), newest // 100),
             "log, one room": (Scope(), Filters(room_id=3), newest // 100),
             "log, one author": (Scope(), Filters(senders=(7,)), None)}

    def explain() -> list[str]:
        out = ["```"]
        for name, (scope, f, before) in cases.items():
            sql, args = store.search._query(scope, f, f.phrases(), before, 51)
            rows = store.db.execute_sql(store._q(("EXPLAIN " if pg else "EXPLAIN QUERY PLAN ") + sql), args)
            out += [f"-- {name}", *(str(r[-1]) for r in rows.fetchall())]
        return [*out, "```"]

    return await store.read(explain)


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--messages", type=int, default=1_000_000)
    p.add_argument("--store", choices=("sqlite", "postgres"), default="sqlite")
    p.add_argument("--postgres-url", help="an empty PostgreSQL database (with --store postgres)")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.postgres_url if args.store == "postgres" else str(Path(tmp) / "bench.db")
        store = open_store(url, shared=False, synchronous="normal", batch_max=512)
        store.open(asyncio.get_running_loop())
        try:
            store.search.indexer.stop()  # generate() writes directly and indexes all at once
            store.writer.close()
            started = time.perf_counter()
            generate(store, args.messages)
            print(f"generated in {time.perf_counter() - started:.0f} s", file=sys.stderr)
            store.newest_id = await store.newest(at_least=args.messages)
            print(f"\n### {args.store}\n")
            print("\n".join(await measure(store, args.messages)))
        finally:
            store.close()


if __name__ == "__main__":
    asyncio.run(main())

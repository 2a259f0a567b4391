"""Token buckets on a real Redis (chatd/cluster/limits.py): the takes of one loop
pass go to Redis together, and each is answered as if taken on its own, in order."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as redis

from chatd.cluster.limits import BATCH_MAX, SharedBuckets
from chatd.cluster.shared import POOL_MAX

pytestmark = pytest.mark.redis

TAKEN = (0.0, -1)


async def script_calls(url: str) -> int:
    """Script calls (EVALSHA, EVAL) Redis has run since it started."""
    client = redis.Redis.from_url(url)
    try:
        stats = await client.info("commandstats")
    finally:
        await client.aclose()
    return sum(v["calls"] for k, v in stats.items() if k in ("cmdstat_evalsha", "cmdstat_eval"))


async def test_the_takes_of_one_pass_are_answered_in_order_in_one_call_per_batch(shared_redis, redis_server):
    buckets = SharedBuckets(shared_redis)
    await buckets.take([("warm-up", 1, 1)])  # loads the script: the counts below are the takes' own
    before = await script_calls(redis_server.url)
    asked = BATCH_MAX + 44
    answers = await asyncio.gather(*(buckets.take([("user:1", 0.01, 5)]) for _ in range(asked)))
    assert answers[:5] == [TAKEN] * 5, "the first five asked get the burst's five tokens"
    assert all(wait > 0 and which == 0 for wait, which in answers[5:])
    assert await script_calls(redis_server.url) - before == 2, "one script call per BATCH_MAX takes"


async def test_a_take_is_all_or_none_within_a_batch(shared_redis):
    buckets = SharedBuckets(shared_redis)
    user, address = ("user:7", 0.01, 2), ("message:203.0.113.9", 0.01, 1)
    answers = await asyncio.gather(
        buckets.take([user, address]),  # both have a token: taken from both
        buckets.take([user, address]),  # the address's is empty: nothing taken, not even the user's
        buckets.take([user]),  # so the user's second token is still there
        buckets.take([user]),
    )
    assert answers[0] == TAKEN and answers[2] == TAKEN
    assert answers[1][0] > 0 and answers[1][1] == 1, "the second bucket (the address's) was the empty one"
    assert answers[3][0] > 0 and answers[3][1] == 0


async def test_an_asker_gone_before_the_answer_leaves_the_others_answered(shared_redis):
    buckets = SharedBuckets(shared_redis)
    first, gone, last = (buckets.take([("user:9", 0.01, 3)]) for _ in range(3))
    gone.cancel()
    assert await first == TAKEN and await last == TAKEN


async def test_every_take_falls_back_when_redis_is_out(shared_redis, redis_server):
    redis_server.stop()
    buckets = SharedBuckets(shared_redis)
    answers = await asyncio.gather(*(buckets.take([("user:1", 1, 1)]) for _ in range(3)))
    assert answers == [None, None, None], "None: each caller takes from its own buckets instead"


async def test_more_calls_at_once_than_connections_wait_for_one_rather_than_fail(shared_redis, caplog):
    answers = await asyncio.gather(*(shared_redis.run("pinging", lambda client: client.ping())
                                     for _ in range(4 * POOL_MAX + 150)))  # past redis-py's default pool too
    assert all(answers), "None would mean Redis was taken for out"
    assert not [r for r in caplog.records if "Redis failed" in r.message]

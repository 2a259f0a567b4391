"""Name claims on a real Redis (chatd/cluster/names.py): the claims of one loop
pass go in one script call and are made in the order asked."""

from __future__ import annotations

import asyncio

import pytest

from chatd.cluster.names import Claim, NameClaims
from tests.test_cluster_limits import script_calls

pytestmark = pytest.mark.redis


async def test_claims_of_one_pass_go_together_and_the_first_asked_wins(shared_redis, redis_server):
    claims = NameClaims(shared_redis, lambda: "db1")
    await claims.claim(99, "warm-up", 60)  # loads the script: the count below is the claims' own
    before = await script_calls(redis_server.url)
    answers = await asyncio.gather(
        claims.claim(1, "Mark", 60),
        claims.claim(2, "mark", 60),  # looks alike: Mark's now
        claims.claim(3, "Anna", 60),
        claims.claim(1, "MARK", 60),  # Mark's own user: not refused
        claims.claim(2, "mark", 60, vouched=True),  # the web app's word: taken whoever holds it
        claims.claim(3, "Mark", 60),  # user 2's now
    )
    assert answers[0] is None and answers[2] is None and answers[3] is None and answers[4] is None
    assert answers[1].user_id == 1 and answers[1].name == "Mark" and 0 < answers[1].seconds_left <= 60
    assert isinstance(answers[5], Claim) and answers[5].user_id in (1, 2), "held by the users before it"
    assert await script_calls(redis_server.url) - before == 1, "one script call for the pass"


async def test_keep_renews_only_the_users_own_claims(shared_redis):
    claims = NameClaims(shared_redis, lambda: "db1")
    assert await claims.claim(1, "Zoe", 60) is None
    await claims.keep([(1, "Zoe"), (2, "Zoe")], 600)  # user 2's keep does nothing: not its name
    held = await claims.claim(2, "zoe", 60)
    assert held.user_id == 1 and held.seconds_left > 60, "user 1's claim, renewed to 600 s"


async def test_a_new_database_does_not_see_the_names_held_for_the_users_of_the_one_before(shared_redis):
    assert await NameClaims(shared_redis, lambda: "db1").claim(1, "Mark", 60) is None
    assert await NameClaims(shared_redis, lambda: "db1").claim(2, "mark", 60) is not None
    # Made anew (or restored: a new epoch) against the same Redis: user 2 there is someone else.
    assert await NameClaims(shared_redis, lambda: "db2").claim(2, "mark", 60) is None

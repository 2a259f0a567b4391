"""Token buckets, alone and in a table by key whose memory stays bounded."""

from __future__ import annotations

import pytest

from chatd.ratelimit import BucketTable, TokenBucket


def test_a_bucket_allows_its_burst_then_its_rate():
    bucket = TokenBucket(rate=2, burst=3)
    assert [bucket.take(now=0.0) for _ in range(4)] == [True, True, True, False]
    assert bucket.wait(0.0) == pytest.approx(0.5)
    assert not bucket.take(now=0.4)
    assert bucket.take(now=0.5)
    assert not bucket.full(0.5) and bucket.full(0.5 + 3 / 2)


def test_a_table_refuses_per_key_and_says_how_long_to_wait():
    table = BucketTable(max_keys=100)
    assert [table.take("a", rate=1, burst=2, now=0.0) for _ in range(3)] == [0.0, 0.0, pytest.approx(1.0)]
    assert table.take("b", rate=1, burst=2, now=0.0) == 0.0  # another key: its own bucket
    assert table.take("a", rate=1, burst=2, now=1.0) == 0.0


def test_a_rate_changed_live_applies_to_a_bucket_that_exists():
    table = BucketTable(max_keys=100)
    assert table.take("a", rate=1, burst=1, now=0.0) == 0.0
    assert table.take("a", rate=1, burst=1, now=0.5) > 0
    assert table.take("a", rate=100, burst=1, now=0.6) == 0.0  # a reload raised the rate


def test_idle_buckets_are_forgotten_as_takes_go_by():
    table = BucketTable(max_keys=1_000_000)
    for i in range(1000):
        table.take(f"10.0.{i // 256}.{i % 256}", rate=10, burst=5, now=0.0)
    assert len(table) == 1000
    # Half a second later every bucket has refilled: it is the same as no bucket at all.
    for i in range(500):
        table.take(f"10.1.{i // 256}.{i % 256}", rate=10, burst=5, now=0.5 + i * 1e-6)
    assert len(table) == 500


def test_many_keys_never_hold_more_than_max_keys():
    """An attacker with a million addresses (IPv6 /64s are cheap) costs max_keys buckets."""
    table = BucketTable(max_keys=1000)
    for i in range(20_000):
        table.take(str(i), rate=0.001, burst=2, now=0.0)  # slow refill: none is idle
        assert len(table) <= 1000
    # The most recent keys are the ones kept: a key in use keeps its state.
    assert table.take("19999", rate=0.001, burst=2, now=0.0) == 0.0
    assert table.take("19999", rate=0.001, burst=2, now=0.0) > 0

"""Resume tokens and rate limiting: small pure pieces."""

from __future__ import annotations

import pytest

from chatd.ratelimit import TokenBucket
from chatd.tokens import BadToken, TokenSigner


def test_token_round_trip_and_expiry():
    signer = TokenSigner(b"s" * 32, ttl_seconds=100)
    token = signer.issue(42, now=1000)
    assert signer.verify(token, now=1099) == 42
    with pytest.raises(BadToken, match="expired"):
        signer.verify(token, now=1101)


@pytest.mark.parametrize("tamper", [lambda t: "43" + t[2:], lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),
                                    lambda t: t.replace(".", "", 1), lambda t: "", lambda t: "²." + t[3:],
                                    lambda t: t + "é", lambda t: t[:-1] + "\x00"])
def test_tampered_tokens_are_refused(tamper):
    signer = TokenSigner(b"s" * 32, ttl_seconds=100)
    with pytest.raises(BadToken):
        signer.verify(tamper(signer.issue(42, now=1000)), now=1000)


def test_other_secret_is_refused():
    token = TokenSigner(b"a" * 32, 100).issue(1)
    with pytest.raises(BadToken, match="signature"):
        TokenSigner(b"b" * 32, 100).verify(token)


def test_bucket_allows_burst_then_refills():
    bucket = TokenBucket(rate=2, burst=3)
    assert [bucket.take(now=10.0) for _ in range(4)] == [True, True, True, False]
    assert bucket.take(now=10.5) is True  # half a second at 2/s: one token
    assert bucket.take(now=10.5) is False
    assert [bucket.take(now=100.0) for _ in range(4)] == [True, True, True, False]  # never above burst

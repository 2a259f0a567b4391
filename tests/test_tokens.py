"""Resume tokens and rate limiting: small pure pieces."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from chatd.epoch import PRE_EPOCH
from chatd.ratelimit import TokenBucket
from chatd.tokens import BadToken, Claim, TokenSigner


def test_token_round_trip_and_expiry():
    signer = TokenSigner(b"s" * 32, ttl_seconds=100)
    token = signer.issue(42, "e1", now=1000)
    assert signer.verify(token, now=1099) == Claim(42, "e1")
    with pytest.raises(BadToken, match="expired"):
        signer.verify(token, now=1101)


@pytest.mark.parametrize("tamper", [lambda t: "43" + t[2:], lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),
                                    lambda t: t.replace(".", "", 1), lambda t: "", lambda t: "²." + t[3:],
                                    lambda t: t + "é", lambda t: t[:-1] + "\x00",
                                    lambda t: t.replace(".e1.", ".e2."), lambda t: t.replace(".e1.", ".."),
                                    lambda t: t.replace(".e1.", "."), lambda t: t.replace(".e1.", ".é."),
                                    lambda t: t.replace(".e1.", ".e1.e1.")])
def test_tampered_tokens_are_refused(tamper):
    signer = TokenSigner(b"s" * 32, ttl_seconds=100)
    with pytest.raises(BadToken):
        signer.verify(tamper(signer.issue(42, "e1", now=1000)), now=1000)


def test_other_secret_is_refused():
    token = TokenSigner(b"a" * 32, 100).issue(1, "e1")
    with pytest.raises(BadToken, match="signature"):
        TokenSigner(b"b" * 32, 100).verify(token)


def test_a_token_from_before_epochs_is_read_with_the_pre_epoch():
    """chatd before epochs signed <user>.<issued> alone; those tokens stay readable."""
    body = "7.1000"
    digest = hmac.new(b"s" * 32, body.encode(), hashlib.sha256).digest()
    legacy = f"{body}.{base64.urlsafe_b64encode(digest).rstrip(b'=').decode()}"
    assert TokenSigner(b"s" * 32, 100).verify(legacy, now=1000) == Claim(7, PRE_EPOCH)


def test_bucket_allows_burst_then_refills():
    bucket = TokenBucket(rate=2, burst=3)
    assert [bucket.take(now=10.0) for _ in range(4)] == [True, True, True, False]
    assert bucket.take(now=10.5) is True  # half a second at 2/s: one token
    assert bucket.take(now=10.5) is False
    assert [bucket.take(now=100.0) for _ in range(4)] == [True, True, True, False]  # never above burst

"""Resume tokens (chatd.auth.tokens) and rate limiting: small pure pieces."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st
from itsdangerous import URLSafeSerializer

from chatd.auth.tokens import CLOCK_SKEW, RESUME, BadToken, Claim, TokenSigner, serializer
from chatd.epoch import PRE_EPOCH
from chatd.ratelimit import TokenBucket

SECRET = b"s" * 32


def signer(ttl: float = 100, purpose: str = RESUME) -> TokenSigner:
    return TokenSigner(SECRET, ttl_seconds=ttl, purpose=purpose)


def test_token_round_trip_and_expiry():
    token = signer().issue(42, "e1", sign_in=7, generation=3, now=1000)
    assert signer().verify(token, now=1099) == Claim(42, "e1", 7, 3, 1000)
    with pytest.raises(BadToken, match="expired") as refused:
        signer().verify(token, now=1101)
    assert refused.value.why.fields == {"cause": "expired"}, "a bad_token error's cause (docs/protocol.md)"


def test_a_token_from_the_future_is_refused_beyond_the_clock_skew():
    token = signer().issue(42, "e1", 7, 0, now=1000 + CLOCK_SKEW)
    assert signer().verify(token, now=1000).issued == 1000 + CLOCK_SKEW, "within the skew: a clock stepped back"
    ahead = signer().issue(42, "e1", 7, 0, now=1001 + CLOCK_SKEW)
    with pytest.raises(BadToken, match="in the future"):
        signer().verify(ahead, now=1000)


def test_a_token_made_for_another_purpose_is_refused_and_the_other_way_round():
    """One secret signs every kind of token; a key per purpose keeps them apart."""
    other = signer(purpose="chatd.upload")
    payload = {"u": 42, "e": "e1", "d": 7, "g": 0, "t": 1000}  # exactly what a resume token holds
    for token in (other.issue(42, "e1", 7, 0, now=1000), serializer(SECRET, "chatd.upload").dumps(payload)):
        with pytest.raises(BadToken, match="another purpose"):
            signer().verify(token, now=1000)
    with pytest.raises(BadToken, match="another purpose"):
        other.verify(signer().issue(42, "e1", 7, 0, now=1000), now=1000)
    assert signer().verify(serializer(SECRET, RESUME).dumps(payload), now=1000) == Claim(42, "e1", 7, 0, 1000)


@given(st.integers(0, 2**53), st.text(alphabet="0123456789abcdef", max_size=32), st.integers(0, 2**53),
       st.integers(0, 1000), st.integers(0, 2**40), st.text(max_size=600))
def test_tokens_are_the_bytes_itsdangerous_makes_and_reads(user_id, epoch, sign_in, generation, issued, extra):
    """chatd's serializer keeps its signer and compresses with less memory (speed); what it
    writes is itsdangerous' own URLSafeSerializer's, byte for byte, and each reads the other's."""
    theirs = URLSafeSerializer(SECRET, salt=RESUME,
                               signer_kwargs={"key_derivation": "hmac", "digest_method": hashlib.sha256})
    ours = serializer(SECRET, RESUME)
    claim = {"u": user_id, "e": epoch, "d": sign_in, "g": generation, "t": issued}
    assert ours.dumps(claim) == theirs.dumps(claim)
    for payload in (claim, {**claim, "x": extra}):
        assert theirs.loads(ours.dumps(payload)) == payload == ours.loads(theirs.dumps(payload))


@given(st.integers(-2, 2**64), st.one_of(st.text(alphabet="0123456789abcdefXYZ", max_size=64), st.text(max_size=8)),
       st.one_of(st.integers(-2, 2**64), st.booleans()), st.integers(0, 1000), st.integers(0, 2**40))
def test_an_issued_token_is_the_one_itsdangerous_makes(user_id, epoch, sign_in, generation, issued):
    """TokenSigner.issue writes a plain claim's JSON itself and signs with a copied keyed HMAC
    (speed); the token is still itsdangerous' own, byte for byte, whatever the claim holds."""
    theirs = URLSafeSerializer(SECRET, salt=RESUME,
                               signer_kwargs={"key_derivation": "hmac", "digest_method": hashlib.sha256})
    claim = {"u": user_id, "e": epoch, "d": sign_in, "g": generation, "t": issued}
    assert signer().issue(user_id, epoch, sign_in, generation, now=issued) == theirs.dumps(claim)


def test_other_secret_is_refused():
    token = TokenSigner(b"a" * 32, 100).issue(1, "e1", 1, 0)
    with pytest.raises(BadToken, match="signature"):
        TokenSigner(b"b" * 32, 100).verify(token)


def _flip(text: str, at: int) -> str:
    return text[:at] + ("A" if text[at] != "A" else "B") + text[at + 1:]


@pytest.mark.parametrize("tamper", [lambda t: _flip(t, 5), lambda t: _flip(t, len(t) - 1), lambda t: t.replace(".", ""),
                                    lambda t: "", lambda t: ".", lambda t: t + ".x", lambda t: t + "é",
                                    lambda t: t[:-1] + "\x00", lambda t: t + "A" * 600, lambda t: "." + t,
                                    lambda t: t.split(".")[0], lambda t: "." + t.split(".")[1]])
def test_tampered_tokens_are_refused(tamper):
    with pytest.raises(BadToken):
        signer().verify(tamper(signer().issue(42, "e1", 7, 0, now=1000)), now=1000)


@pytest.mark.parametrize("payload", [[42, "e1", 7, 0, 1000], {"u": 42, "e": "e1", "d": 7, "g": 0},
                                     {"u": "42", "e": "e1", "d": 7, "g": 0, "t": 1000},
                                     {"u": 42, "e": "é", "d": 7, "g": 0, "t": 1000},
                                     {"u": 42, "e": "", "d": 7, "g": 0, "t": 1000},
                                     {"u": 42, "e": "e1", "d": True, "g": 0, "t": 1000},
                                     {"u": 0, "e": "e1", "d": 7, "g": 0, "t": 1000},
                                     {"u": 42, "e": "e1", "d": 7, "g": -1, "t": 1000},
                                     {"u": 2**63, "e": "e1", "d": 7, "g": 0, "t": 1000}])
def test_a_signed_payload_of_another_shape_is_a_damaged_token(payload):
    """What a chatd of another version might have signed is refused, never half read."""
    with pytest.raises(BadToken, match="damaged"):
        signer().verify(serializer(SECRET, RESUME).dumps(payload), now=1000)


def _legacy(body: str, secret: bytes = SECRET) -> str:
    digest = hmac.new(secret, body.encode(), hashlib.sha256).digest()
    return f"{body}.{base64.urlsafe_b64encode(digest).rstrip(b'=').decode()}"


def test_tokens_from_before_purposes_are_read_as_resume_tokens_with_a_legacy_key():
    """chatd before sign-ins signed <user>.<issued>.<epoch>, and before epochs <user>.<issued>."""
    before_epochs, with_epoch = _legacy("7.1000"), _legacy("7.1000.e1")
    assert signer().verify(before_epochs, now=1000) == Claim(7, PRE_EPOCH, None, 0, 1000,
                                                             hashlib.sha256(before_epochs.encode()).hexdigest())
    claim = signer().verify(with_epoch, now=1000)
    assert (claim.epoch, claim.sign_in, claim.generation) == ("e1", None, 0)
    assert claim.legacy != signer().verify(before_epochs, now=1000).legacy, "each token its own key"
    with pytest.raises(BadToken):
        signer(purpose="chatd.upload").verify(with_epoch, now=1000)  # they were resume tokens, nothing else
    with pytest.raises(BadToken, match="expired"):
        signer().verify(with_epoch, now=1101)
    with pytest.raises(BadToken, match="in the future"):
        signer().verify(_legacy(f"7.{1001 + CLOCK_SKEW}.e1"), now=1000)
    with pytest.raises(BadToken, match="signature"):
        signer().verify(_legacy("7.1000.e1", b"x" * 32), now=1000)


@pytest.mark.parametrize("tamper", [lambda t: "43" + t[1:], lambda t: t.replace(".e1.", ".e2."),
                                    lambda t: t.replace(".e1.", ".."), lambda t: t.replace(".e1.", "."),
                                    lambda t: t.replace(".e1.", ".é."), lambda t: t.replace(".e1.", ".e1.e1."),
                                    lambda t: "²." + t[2:], lambda t: "1.9999999999.forged"])
def test_tampered_tokens_from_before_purposes_are_refused(tamper):
    with pytest.raises(BadToken):
        signer().verify(tamper(_legacy("7.1000.e1")), now=1000)


def test_bucket_allows_burst_then_refills():
    bucket = TokenBucket(rate=2, burst=3)
    assert [bucket.take(now=10.0) for _ in range(4)] == [True, True, True, False]
    assert bucket.take(now=10.5) is True  # half a second at 2/s: one token
    assert bucket.take(now=10.5) is False
    assert [bucket.take(now=100.0) for _ in range(4)] == [True, True, True, False]  # never above burst

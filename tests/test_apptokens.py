"""App tokens (chatd.auth.apptokens): every way a web app's JWT is refused gets its
stable code and a message naming the problem; the keys a config names are checked
when it is loaded."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from chatd.auth.apptokens import (
    AVATAR_MAX,
    ROLES_MAX,
    ROOMS_MAX,
    SUB_MAX,
    TOKEN_MAX,
    AppClaims,
    AppTokenError,
    AppTokens,
    app_user_name,
    load_app_tokens,
)
from chatd.protocol.codes import Code

SECRET = b"b1f0c3d9e8a7264a5f1e0d9c8b7a6f5e"  # 32 random-looking bytes
NOW = time.time()


def claims(**extra: Any) -> dict[str, Any]:
    return {"sub": "u-42", "exp": int(time.time()) + 300, **extra}


def refused(tokens: AppTokens, token: str) -> AppTokenError:
    with pytest.raises(AppTokenError) as caught:
        tokens.verify(token)
    return caught.value


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forged_hs256(payload: dict[str, Any], key: bytes) -> str:
    """An HS256 JWT made by hand: PyJWT itself refuses to sign with a PEM key as an HMAC secret."""
    signing_input = f"{b64(json.dumps({'alg': 'HS256', 'typ': 'JWT'}).encode())}.{b64(json.dumps(payload).encode())}"
    return f"{signing_input}.{b64(hmac.new(key, signing_input.encode(), hashlib.sha256).digest())}"


@pytest.fixture
def hs256() -> AppTokens:
    return AppTokens(("HS256",), secret=SECRET)


def test_a_valid_token_gives_its_claims(hs256):
    token = jwt.encode(claims(name="  Ana  María ", avatar="https://cdn.example.com/a.png", rooms=["team", "café"],
                              roles=["moderator", "admin"], extra={"ignored": True}), SECRET)
    got = hs256.verify(token)
    assert got == AppClaims(sub="u-42", expires=got.expires, name="Ana María", avatar="https://cdn.example.com/a.png",
                            rooms=("team", "café"), roles=frozenset({"moderator", "admin"}))


def test_expired_says_how_long_ago_and_leeway_is_honoured(hs256):
    late = refused(hs256, jwt.encode(claims(exp=int(time.time()) - 100), SECRET))
    assert late.code == Code.TOKEN_EXPIRED and re.search(r"expired 10[01] s ago", late.message), late.message
    assert 100_000 <= late.details["expired_ms"] < 102_000, "how long ago, as a field too"
    assert hs256.verify(jwt.encode(claims(exp=int(time.time()) - 10), SECRET)).sub == "u-42", "within 30 s of leeway"
    strict = AppTokens(("HS256",), secret=SECRET, leeway_seconds=0)
    assert refused(strict, jwt.encode(claims(exp=int(time.time()) - 10), SECRET)).code == Code.TOKEN_EXPIRED


@pytest.mark.parametrize("claim", ["nbf", "iat"])
def test_a_token_not_valid_yet_is_refused_naming_the_claim(hs256, claim):
    error = refused(hs256, jwt.encode(claims(**{claim: int(time.time()) + 600}), SECRET))
    assert error.code == Code.BAD_CLAIM and f"its {claim} is" in error.message
    assert error.details["claim"] == claim and 590_000 < error.details["valid_in_ms"] <= 600_000, "how long to wait"
    assert hs256.verify(jwt.encode(claims(**{claim: int(time.time()) + 10}), SECRET)), "within the leeway"


def test_a_signature_of_another_key_or_a_changed_payload_is_bad_signature(hs256):
    assert refused(hs256, jwt.encode(claims(), b"another secret of thirty-two bytes!")).code == Code.BAD_SIGNATURE
    header, _, signature = jwt.encode(claims(), SECRET).split(".")
    changed = f"{header}.{b64(json.dumps(claims(sub='admin')).encode())}.{signature}"
    assert refused(hs256, changed).code == Code.BAD_SIGNATURE


@pytest.mark.parametrize("algorithm", ["none", "HS512", "RS256"])
def test_an_algorithm_not_configured_is_refused_none_included(hs256, algorithm):
    key = {"none": None, "HS512": SECRET * 2, "RS256": rsa.generate_private_key(65537, 2048)}[algorithm]
    error = refused(hs256, jwt.encode(claims(), key, algorithm=algorithm))
    assert error.code == Code.BAD_APP_TOKEN and repr(algorithm) in error.message and "accepts HS256" in error.message
    assert error.details == {"cause": "algorithm", "algorithm": algorithm, "accepted": ["HS256"]}


def test_hs256_signed_with_the_public_key_never_verifies(tmp_path):
    """The algorithm-confusion attack: the public key is public, so an HS256 token keyed
    with it would be a forgery anyone can make."""
    private = rsa.generate_private_key(65537, 2048)
    pem = private.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    (tmp_path / "app.pub").write_bytes(pem)
    both = load_app_tokens(section(secret=SECRET.decode(), public_key_file=str(tmp_path / "app.pub"),
                                   algorithms=["HS256", "RS256"]))
    assert both.verify(jwt.encode(claims(), private, algorithm="RS256")).sub == "u-42"
    assert refused(both, forged_hs256(claims(), pem)).code == Code.BAD_SIGNATURE
    only_rsa = load_app_tokens(section(public_key_file=str(tmp_path / "app.pub"), algorithms=["RS256"]))
    assert refused(only_rsa, forged_hs256(claims(), pem)).code == Code.BAD_APP_TOKEN


@pytest.mark.parametrize("missing", ["sub", "exp"])
def test_a_missing_required_claim_is_named(hs256, missing):
    payload = claims()
    del payload[missing]
    error = refused(hs256, jwt.encode(payload, SECRET))
    assert error.code == Code.MISSING_CLAIM and f"'{missing}'" in error.message
    assert error.details == {"claim": missing}


def test_audience_and_issuer_are_checked_when_configured():
    checked = AppTokens(("HS256",), secret=SECRET, audience="chat", issuer="https://shop.example")
    assert checked.verify(jwt.encode(claims(aud="chat", iss="https://shop.example"), SECRET))
    wrong_aud = refused(checked, jwt.encode(claims(aud="billing", iss="https://shop.example"), SECRET))
    assert wrong_aud.code == Code.BAD_CLAIM and "audience (aud) is not 'chat'" in wrong_aud.message
    wrong_iss = refused(checked, jwt.encode(claims(aud="chat", iss="https://evil.example"), SECRET))
    assert wrong_iss.code == Code.BAD_CLAIM and "issuer (iss)" in wrong_iss.message
    no_aud = refused(checked, jwt.encode(claims(iss="https://shop.example"), SECRET))
    assert no_aud.code == Code.MISSING_CLAIM and "'aud'" in no_aud.message
    unchecked = AppTokens(("HS256",), secret=SECRET)
    assert unchecked.verify(jwt.encode(claims(aud="anything", iss="whoever"), SECRET)), "not configured: not checked"


@pytest.mark.parametrize(("extra", "named"), [
    ({"sub": 42}, "Subject"),
    ({"sub": ""}, "'sub'"),
    ({"sub": "x" * (SUB_MAX + 1)}, "'sub'"),
    ({"sub": "a\x00b"}, "'sub'"),
    ({"sub": "\ud83d"}, "'sub'"),
    ({"exp": "2000000000"}, "'exp'"),
    ({"exp": True}, "'exp'"),
    ({"nbf": [1]}, "'nbf'"),
    ({"exp": 10**400}, "'exp'"),  # more than a float holds: PyJWT's comparisons would overflow
    ({"exp": -(10**400)}, "'exp'"),
    ({"iat": 10**400}, "'iat'"),
    ({"nbf": 10**400}, "'nbf'"),
    ({"name": 7}, "'name'"),
    ({"name": "Mark\u202e"}, "'name'"),
    ({"name": "x" * 33}, "'name'"),
    ({"name": "  "}, "'name'"),
    ({"avatar": "javascript:alert(1)"}, "'avatar'"),
    ({"avatar": "https://"}, "'avatar'"),
    ({"avatar": "https://cdn.example.com/a b.png"}, "'avatar'"),
    ({"avatar": "https://cdn.example.com/" + "a" * AVATAR_MAX}, "'avatar'"),
    ({"avatar": ["https://cdn.example.com/a.png"]}, "'avatar'"),
    ({"avatar": "https://evil.example\\@cdn.example.com/a.png"}, "'avatar'"),  # a browser's host: evil.example
    ({"avatar": "https://user@cdn.example.com/a.png"}, "'avatar'"),
    ({"avatar": "https://cdn.example.com:65536/a.png"}, "'avatar'"),
    ({"avatar": "https://[::1/a.png"}, "'avatar'"),
    ({"rooms": "team"}, "'rooms'"),
    ({"rooms": ["team", 3]}, "'rooms'"),
    ({"rooms": ["no spaces allowed"]}, "'rooms'"),
    ({"rooms": [f"r{i}" for i in range(ROOMS_MAX + 1)]}, "'rooms'"),
    ({"roles": "admin"}, "'roles'"),
    ({"roles": ["Admin"]}, "'roles'"),
    ({"roles": [""]}, "'roles'"),
    ({"roles": [f"r{i}" for i in range(ROLES_MAX + 1)]}, "'roles'"),
])
def test_claims_of_the_wrong_type_or_size_are_bad_claim(hs256, extra, named):
    error = refused(hs256, jwt.encode(claims(**extra), SECRET))
    assert error.code == Code.BAD_CLAIM and named in error.message, error.message
    assert len(error.message) < 300, "an error frame stays small"


def test_a_claim_named_twice_is_refused(hs256):
    # Parsers disagree on which one counts (a signed "sub": "a", "sub": "b" is alice to one, bob to another).
    signing_input = f"{b64(json.dumps({'alg': 'HS256', 'typ': 'JWT'}).encode())}." + b64(
        b'{"sub": "a", "sub": "b", "exp": %d}' % (int(time.time()) + 300))
    token = f"{signing_input}.{b64(hmac.new(SECRET, signing_input.encode(), hashlib.sha256).digest())}"
    error = refused(hs256, token)
    assert error.code == Code.BAD_APP_TOKEN and "sub" in error.message, error.message


@pytest.mark.parametrize("token", ["", "abc", "a.b.c", "bm90IGpzb24.e30.c2ln", "é.é.é",
                                   "x" * (TOKEN_MAX + 1)])
def test_what_is_no_jwt_is_bad_app_token(hs256, token):
    error = refused(hs256, token)
    assert (error.code, error.details) == (Code.BAD_APP_TOKEN, {"cause": "malformed"})


def test_a_huge_signed_token_is_refused_before_it_is_read(hs256):
    token = jwt.encode(claims(padding="x" * TOKEN_MAX), SECRET)
    error = refused(hs256, token)
    assert error.code == Code.BAD_APP_TOKEN and str(TOKEN_MAX) in error.message


def public_pem(private: Any) -> bytes:
    return private.public_key().public_bytes(serialization.Encoding.PEM,
                                             serialization.PublicFormat.SubjectPublicKeyInfo)


@pytest.mark.parametrize(("algorithm", "make_key"), [
    ("RS256", lambda: rsa.generate_private_key(65537, 2048)),
    ("PS256", lambda: rsa.generate_private_key(65537, 2048)),
    ("ES256", lambda: ec.generate_private_key(ec.SECP256R1())),
    ("ES384", lambda: ec.generate_private_key(ec.SECP384R1())),
    ("EdDSA", ed25519.Ed25519PrivateKey.generate),
])
def test_public_key_algorithms_verify_with_the_key_file(tmp_path, algorithm, make_key):
    private = make_key()
    (tmp_path / "app.pub").write_bytes(public_pem(private))
    tokens = load_app_tokens(section(public_key_file=str(tmp_path / "app.pub"), algorithms=[algorithm]))
    assert tokens.verify(jwt.encode(claims(name="Ana"), private, algorithm=algorithm)).name == "Ana"
    other = make_key()
    assert refused(tokens, jwt.encode(claims(), other, algorithm=algorithm)).code == Code.BAD_SIGNATURE


def section(**values: Any) -> SimpleNamespace:
    """An ``app_tokens`` config section: the defaults, and ``values``."""
    return SimpleNamespace(**{"secret": "", "secret_file": "", "public_key_file": "", "algorithms": ["HS256"],
                              "audience": "", "issuer": "", "leeway_seconds": 30, **values})


def test_app_tokens_are_off_until_a_secret_or_a_key_is_set():
    assert load_app_tokens(section()) is None


def write(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


@pytest.mark.parametrize(("values", "problem"), [
    ({"secret": "changeme"}, "'app_tokens.secret': is 8 bytes long"),
    ({"secret": SECRET.decode(), "secret_file": "/etc/hostname"}, "both set"),
    ({"secret_file": "/nonexistent/secret"}, "cannot read"),
    ({"secret": SECRET.decode(), "algorithms": ["RS256"]}, "no HS algorithm"),
    ({"secret": SECRET.decode(), "algorithms": ["HS256", "ES256"]}, "need a public key"),
    ({"public_key_file": "PUB", "algorithms": ["HS256"]}, "need a shared secret"),
    ({"public_key_file": "PUB", "secret": SECRET.decode(), "algorithms": ["HS256"]}, "no algorithm that would use it"),
    ({"public_key_file": "/nonexistent/app.pub", "algorithms": ["RS256"]}, "cannot read it"),
    ({"public_key_file": "NOT_PEM", "algorithms": ["RS256"]}, "is not a PEM public key"),
    ({"public_key_file": "PRIVATE", "algorithms": ["RS256"]}, "a private key does not belong"),
    ({"public_key_file": "PUB", "algorithms": ["ES256"]}, "cannot verify ES256"),
    ({"public_key_file": "P384", "algorithms": ["ES256"]}, "cannot verify ES256"),
    ({"secret": SECRET.decode(), "algorithms": ["HS512"]}, "too short for HS512"),
    ({"public_key_file": "RSA1024", "algorithms": ["RS256"]}, "too short for RS256"),
])
def test_keys_that_cannot_work_are_refused_naming_the_key(tmp_path, values, problem):
    private = rsa.generate_private_key(65537, 2048)
    files = {"PUB": write(tmp_path / "app.pub", public_pem(private)),
             "NOT_PEM": write(tmp_path / "junk.pem", b"not a key\n"),
             "PRIVATE": write(tmp_path / "app.key", private.private_bytes(
                 serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())),
             "P384": write(tmp_path / "p384.pub", public_pem(ec.generate_private_key(ec.SECP384R1()))),
             "RSA1024": write(tmp_path / "small.pub", public_pem(rsa.generate_private_key(65537, 1024)))}
    values = {k: files.get(v, v) if isinstance(v, str) else v for k, v in values.items()}
    with pytest.raises(ValueError, match="app_tokens") as caught:
        load_app_tokens(section(**values))
    assert problem in str(caught.value)


def test_the_secret_file_is_read_without_its_line_break(tmp_path):
    tokens = load_app_tokens(section(secret_file=write(tmp_path / "secret", SECRET + b"\n")))
    assert tokens.verify(jwt.encode(claims(), SECRET)).sub == "u-42"


def test_an_app_user_without_a_name_is_named_after_its_sub():
    assert app_user_name(AppClaims("42", NOW, name="Ana")) == "Ana"
    assert app_user_name(AppClaims("42", NOW)) == "user 42"
    long_sub = "d7c0b9ae-1f6e-4a53-9c1e-5b2f0a8e7d61"
    hashed = app_user_name(AppClaims(long_sub, NOW))
    assert hashed == "user " + hashlib.sha256(long_sub.encode()).hexdigest()[:10]
    assert app_user_name(AppClaims("a\u202eb", NOW)).startswith("user "), "a sub that is no valid name is hashed"

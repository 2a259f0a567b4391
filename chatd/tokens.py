"""Signed resume tokens: proof that a client is a user it was before.

A token is ``<user id>.<issued, unix seconds>.<epoch>.<signature>``, the
signature an HMAC-SHA256 over the first three parts with the server's
secret. The epoch is the database's (``chatd.epoch``): a user id means a
user only in the database that issued it, so the token says which one.
Tokens of chatd before epochs, ``<user id>.<issued>.<signature>``, are
read with the epoch ``PRE_EPOCH``. Nothing is kept per token on the
server; changing the secret revokes them all.

    >>> tokens = TokenSigner(b"k" * 32, ttl_seconds=86400)
    >>> tokens.verify(tokens.issue(42, "9f3a"))
    Claim(user_id=42, epoch='9f3a')
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import NamedTuple

from chatd.epoch import PRE_EPOCH


class BadToken(Exception):
    """The token is forged, damaged or expired; str() says which."""


class Claim(NamedTuple):
    """What a valid token says: the user, in the database epoch that issued it."""

    user_id: int
    epoch: str


class TokenSigner:
    def __init__(self, secret: bytes, ttl_seconds: float):
        self._secret = secret
        self.ttl_seconds = ttl_seconds

    def _sign(self, body: str) -> str:
        digest = hmac.new(self._secret, body.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def issue(self, user_id: int, epoch: str, now: float | None = None) -> str:
        """A token for ``user_id`` of the database epoch ``epoch`` (hex digits)."""
        body = f"{user_id}.{int(time.time() if now is None else now)}.{epoch}"
        return f"{body}.{self._sign(body)}"

    def verify(self, token: str, now: float | None = None) -> Claim:
        """The user and epoch the token was issued for; BadToken otherwise."""
        parts = token.split(".")
        # All ASCII: hmac.compare_digest raises TypeError on other strings.
        if not token.isascii():
            raise BadToken("token is damaged")
        if len(parts) == 3:  # issued before epochs
            (user_id, issued, signature), epoch = parts, PRE_EPOCH
        elif len(parts) == 4 and parts[2].isalnum():
            user_id, issued, epoch, signature = parts
        else:
            raise BadToken("token is damaged")
        if not all(p.isdigit() for p in (user_id, issued)):
            raise BadToken("token is damaged")
        body = token.rpartition(".")[0]
        if not hmac.compare_digest(self._sign(body), signature):
            raise BadToken("token signature does not match")
        age = (time.time() if now is None else now) - int(issued)
        if age > self.ttl_seconds:
            raise BadToken("token has expired")
        return Claim(int(user_id), epoch)

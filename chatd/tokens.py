"""Signed resume tokens: proof that a client is a user it was before.

A token is ``<user id>.<issued, unix seconds>.<signature>``, the signature an
HMAC-SHA256 over the first two parts with the server's secret. Nothing is
kept per token on the server; changing the secret revokes them all.

    >>> tokens = TokenSigner(b"k" * 32, ttl_seconds=86400)
    >>> tokens.verify(tokens.issue(42))
    42
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time


class BadToken(Exception):
    """The token is forged, damaged or expired; str() says which."""


class TokenSigner:
    def __init__(self, secret: bytes, ttl_seconds: float):
        self._secret = secret
        self.ttl_seconds = ttl_seconds

    def _sign(self, body: str) -> str:
        digest = hmac.new(self._secret, body.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def issue(self, user_id: int, now: float | None = None) -> str:
        body = f"{user_id}.{int(time.time() if now is None else now)}"
        return f"{body}.{self._sign(body)}"

    def verify(self, token: str, now: float | None = None) -> int:
        """The user id the token was issued to; BadToken otherwise."""
        parts = token.split(".")
        # All ASCII: hmac.compare_digest raises TypeError on other strings.
        if len(parts) != 3 or not token.isascii() or not all(p.isdigit() for p in parts[:2]):
            raise BadToken("token is damaged")
        body = f"{parts[0]}.{parts[1]}"
        if not hmac.compare_digest(self._sign(body), parts[2]):
            raise BadToken("token signature does not match")
        age = (time.time() if now is None else now) - int(parts[1])
        if age > self.ttl_seconds:
            raise BadToken("token has expired")
        return int(parts[0])

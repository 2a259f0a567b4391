"""A tiny web app for the tests of app tokens (docs/protocol.md, "App tokens"):
its own secret (or private key) and users, and the JWTs it signs for them with PyJWT.

    app = WebApp()                                   # HS256 with a random secret: app.secret
    app = WebApp(private_key, "ES256")
    token = app.token("u-1", roles=["moderator"])    # its user u-1, "Alice"; valid for a minute
"""

from __future__ import annotations

import secrets
import time
from typing import Any

import jwt


class WebApp:
    """A web app as chatd sees it: a secret (or a private key), its users, and the JWTs it signs for them."""

    def __init__(self, key: Any = None, algorithm: str = "HS256"):
        self.secret = secrets.token_hex(32)
        self.key = self.secret if key is None else key
        self.algorithm = algorithm
        self.users = {"u-1": "Alice", "u-2": "John", "u-3": "John"}

    def token(self, sub: str, ttl: float = 60, **claims: Any) -> str:
        payload = {"sub": sub, "exp": int(time.time() + ttl), "iat": int(time.time())}
        if sub in self.users:
            payload["name"] = self.users[sub]
        return jwt.encode(payload | claims, self.key, algorithm=self.algorithm)

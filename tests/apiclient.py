"""An HTTP API client for tests, written from docs/api.md only, and fixtures that make keys.

    key = api_key(server, "publish", "read")           # a new key in the server's database
    status, body = await api_call(server, "POST", "/messages", {"room": "lobby", "text": "hi"}, key=key)
"""

from __future__ import annotations

import json
from typing import Any

from tornado.httpclient import AsyncHTTPClient, HTTPRequest

from chatd.auth.apikeys import new_key

_names = iter(range(1, 1_000_000))


def api_key(server: Any, *scopes: str, user: int | None = None, name: str | None = None) -> str:
    """A new key of ``server``'s database (as `chatd apikey create` makes one)."""
    key, public_id, digest = new_key()
    server.store.api_keys.create(name or f"test-{next(_names)}", public_id, digest, list(scopes), user)
    return key


async def api_call(server: Any, method: str, path: str, body: Any = None, key: str | None = None,
                   headers: dict[str, str] | None = None, raw: bytes | None = None,
                   ) -> tuple[int, dict[str, Any], dict[str, str]]:
    """→ (status, decoded JSON body, response headers) of one request to /api/v1 + ``path``."""
    sent = {**({"Authorization": f"Bearer {key}"} if key else {}), **(headers or {})}
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    if data is not None:
        sent.setdefault("Content-Type", "application/json")
    request = HTTPRequest(f"http://127.0.0.1:{server.port}/api/v1{path}", method=method, headers=sent, body=data,
                          allow_nonstandard_methods=True, request_timeout=30)
    response = await AsyncHTTPClient().fetch(request, raise_error=False)
    assert response.headers.get("Content-Type", "").startswith("application/json"), (response.code, response.body)
    return response.code, json.loads(response.body), dict(response.headers)

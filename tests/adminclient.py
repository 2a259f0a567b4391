"""An admin page client for tests: accounts, sessions and calls to /admin/api.

    admin = await admin_login(server)                       # a new admin account, signed in
    status, body, headers = await admin.call("GET", "/audit")
    status, body, _ = await admin.call("POST", "/logout")   # the CSRF header is sent for it
    mod = await chat_login(server, token)                   # signed in with a chat user's resume token
    status, body, _ = await admin_call(server, "GET", "/audit")   # no session at all
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from tornado.httpclient import AsyncHTTPClient, HTTPRequest

from chatd.admin.sessions import COOKIE
from chatd.audit import Actor
from chatd.auth.admins import account_key, hash_password

_names = iter(range(1, 1_000_000))
PASSWORD = "correct horse battery staple"
ROOT = Actor("admin", 1, "root", frozenset({"admin"}))  # an admin acting on the store directly
_HASH: dict[str, str] = {}  # one scrypt per password per test run: each takes a fifth of a second


def admin_account(server: Any, name: str | None = None, password: str = PASSWORD) -> str:
    """A new admin account in ``server``'s database (as `chatd admin create` makes one); → its name."""
    name = name or f"admin{next(_names)}"
    if password not in _HASH:
        _HASH[password] = hash_password(password)
    server.store.admins.create(name, account_key(name), _HASH[password])
    return name


async def admin_call(server: Any, method: str, path: str, body: Any = None, cookie: str | None = None,
                     csrf: str | None = None, headers: dict[str, str] | None = None, raw: bytes | None = None,
                     ) -> tuple[int, Any, dict[str, str]]:
    """→ (status, decoded JSON body (None if not JSON), response headers) of one request to
    /admin/api + ``path`` (or ``path`` itself when it starts with /admin/ or is /admin)."""
    sent = {**({"Cookie": f"{COOKIE}={cookie}"} if cookie else {}), **({"X-CSRF-Token": csrf} if csrf else {}),
            **(headers or {})}
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    if data is not None:
        sent.setdefault("Content-Type", "application/json")
    url = path if path.startswith("/admin/") or path == "/admin" else f"/admin/api{path}"
    request = HTTPRequest(f"http://127.0.0.1:{server.port}{url}", method=method, headers=sent, body=data,
                          allow_nonstandard_methods=True, follow_redirects=False, request_timeout=30)
    response = await AsyncHTTPClient().fetch(request, raise_error=False)
    try:
        decoded = json.loads(response.body) if response.body else None
    except ValueError:
        decoded = None
    return response.code, decoded, dict(response.headers)


def session_cookie(headers: dict[str, str]) -> str | None:
    """The session token a login's answer set, or None."""
    for name, value in headers.items():
        if name.lower() == "set-cookie" and value.startswith(f"{COOKIE}="):
            return value.split(";")[0].split("=", 1)[1] or None
    return None


@dataclass
class AdminSession:
    server: Any
    cookie: str
    csrf: str
    actor: dict[str, Any]

    async def call(self, method: str, path: str, body: Any = None, **kwargs: Any) -> tuple[int, Any, dict[str, str]]:
        """A request with this session's cookie and CSRF token (``csrf=None``: without it)."""
        kwargs = {"cookie": self.cookie, "csrf": self.csrf, **kwargs}
        return await admin_call(self.server, method, path, body, **kwargs)


async def _login(server: Any, path: str, body: dict[str, Any]) -> AdminSession:
    status, answer, headers = await admin_call(server, "POST", path, body)
    assert status == 200, (status, answer)
    cookie = session_cookie(headers)
    assert cookie
    return AdminSession(server, cookie, answer["csrf"], answer["actor"])


async def admin_login(server: Any, name: str | None = None, password: str = PASSWORD) -> AdminSession:
    """Sign in to ``server``'s admin page as the account ``name`` (None: a new one)."""
    return await _login(server, "/login", {"name": name or admin_account(server, password=password),
                                           "password": password})


async def chat_login(server: Any, token: str) -> AdminSession:
    """Sign in to the admin page with a chat user's resume token (the user must have a role)."""
    return await _login(server, "/login/chat", {"token": token})

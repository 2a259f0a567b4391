"""The admin page's gate, over real HTTP against a real server, on SQLite and PostgreSQL:
every route chatd.admin collects (those other modules add too) refuses without a
session, with a forged or expired cookie, without or with a wrong CSRF token, and
to a moderator where it is for admins; logins are slowed down; sessions end."""

from __future__ import annotations

import json
import re
import secrets
import time
from typing import Any

import jwt
import pytest
import tornado.web

from chatd.admin import handler_classes
from chatd.admin.base import AdminHandler
from chatd.admin.sessions import HOUR_MS, MINUTE_MS
from chatd.auth.admins import account_key, hash_password
from chatd.store.schema import AdminSession
from tests.adminclient import PASSWORD, admin_account, admin_call, admin_login, chat_login, session_cookie
from tests.rawhttp import RawHTTP, unframed
from tests.stores import KINDS
from tests.test_deletion_races import called, count, raced

APP_SECRET = "7c1e0b9a8f7d6e5c4b3a29180f1e2d3c4b5a69788796a5b4"
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
# The routes that answer without a session: the page shell, its files, and the two logins.
PUBLIC = {r"/admin", r"/admin/", r"/admin/static/(?:([0-9a-f]{16})/)?(.+)", r"/admin/api/login",
          r"/admin/api/login/chat"}


@pytest.fixture(params=KINDS)
def config_overrides(request: pytest.FixtureRequest) -> dict[str, Any]:
    database = {"database": request.getfixturevalue("postgres_url")} if request.param == "postgres" else {}
    return {**database, "app_tokens": {"secret": APP_SECRET}}


def app_token(sub: str, name: str, roles: list[str]) -> str:
    return jwt.encode({"sub": sub, "name": name, "roles": roles, "exp": int(time.time()) + 600}, APP_SECRET,
                      algorithm="HS256")


async def chat_user(connect: Any, name: str, roles: list[str]) -> str:
    """A chat user signed in with an app token giving ``roles``; → the resume token its page keeps."""
    client = await (await connect()).enter(app_token=app_token(f"u-{name}", name, roles))
    return client.welcome["token"]


def example_path(pattern: str) -> str:
    """A concrete path the route ``pattern`` matches: each group is "1", a wildcard "x"."""
    path = re.sub(r"\(\?:[^)]*\)\?", "", pattern)  # optional parts left out
    path = re.sub(r"\([^)]*\)", "1", path).replace(".*", "x").replace(".+", "x")
    assert re.fullmatch(pattern, path), f"no example path for {pattern}: make its groups simple"
    return path


def served_methods(handler: type) -> list[str]:
    return [m for m in METHODS if getattr(handler, m.lower()) is not getattr(tornado.web.RequestHandler, m.lower())]


GATED = [(pattern, handler) for pattern, handler in handler_classes() if pattern not in PUBLIC]


def test_only_the_shell_its_files_and_the_logins_answer_without_a_session():
    public = {pattern for pattern, handler in handler_classes() if not issubclass(handler, AdminHandler)}
    assert public == PUBLIC


@pytest.mark.parametrize("pattern,handler", GATED, ids=[p for p, _ in GATED])
async def test_every_admin_route_is_refused_without_a_valid_session_or_csrf_token(server, connect, pattern, handler):
    path = example_path(pattern)
    admin = await admin_login(server)
    moderator = await chat_login(server, await chat_user(connect, "mo", ["moderator"]))
    expired = await admin_login(server, admin.actor["name"])
    await server.store.writer.run(lambda: AdminSession.update(created=AdminSession.created - 13 * HOUR_MS).where(
        AdminSession.csrf == expired.csrf).execute(server.store.db))
    for method in METHODS:
        body = {} if method in ("POST", "PUT", "PATCH") else None
        for cookie in (None, secrets.token_urlsafe(32), "", "x" * 5000, expired.cookie):
            status, answer, headers = await admin_call(server, method, path, body, cookie=cookie, csrf=admin.csrf)
            assert (status, answer["error"]["code"]) == (401, "unauthorized"), (method, path, cookie, answer)
        if method != "GET":
            for csrf in (None, "", moderator.csrf, admin.csrf[:-1]):
                status, answer, _ = await admin.call(method, path, body, csrf=csrf)
                assert (status, answer["error"]["code"]) == (403, "csrf"), (method, path, csrf, answer)
            status, answer, _ = await admin.call(method, path, body, headers={"Origin": "https://evil.example"})
            assert status == 403, (method, path, answer)
        if handler.role == "admin":
            status, answer, _ = await moderator.call(method, path, body)
            assert (status, answer["error"]["code"]) == (403, "forbidden"), (method, path, answer)
        if method not in served_methods(handler):
            status, answer, _ = await admin.call(method, path, body)
            assert status in (404, 405) and answer["error"]["code"] in ("not_found", "method_not_allowed")


async def test_a_password_login_sets_a_strict_cookie_and_answers_who_and_the_csrf_token(server):
    name = admin_account(server, "Root")
    status, answer, headers = await admin_call(server, "POST", "/login", {"name": "root", "password": PASSWORD})
    assert status == 200 and answer["actor"] == {"kind": "admin", "id": answer["actor"]["id"], "name": name,
                                                 "roles": ["admin"]}
    cookie = headers["Set-Cookie"]
    assert all(part in cookie for part in ("HttpOnly", "Secure", "SameSite=Strict", "Path=/admin"))
    token = session_cookie(headers)
    status, session, _ = await admin_call(server, "GET", "/session", cookie=token)
    assert status == 200 and session["csrf"] == answer["csrf"] and session["expires"] > time.time() * 1000
    assert token not in str(await server.store.read(lambda: server.store.db.execute_sql(
        "SELECT * FROM admin_session").fetchall())), "only the token's hash is stored"
    entries = (await server.store.audit.page(None, 10)).rows
    assert [(e["action"], e["actor"]["name"]) for e in entries] == [("admin.login", name)]


async def test_wrong_passwords_and_unknown_names_get_the_same_answer_and_are_logged(server):
    name = admin_account(server)
    for who, password in ((name, "not the password"), ("nobody", PASSWORD)):
        status, answer, headers = await admin_call(server, "POST", "/login", {"name": who, "password": password})
        assert (status, answer["error"]["code"], session_cookie(headers)) == (401, "bad_login", None)
        assert answer["error"]["message"] == "wrong name or password"
    entries = (await server.store.audit.page(None, 10, action="admin.login_failed")).rows
    assert [e["target"] for e in entries] == ["admin:nobody", f"admin:{name}"]
    assert {(e["actor"]["kind"], e["actor"]["id"], e["actor"]["name"]) for e in entries} == {
        ("anonymous", 0, "127.0.0.1")}, "nobody signed in, named by the address: never the account tried"
    assert (await server.store.audit.page(None, 10, actor=name)).rows == [], "attacks on it are not its doing"


@pytest.mark.parametrize("body,raw,code", [
    (None, b"name=root&password=x", "unsupported_media_type"), (None, b"[1]", "bad_request"), (None, b"{", "bad_json"),
    ({"name": 5, "password": "x"}, None, "bad_request"), ({"name": "root"}, None, "bad_request"),
    ({"name": "root", "password": "x" * 2000}, None, "bad_request"),
    ({"name": "root", "password": "x" * 70_000}, None, "payload_too_large"),
])
async def test_a_bad_login_body_is_a_clear_error(server, body, raw, code):
    headers = {"Content-Type": "application/x-www-form-urlencoded"} if raw and raw.startswith(b"name") else None
    status, answer, _ = await admin_call(server, "POST", "/login", body, raw=raw, headers=headers)
    assert 400 <= status < 500 and answer["error"]["code"] == code, answer


async def test_a_login_body_is_read_as_the_http_api_reads_its_own(server):
    # bb22: the admin API read its bodies with checks of its own, fewer than the HTTP API's.
    name = admin_account(server)
    login = json.dumps({"name": name, "password": PASSWORD}).encode()
    status, answer, headers = await admin_call(server, "POST", "/login", raw=login,
                                               headers={"Content-Encoding": "gzip"})
    assert (status, answer["error"]["code"], session_cookie(headers)) == (400, "bad_request", None)
    assert answer["error"]["message"] == "the body is sent with Content-Encoding 'gzip'; send it as plain JSON"
    status, answer, _ = await admin_call(server, "POST", "/login", raw=b"name=a&password=b",
                                         headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert (status, answer["error"]["code"]) == (415, "unsupported_media_type")
    http = await RawHTTP.open(server.port)
    try:  # neither Content-Length nor Transfer-Encoding: no body, whatever bytes follow (RFC 9112 §6.3)
        http.send(unframed("POST", "/admin/api/login", "HTTP/1.1", b"", Content_Type="application/json"))
        got = await http.answer()
    finally:
        http.close()
    assert (got.status, json.loads(got.body)["error"]) == (400, {
        "code": "bad_request", "message": "the request has no body: it has neither a Content-Length nor "
                                         "Transfer-Encoding: chunked; it must be a JSON object of the fields name, "
                                         "password"})


@pytest.mark.parametrize("config_overrides", [{"admin": {"login_attempts": 3, "login_refill_seconds": 600}}])
async def test_guessing_is_slowed_down_per_address_and_per_account(server):
    name = admin_account(server)

    async def attempt(who: str, password: str, address: str) -> tuple[int, Any, dict]:
        return await admin_call(server, "POST", "/login", {"name": who, "password": password},
                                headers={"X-Forwarded-For": address})

    for n in range(3):  # one account, guessed from three addresses
        assert (await attempt(name, f"guess {n}", f"203.0.113.{n}"))[0] == 401
    status, answer, headers = await attempt(name, PASSWORD, "203.0.113.99")
    assert (status, answer["error"]["code"]) == (429, "rate_limited") and 1 <= int(headers["Retry-After"]) <= 600
    for n in range(3):  # one address, guessing three names
        assert (await attempt(f"guess{n}", "x" * 12, "198.51.100.7"))[0] == 401
    assert (await attempt(admin_account(server), PASSWORD, "198.51.100.7"))[0] == 429
    assert (await attempt(admin_account(server), PASSWORD, "198.51.100.8"))[0] == 200, "others are not held back"
    failed = (await server.store.audit.page(None, 100, action="admin.login_failed")).rows
    assert len(failed) == 6, "refused attempts check no password and write no row"


@pytest.mark.parametrize("aged,column", [(13 * HOUR_MS, "created"), (61 * MINUTE_MS, "seen")], ids=["absolute", "idle"])
async def test_sessions_expire(server, aged, column):
    admin = await admin_login(server)
    assert (await admin.call("GET", "/session"))[0] == 200
    field = getattr(AdminSession, column)
    await server.store.writer.run(lambda: AdminSession.update({field: field - aged}).execute(server.store.db))
    assert (await admin.call("GET", "/session"))[0] == 401
    assert await server.store.read(lambda: server.store.db.execute_sql(
        "SELECT COUNT(*) FROM admin_session").fetchone()[0]) == 0, "an ended session is removed"


async def test_logout_ends_the_session_on_the_server(server):
    admin = await admin_login(server)
    status, _, headers = await admin.call("POST", "/logout")
    assert status == 200 and "chatd_admin=" in headers["Set-Cookie"]
    assert (await admin.call("GET", "/session"))[0] == 401, "the old cookie is worth nothing"
    assert (await server.store.audit.page(None, 1)).rows[0]["action"] == "admin.logout"


async def test_a_new_password_or_a_removed_account_ends_its_sessions(server):
    name = admin_account(server)
    first, second = await admin_login(server, name), await admin_login(server, name)
    other = await admin_login(server)
    server.store.admins.set_password(account_key(name), hash_password("another password"))
    assert (await first.call("GET", "/session"))[0] == 401 and (await second.call("GET", "/session"))[0] == 401
    assert (await other.call("GET", "/session"))[0] == 200
    server.store.admins.remove(account_key(other.actor["name"]))
    assert (await other.call("GET", "/session"))[0] == 401


async def test_a_chat_moderator_signs_in_with_their_chat_account_and_sees_only_moderator_things(server, connect):
    token = await chat_user(connect, "mona", ["moderator", "editor"])
    mona = await chat_login(server, token)
    assert mona.actor["kind"] == "user" and mona.actor["name"] == "mona" and mona.actor["roles"] == ["moderator"]
    assert (await mona.call("GET", "/session"))[0] == 200
    assert (await mona.call("GET", "/audit"))[:1] == (403,)
    login = (await server.store.audit.page(None, 1, action="admin.login")).rows[0]
    assert login["actor"]["name"] == "mona" and login["detail"]["via"] == "chat"
    assert login["target"] == f"user:{mona.actor['id']}", "a user target is by id, as every user target is"
    await mona.call("POST", "/logout")
    logout = (await server.store.audit.page(None, 1, action="admin.logout")).rows[0]
    assert logout["target"] == f"user:{mona.actor['id']}"


async def test_a_chat_admin_may_do_what_an_admin_may(server, connect):
    ada = await chat_login(server, await chat_user(connect, "ada", ["admin"]))
    assert (await ada.call("GET", "/audit"))[0] == 200


async def test_chat_users_without_a_role_or_with_a_bad_token_get_no_session(server, connect, user):
    guest = await user("guest")
    for token, status, code in ((guest.welcome["token"], 403, "forbidden"),
                                (await chat_user(connect, "plain", ["editor"]), 403, "forbidden"),
                                ("not-a-token", 401, "bad_token"), (guest.welcome["token"][:-2] + "xx", 401,
                                                                    "bad_token")):
        got, answer, headers = await admin_call(server, "POST", "/login/chat", {"token": token})
        assert (got, answer["error"]["code"], session_cookie(headers)) == (status, code, None)


async def test_signing_out_of_the_chat_ends_the_admin_session_made_from_it(server, connect):
    client = await (await connect()).enter(app_token=app_token("u-sam", "sam", ["moderator"]))
    sam = await chat_login(server, client.welcome["token"])
    assert (await sam.call("GET", "/session"))[0] == 200
    assert (await client.request("sign_out"))["type"] in ("signed_out", "done")
    assert (await sam.call("GET", "/session"))[0] == 401


async def test_losing_the_role_ends_the_admin_session(server, connect):
    sam = await chat_login(server, await chat_user(connect, "sam", ["moderator"]))
    await chat_user(connect, "sam", [])  # the app's next token for the same sub says no role
    assert (await sam.call("GET", "/session"))[0] == 401


async def test_the_shell_and_its_files_answer_without_a_session_and_nothing_else_does(server):
    assert (await admin_call(server, "GET", "/admin"))[0] == 301
    status, _, headers = await admin_call(server, "GET", "/admin/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert "'unsafe-inline'" not in headers["Content-Security-Policy"]
    assert (await admin_call(server, "GET", "/admin/static/admin/admin.js"))[0] == 200
    for path in ("/admin/nothing", "/admin/api/nothing", "/admin/static/../../chatd.db"):
        assert (await admin_call(server, "GET", path))[0] in (401, 404)
    assert (await admin_call(server, "GET", "/admin/api/nothing"))[0] == 401


async def test_a_chat_login_of_a_user_deleted_meanwhile_is_refused_and_opens_no_session(server, connect,
                                                                                        monkeypatch):
    token = await chat_user(connect, "mo", ["moderator"])
    user_id = server.chat.tokens.verify(token).user_id
    opening = called(server.store.admins, "open_session", monkeypatch)
    status, body, _ = await raced(server, user_id, lambda: admin_call(server, "POST", "/login/chat",
                                                                      {"token": token}), opening)
    assert (status, body["error"]["code"]) == (401, "bad_token"), body
    assert "the user's account was deleted" in body["error"]["message"]
    assert await count(server, server.store._q("SELECT count(*) FROM admin_session WHERE user_id = ?"), user_id) == 0

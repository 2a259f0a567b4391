"""The HTTP API's authentication, scopes and refusals, against a real server over HTTP."""

from __future__ import annotations

import gzip
import json
import re

import pytest

from chatd.api import operations
from tests.apiclient import api_call, api_key
from tests.rawhttp import RawHTTP, request, unframed

SEND = {"room": "lobby", "text": "hi"}
# Every (method, path, part) of the API whose path has parts: a new route is covered too.
PATH_PARTS = sorted({(op.method, op.path, part) for op in operations() for part in re.findall(r"{(\w+)}", op.path)})


async def test_the_api_is_off_until_a_key_exists(server):
    for path in ("/messages", "/openapi.json"):
        status, body, _ = await api_call(server, "GET" if path.endswith("json") else "POST", path, SEND)
        assert status == 404 and body["error"]["code"] == "api_off"
    # Whatever the method and path: a 405 would name the methods of a path of an API nobody turned
    # on, a not_found tell a path that is not one (a black-box tester mapped the routes so).
    asked = [("PUT", "/api/v1/rooms"), ("OPTIONS", "/api/v1/rooms"), ("TRACE", "/api/v1/rooms/lobby"),
             ("FOO", "/api/v1/bots/1"), ("POST", "/api/v1/openapi.json"), ("GET", "/api/v1/nonexistent"),
             ("GET", "/api/v1/"), ("TRACE", "/api/v1/nonexistent")]
    for method, path in asked:
        http = await RawHTTP.open(server.port)
        try:
            http.send(request(method, path))
            answer = await http.answer()
            assert (answer.status, json.loads(answer.body)["error"]["code"]) == (404, "api_off"), (method, path)
            assert "allow" not in answer.headers
        finally:
            http.close()
    api_key(server, "read")
    status, body, _ = await api_call(server, "GET", "/openapi.json")
    assert status == 200 and body["openapi"].startswith("3.1")
    status, body, headers = await api_call(server, "POST", "/openapi.json", {})
    assert (status, body["error"]["code"], headers["Allow"]) == (405, "method_not_allowed", "GET")
    status, body, _ = await api_call(server, "GET", "/nonexistent")
    assert (status, body["error"]["code"]) == (404, "not_found")


async def test_a_refusal_at_the_headers_keeps_the_connection_for_the_requests_pipelined_behind_it(server):
    # Refused before its body is read (chatd.web.early). A black-box tester saw the request
    # behind a 404 api_off dropped: the connection closed without Connection: close.
    http = await RawHTTP.open(server.port)
    try:
        http.send(request("GET", "/api/v1/online") + request("POST", "/api/v1/messages", b"")
                  + request("GET", "/healthz"))
        for _ in range(2):  # no body: nothing is left to read, the connection goes on
            answer = await http.answer()
            assert (answer.status, json.loads(answer.body)["error"]["code"]) == (404, "api_off")
            assert "connection" not in answer.headers
        assert (await http.answer()).status == 200
        api_key(server, "read")
        http.send(request("GET", "/api/v1/online") + request("HEAD", "/api/v1/messages", Authorization="Bearer x")
                  + request("GET", "/healthz"))
        assert (await http.answer()).status == 401
        answer = await http.answer(to_head=True)
        assert (answer.status, answer.headers["allow"]) == (405, "POST")
        assert (await http.answer()).status == 200
        # With a body, refused before it is read: the connection ends, and the answer says so (RFC 9112 §9.6).
        http.send(request("POST", "/api/v1/messages", b'{"room": "lobby"}') + request("GET", "/healthz"))
        answer = await http.answer()
        assert (answer.status, answer.headers["connection"]) == (401, "close")
        assert await http.ended()
    finally:
        http.close()


async def test_an_absolute_form_target_is_the_same_request(server):
    """RFC 9112 §3.2.2: a server must accept ``GET http://host/path``; it got an HTML 404."""
    key = api_key(server, "read")
    http = await RawHTTP.open(server.port)
    http.send(request("GET", f"http://127.0.0.1:{server.port}/api/v1/online", Authorization=f"Bearer {key}")
              + request("GET", f"http://127.0.0.1:{server.port}/healthz"))
    online, health = await http.answer(), await http.answer()
    http.close()
    assert (online.status, json.loads(online.body)) == (200, {"count": 0}), online
    assert health.status == 200 and json.loads(health.body)["status"] == "ok"


async def test_missing_wrong_revoked_keys_are_401_and_store_nothing(server, user):
    alice = await user("alice", "lobby")
    send = {**SEND, "as": alice.welcome["user"]["id"]}
    key = api_key(server, "publish", name="shop")
    wrong = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")
    for credentials in (None, "Bearer", "Basic abc", f"Bearer {wrong}", "Bearer chatd_x_y", f"Bearer {key} extra"):
        status, body, headers = await api_call(server, "POST", "/messages", send,
                                               headers={"Authorization": credentials} if credentials else None)
        assert status == 401 and body["error"]["code"] == "unauthorized", credentials
        assert headers["Www-Authenticate"].startswith("Bearer")
    assert (await api_call(server, "POST", "/messages", send, key=key))[0] == 201
    assert server.store.api_keys.revoke("shop").revoked is not None
    status, body, _ = await api_call(server, "POST", "/messages", send, key=key)
    assert status == 401 and "revoked" in body["error"]["message"]
    assert (await server.store.stats())["messages"] == 1


async def test_a_key_without_the_scope_is_403_and_stores_nothing(server, user):
    alice = await user("alice", "lobby")
    uid = alice.welcome["user"]["id"]
    key = api_key(server, "read")
    status, body, _ = await api_call(server, "POST", "/messages", {**SEND, "as": uid}, key=key)
    assert status == 403 and body["error"]["code"] == "forbidden"
    status, body, _ = await api_call(server, "POST", f"/users/{uid}/disconnect", {}, key=key)
    assert status == 403
    status, body, _ = await api_call(server, "POST", "/batch", {"operations": [
        {"op": "send_message", "args": {**SEND, "as": uid}}, {"op": "all_online"}]}, key=key)
    assert status == 200 and [r["status"] for r in body["results"]] == [403, 200]
    assert (await server.store.stats())["messages"] == 0


async def test_a_bound_key_posts_as_its_user_only(server, user):
    alice, bob = await user("alice", "lobby"), await user("bob", "lobby")
    key = api_key(server, "publish", user=alice.welcome["user"]["id"])
    status, body, _ = await api_call(server, "POST", "/messages", SEND, key=key)
    assert status == 201 and body["from"]["name"] == "alice"
    status, body, _ = await api_call(server, "POST", "/messages", {**SEND, "as": bob.welcome["user"]["id"]}, key=key)
    assert status == 403


async def test_unknown_paths_and_methods_are_json(server):
    key = api_key(server, "read")
    assert (await api_call(server, "GET", "/nothing", key=key))[0] == 404
    for method in ("DELETE", "OPTIONS", "TRACE"):  # refused by the API, or by Tornado before it
        status, body, headers = await api_call(server, method, "/messages", key=key)
        assert status == 405 and body["error"]["code"] == "method_not_allowed"
        assert headers["Allow"] == "POST"  # RFC 9110 §15.5.6


async def test_whole_numbers_written_with_a_fraction_part_are_whole_numbers(server, user):
    alice = await user("alice", "lobby")
    key = api_key(server, "publish")
    uid = float(alice.welcome["user"]["id"])  # PHP's json_encode writes a float 7 as 7.0
    status, body, _ = await api_call(server, "POST", "/messages", {**SEND, "as": uid}, key=key)
    assert status == 201 and body["from"]["id"] == uid
    # not whole; too large to be exact (2**53 + 1 reads as 2**53, so from 2**53 on a float may be another id)
    for number in (uid + 0.5, 2.0**60, 2.0**53, float(2**53 + 1)):
        status, body, _ = await api_call(server, "POST", "/messages", {**SEND, "as": number}, key=key)
        assert status == 400 and "'as'" in body["error"]["message"], number


async def test_an_id_of_more_digits_than_any_is_named_out_of_range(server, user):
    """protocol.md: an id out of range is refused as such "however many digits it has" (a literal of more
    than 20 digits is read as a float, which must not be taken for one written with a fraction part)."""
    key, reader = api_key(server, "publish"), api_key(server, "read")
    for literal in (b"99999999999999999999", b"123456789012345678901234567890", b"1" + b"0" * 400):
        status, body, _ = await api_call(server, "POST", "/messages", key=key,
                                         raw=b'{"room": "lobby", "text": "x", "as": ' + literal + b"}")
        assert status == 400 and "must be a user id" in body["error"]["message"], body
        status, body, _ = await api_call(server, "GET", f"/users/{literal.decode()}/online", key=reader)
        assert status == 400 and "must be a user id" in body["error"]["message"], body


async def test_a_compressed_body_is_refused_naming_its_encoding(server):
    key = api_key(server, "publish")
    status, body, _ = await api_call(server, "POST", "/messages", key=key, raw=gzip.compress(b'{"text": "x"}'),
                                     headers={"Content-Encoding": "gzip"})
    assert (status, body["error"]["code"]) == (400, "bad_request")
    assert "Content-Encoding 'gzip'" in body["error"]["message"]


async def test_null_is_absent_as_the_document_says(server, user):
    alice = await user("alice", "lobby")
    key = api_key(server, "publish", "read")
    send = {**SEND, "to": None, "as": alice.welcome["user"]["id"]}
    assert (await api_call(server, "POST", "/messages", send, key=key))[0] == 201
    document = (await api_call(server, "GET", "/openapi.json", key=key))[1]
    body = document["paths"]["/api/v1/messages"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert {"type": "null"} in body["properties"]["to"]["anyOf"] and "null" not in str(body["properties"]["text"])


async def test_a_body_without_a_content_length_is_told_so_not_called_empty(server, user):
    # bb21: an HTTP/1.0 POST with a JSON body but no Content-Length was told "the body is empty".
    # RFC 9112 §6.3: without Content-Length or Transfer-Encoding a request's body has length zero.
    await user("alice", "lobby")
    key = api_key(server, "publish")
    fields = "; it must be a JSON object of the fields room, to, to_sub, text, as, as_sub"
    for version, body, said in [
        ("HTTP/1.0", json.dumps(SEND).encode(), "the request has no body: it has no Content-Length (HTTP/1.0 has no "
                                                "other way to send one)"),
        ("HTTP/1.1", b"", "the request has no body: it has neither a Content-Length nor Transfer-Encoding: chunked"),
    ]:
        http = await RawHTTP.open(server.port)
        try:
            http.send(unframed("POST", "/api/v1/messages", version, body, Authorization=f"Bearer {key}",
                               Content_Type="application/json"))
            answer = await http.answer()
            assert (answer.status, json.loads(answer.body)["error"]) == (400, {"code": "bad_request",
                                                                               "message": said + fields}), version
        finally:
            http.close()


async def test_no_cors_headers(server):
    key = api_key(server, "read")
    _, _, headers = await api_call(server, "GET", "/online", key=key, headers={"Origin": "https://evil.example"})
    assert not any(h.lower().startswith("access-control-") for h in headers)


async def test_an_empty_body_is_refused_as_empty_where_one_is_needed(server, user):
    """An empty body counted as `{}`: POST /messages answered "'text' is required", not what is wrong.
    Where every field is optional (PATCH, disconnect) an empty body still stands for `{}`."""
    alice = await user("alice", "lobby")
    key = api_key(server, "publish", "manage")
    for method, path in (("POST", "/messages"), ("POST", "/rooms/lobby/members"), ("POST", "/rooms")):
        for raw in (b"", b" \r\n"):
            status, body, _ = await api_call(server, method, path, key=key, raw=raw)
            assert (status, body["error"]["code"]) == (400, "bad_request"), (path, body)
            assert body["error"]["message"].startswith("the body is empty; it must be a JSON object of the fields ")
    status, body, _ = await api_call(server, "POST", "/messages", key=key, raw=b"")
    assert body["error"]["message"].endswith("of the fields room, to, to_sub, text, as, as_sub"), body
    assert (await api_call(server, "PATCH", "/rooms/lobby", key=key, raw=b""))[0] == 200
    status, body, _ = await api_call(server, "POST", f"/users/{alice.welcome['user']['id']}/disconnect", key=key,
                                     raw=b"")
    assert status < 300, body


@pytest.mark.parametrize("given", [{"op": "all_online"}, "all_online", []])
async def test_a_batch_that_is_no_list_of_operations_is_refused_without_a_bound_not_in_force(server, given):
    # bb20: a non-list was told "a list of 1 to 100000 items", the schema's bound, while api.batch_max is 1,000.
    key = api_key(server, "read")
    status, body, _ = await api_call(server, "POST", "/batch", {"operations": given}, key=key)
    assert status == 400 and body["error"]["code"] == "bad_request"
    assert "100000" not in body["error"]["message"]
    assert ("must be a list" if given != [] else "must hold at least 1 item, not 0") in body["error"]["message"]


@pytest.mark.parametrize("method, template, part", PATH_PARTS)
async def test_a_part_of_the_path_that_is_not_utf8_is_named_and_the_connection_kept(server, method, template, part):
    # bb20: a bare "Bad Request" and the connection closed; the reason was only in the log.
    key = api_key(server, *{op.scope for op in operations() if op.scope})
    path = re.sub(r"{(\w+)}", lambda m: "%ff%fe" if m[1] == part else "1", template)
    http = await RawHTTP.open(server.port)
    try:
        http.send(request(method, f"/api/v1{path}", Authorization=f"Bearer {key}") + request("GET", "/healthz"))
        answer = await http.answer()
        assert (answer.status, json.loads(answer.body)["error"]) == (400, {
            "code": "bad_request", "message": f"the {part} in the address is not UTF-8, percent-encoded"})
        assert "connection" not in answer.headers
        assert (await http.answer()).status == 200  # the request behind it, on the same connection
    finally:
        http.close()

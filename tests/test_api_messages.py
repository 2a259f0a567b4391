"""POST /api/v1/messages against a real server over HTTP, with real WebSocket clients."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request

import pytest

from tests.apiclient import api_call, api_key
from tests.rawhttp import RawHTTP, request


async def count_messages(server) -> int:
    return (await server.store.stats())["messages"]


async def test_a_message_to_a_user_reaches_all_their_sessions(server, connect, user):
    alice = await user("alice")
    second = await (await connect()).enter(token=alice.welcome["token"])
    bob = await user("bob")
    key = api_key(server, "publish")
    uid, bid = alice.welcome["user"]["id"], bob.welcome["user"]["id"]
    status, body, _ = await api_call(server, "POST", "/messages", {"to": uid, "text": "your order shipped", "as": bid},
                                     key=key)
    assert status == 201 and body["to"]["id"] == uid and body["text"] == "your order shipped"
    for client in (alice, second):
        message = await client.expect("message")
        assert message["id"] == body["id"] and message["from"] == {"id": bid, "name": "bob"}


async def test_a_room_message_reaches_its_members(server, user):
    alice, bob = await user("alice", "lobby"), await user("bob", "lobby")
    key = api_key(server, "publish")
    status, body, _ = await api_call(server, "POST", "/messages",
                                     {"room": "lobby", "text": "sale!", "as": alice.welcome["user"]["id"]}, key=key)
    assert status == 201
    assert (await bob.expect("message"))["id"] == body["id"]
    assert (await alice.expect("message"))["text"] == "sale!"


async def test_a_retried_idempotency_key_stores_once_and_answers_the_same(server, user):
    alice = await user("alice", "lobby")
    key = api_key(server, "publish")
    request = {"room": "lobby", "text": "once", "as": alice.welcome["user"]["id"]}
    first = await api_call(server, "POST", "/messages", request, key=key, headers={"Idempotency-Key": "k-1"})
    again = await api_call(server, "POST", "/messages", request, key=key, headers={"Idempotency-Key": "k-1"})
    assert first[0] == again[0] == 201 and first[1] == again[1]
    assert again[2].get("Idempotent-Replayed") == "true"
    assert await count_messages(server) == 1
    other = await api_call(server, "POST", "/messages", {**request, "text": "another"}, key=key,
                           headers={"Idempotency-Key": "k-1"})
    assert other[0] == 422 and other[1]["error"]["code"] == "idempotency_key_reused"
    assert await count_messages(server) == 1


async def test_an_idempotency_key_sent_twice_is_refused_not_joined(server, user):
    """Two Idempotency-Key headers would read as one key "A,B" that a retry with "A" does not match:
    the request is refused, as a repeated query argument or JSON field is."""
    alice = await user("alice", "lobby")
    body = json.dumps({"room": "lobby", "text": "x", "as": alice.welcome["user"]["id"]}).encode()
    http = await RawHTTP.open(server.port)
    http.send(request("POST", "/api/v1/messages", body, Authorization=f"Bearer {api_key(server, 'publish')}",
                      Content_Type="application/json").replace(b"Host: chatd\r\n",
                                                               b"Host: chatd\r\nIdempotency-Key: A\r\n"
                                                               b"Idempotency-Key: B\r\n"))
    answer = await http.answer()
    http.close()
    assert answer.status == 400 and b"Idempotency-Key header is given twice" in answer.body
    assert await count_messages(server) == 0


async def test_an_authorization_sent_twice_is_refused_by_its_name(server, user):
    """Two Authorization headers (even one key twice) read as one value "Bearer K,Bearer K", which
    was refused as "not a chatd API key": the refusal names the header sent twice, nothing is
    stored; the same for POST /upload and its resume token."""
    alice = await user("alice", "lobby")
    key = api_key(server, "publish")
    body = json.dumps({"room": "lobby", "text": "x", "as": alice.welcome["user"]["id"]}).encode()
    for path, bearer in (("/api/v1/messages", key), ("/upload?name=a.txt", alice.welcome["token"])):
        http = await RawHTTP.open(server.port)
        http.send(request("POST", path, body, Authorization=f"Bearer {bearer}", Content_Type="application/json")
                  .replace(b"Host: chatd\r\n", f"Host: chatd\r\nAuthorization: Bearer {bearer}\r\n".encode()))
        answer = await http.answer()
        http.close()
        assert answer.status == 400, (path, answer.status, answer.body)
        error = json.loads(answer.body)["error"]
        assert error["code"] == "bad_request" and "the Authorization header is given 2 times" in error["message"]
    assert await count_messages(server) == 0


async def test_two_unequal_content_lengths_are_refused_saying_so_and_nothing_is_stored(server, user):
    """bb19: Tornado refused them with a bare 400, no body, before chatd saw the request. The
    answer is a 400 saying Tornado's reason (chatd.web.headlimit), with the connection ended."""
    alice = await user("alice", "lobby")
    key = api_key(server, "publish")
    body = json.dumps({"room": "lobby", "text": "x", "as": alice.welcome["user"]["id"]}).encode()
    http = await RawHTTP.open(server.port)
    try:
        http.send(request("POST", "/api/v1/messages", body, Authorization=f"Bearer {key}",
                          Content_Type="application/json")
                  .replace(b"Host: chatd\r\n", f"Host: chatd\r\nContent-Length: {len(body) + 1}\r\n".encode()))
        answer = await http.answer()
        assert (answer.status, answer.headers["connection"]) == (400, "close")
        assert b"Multiple unequal Content-Lengths" in answer.body
        assert await http.ended()
    finally:
        http.close()
    assert await count_messages(server) == 0


async def test_concurrent_retries_with_one_key_store_one_message(server, user):
    alice = await user("alice", "lobby")
    key = api_key(server, "publish")
    request = {"room": "lobby", "text": "at once", "as": alice.welcome["user"]["id"]}
    answers = await asyncio.gather(*(api_call(server, "POST", "/messages", request, key=key,
                                              headers={"Idempotency-Key": "same"}) for _ in range(8)))
    assert {(status, body["id"]) for status, body, _ in answers} == {(201, answers[0][1]["id"])}
    assert await count_messages(server) == 1


@pytest.mark.postgres
async def test_retries_on_two_nodes_of_postgresql_store_one_message(cluster_nodes, postgres_url):
    c = await cluster_nodes(2, database=postgres_url)
    alice = await c.user(c.nodes[0], "alice", "lobby")
    key = api_key(c.nodes[0], "publish")
    request = {"room": "lobby", "text": "once", "as": alice.welcome["user"]["id"]}
    answers = await asyncio.gather(*(api_call(node, "POST", "/messages", request, key=key,
                                              headers={"Idempotency-Key": "pg-1"}) for node in c.nodes * 4))
    assert {(status, body["id"]) for status, body, _ in answers} == {(201, answers[0][1]["id"])}
    assert sum(headers.get("Idempotent-Replayed") == "true" for _, _, headers in answers) == 7
    other = await api_call(c.nodes[1], "POST", "/messages", {**request, "text": "another"}, key=key,
                           headers={"Idempotency-Key": "pg-1"})
    assert (other[0], other[1]["error"]["code"]) == (422, "idempotency_key_reused")
    assert await count_messages(c.nodes[0]) == 1


async def test_hostile_bodies_get_4xx_json_and_store_nothing(server, user):
    alice = await user("alice", "lobby")
    uid = alice.welcome["user"]["id"]
    key = api_key(server, "publish")
    bodies = [b"{", b"[]", b"null", b'{"room": "lobby", "text": "hi", "as": 1, "room": "x"}',
              b'{"room": "lobby", "text": NaN, "as": 1}', b'{"room": "lobby", "text": "\\ud83d", "as": 1}',
              b'{"room": "lobby", "text": 5, "as": 1}', b'{"room": "lobby", "text": "hi", "as": "1"}',
              b'{"room": "lobby", "text": "hi", "as": 1, "extra": 1}', b'{"room": "no room!", "text": "hi", "as": 1}',
              b'{"room": "nowhere", "text": "hi", "as": 1}', b'{"to": 99999, "text": "hi", "as": 1}',
              b'{"room": "lobby", "to": 1, "text": "hi", "as": 1}', b'{"room": "lobby", "text": "   ", "as": 1}',
              ('{"room": "lobby", "text": "%s", "as": 1}' % ("x" * 4001)).encode(), b"\xff\xfe",
              b'{"room": "lobby", "text": "a\\u0000b", "as": 1}', b'{"room": "lobby", "text": "hi", "as": 123456789}',
              b"[" * 100_000, b'{"room": "lobby", "text": "hi", "as": 1e400}']
    for raw in bodies:
        raw = raw.replace(b'"as": 1', f'"as": {uid}'.encode())
        status, body, _ = await api_call(server, "POST", "/messages", raw=raw, key=key)
        # The code and words, and the refusal's fields where it has them (a room name's rule: docs/api.md).
        assert 400 <= status < 500 and set(body["error"]) >= {"code", "message"}, (raw[:60], status, body)
    status, body, _ = await api_call(server, "POST", "/messages", raw=b"x" * (1024 * 1024 + 1), key=key)
    assert status == 413 and body["error"]["code"] == "payload_too_large"
    assert await count_messages(server) == 0


async def test_idempotency_holds_on_both_stores_and_across_two_nodes(store_url):
    """Two stores on one database (two nodes): concurrent drafts under one key store one message."""
    from chatd.store import Draft, Once, ReusedKey
    from tests.stores import new_user, opened, save

    first, second = opened(store_url, shared=True), opened(store_url, shared=True)
    try:
        sender = await new_user(first, "shop")
        key_id = first.api_keys.create("k", "0" * 12, "x", ["publish"], None)
        once = Once(key_id, "retry-me", "same", 0)
        drafts = [Draft(sender, "shop", "hello", recipient_id=sender, once=once) for _ in range(6)]
        results = await asyncio.gather(*(save(store, d) for store, d in zip([first, second] * 3, drafts, strict=True)))
        assert len({r.row.id for r in results}) == 1 and sum(not r.duplicate for r in results) == 1
        other = Draft(sender, "shop", "other", recipient_id=sender, once=once._replace(fingerprint="else"))
        try:
            await save(first, other)
            raise AssertionError("a reused key was accepted")
        except ReusedKey:
            pass
    finally:
        first.close()
        second.close()


async def test_nothing_is_posted_as_a_deleted_user(server, user):
    """A deleted user's row stays (kind "deleted", name "[deleted]"), but nothing acts as it: ``as``
    it is 410 ``user_deleted``, alone or in a batch, and its bound keys went with it."""
    from tests.adminclient import ROOT

    gone, bob = await user("gone", "lobby"), await user("bob", "lobby")
    gid = gone.welcome["user"]["id"]
    bound = api_key(server, "publish", user=gid)
    await server.chat.user_care.delete(ROOT, gid)
    key = api_key(server, "publish")
    status, body, _ = await api_call(server, "POST", "/messages", {"room": "lobby", "text": "boo", "as": gid}, key=key)
    assert (status, body["error"]["code"]) == (410, "user_deleted") and f"user {gid} was deleted" in body["error"][
        "message"]
    status, body, _ = await api_call(server, "POST", "/batch", {"operations": [
        {"op": "send_message", "args": {"to": bob.welcome["user"]["id"], "text": "boo", "as": gid}}]}, key=key)
    assert status == 200 and [(r["status"], r["body"]["error"]["code"]) for r in body["results"]] == [
        (410, "user_deleted")]
    status, body, _ = await api_call(server, "POST", "/messages", {"room": "lobby", "text": "boo"}, key=bound)
    assert status == 401, "a deleted user's keys are gone"
    assert await count_messages(server) == 0


def _post_whole_body_then_read(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    """As Python's urllib sends: the whole body written before the answer is read."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, body, headers), timeout=60) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


@pytest.mark.parametrize("path", ["/api/v1/messages", "/upload?name=big.bin"])
async def test_a_body_over_the_limit_is_answered_413_to_a_client_that_sends_it_all_first(server, user, path):
    # bb20: 4-60 MB bodies were answered 413 and the socket closed with the body unread: the reset lost the
    # answer to urllib (URLError: connection reset by peer), which the docs' example client uses.
    alice = await user("alice", "lobby")
    key = api_key(server, "publish") if path.startswith("/api/") else alice.welcome["token"]
    limit = server.config.api.max_body_bytes if path.startswith("/api/") else server.config.uploads.max_bytes
    body = b"x" * max(limit * 3, 8 << 20)  # a reset lost the answer 5 times in 5 from 4 MB (bb20)
    status, answer = await asyncio.to_thread(
        _post_whole_body_then_read, f"http://127.0.0.1:{server.port}{path}", body,
        {"Authorization": f"Bearer {key}", "Content-Type": "application/octet-stream"})
    code = "payload_too_large" if path.startswith("/api/") else "file_too_large"
    assert status == 413 and json.loads(answer)["error"]["code"] == code
    assert await count_messages(server) == 0


async def test_a_body_is_read_as_utf_8_json_whatever_tool_sent_it(server, user):
    # bb20: a byte-order mark (PowerShell's Out-File writes one) was told "Expecting value: line 1
    # column 1"; a body declared in another charset was read as UTF-8 all the same.
    alice = await user("alice", "lobby")
    key = api_key(server, "publish")
    sent = json.dumps({"room": "lobby", "text": "héllo", "as": alice.welcome["user"]["id"]})
    status, body, _ = await api_call(server, "POST", "/messages", raw=b"\xef\xbb\xbf" + sent.encode(), key=key)
    assert (status, body["text"]) == (201, "héllo")
    status, body, _ = await api_call(server, "POST", "/messages", raw=sent.encode("latin-1"), key=key,
                                     headers={"Content-Type": "application/json; charset=ISO-8859-1"})
    assert (status, body["error"]) == (400, {"code": "bad_request", "message": (
        "the body is sent as charset=ISO-8859-1; JSON bodies are UTF-8 (RFC 8259 §8.1)")})
    # bb22: a charset that is not ASCII, or named twice with UTF-8 first, was taken for none.
    for content_type, said in [("application/json; charset=utf\xe9", "the body is sent as charset=utf\xe9;"),
                               ("application/json; charset=utf-8; charset=utf-16", "the Content-Type names charset "
                                                                                   "more than once")]:
        status, body, _ = await api_call(server, "POST", "/messages", raw=sent.encode(), key=key,
                                         headers={"Content-Type": content_type})
        assert (status, body["error"]["code"]) == (400, "bad_request") and body["error"]["message"].startswith(said)
    status, _, _ = await api_call(server, "POST", "/messages", raw=sent.encode(), key=key,
                                  headers={"Content-Type": 'application/json; charset="UTF-8"'})
    assert status == 201
    # A byte-order mark alone is an empty body (bb22: it was "not valid JSON").
    status, body, _ = await api_call(server, "POST", "/messages", raw=b"\xef\xbb\xbf\n", key=key)
    assert (status, body["error"]["code"]) == (400, "bad_request")
    assert body["error"]["message"].startswith("the body is empty;")
    assert await count_messages(server) == 2

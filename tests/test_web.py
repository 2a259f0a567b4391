"""The Tornado application's plain HTTP side (chatd.web): the page, static
files and /healthz, asked by a real HTTP client (http.client) of a real server."""

from __future__ import annotations

import asyncio
import http.client

import pytest

PATHS = ["/", "/static/app.js", "/static/style.css", "/healthz"]


def get_then_head_then_get(port: int, path: str) -> list[tuple[int, dict[str, str], bytes]]:
    """GET, HEAD, GET on one keep-alive connection: (status, headers, body) each.
    Had the HEAD answer carried body bytes, the second GET would read them as
    its status line and fail."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    answers = []
    try:
        for method in ("GET", "HEAD", "GET"):
            conn.request(method, path)
            response = conn.getresponse()
            answers.append((response.status, dict(response.getheaders()), response.read()))
    finally:
        conn.close()
    return answers


@pytest.mark.parametrize("path", PATHS)
async def test_head_answers_like_get_without_a_body(server, path):
    (get_status, get_headers, body), (status, headers, head_body), (again, _, _) = await asyncio.to_thread(
        get_then_head_then_get, server.port, path)
    assert get_status == status == again == 200
    assert body and head_body == b""
    assert headers["Content-Type"] == get_headers["Content-Type"]
    assert int(headers["Content-Length"]) == len(body), "HEAD tells the size GET sends"


async def test_unknown_paths_are_404_for_head_too(server):
    def head() -> int:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        try:
            conn.request("HEAD", "/no/such/page")
            return conn.getresponse().status
        finally:
            conn.close()

    assert await asyncio.to_thread(head) == 404

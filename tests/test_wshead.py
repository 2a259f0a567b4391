"""chatd.web.wshead: the strict handshake head the accept path answers itself,
bytes in, result out; and, for every head it takes, the same fields as
Tornado's own parsing of it (a head it takes must mean what it means to Tornado)."""

from __future__ import annotations

import pytest
from tornado.httputil import HTTPHeaders

from chatd.web.wshead import INCOMPLETE, MAX_HEAD, Head, parse_head

HEAD = (b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        b"X-Forwarded-For:   10.0.0.1, 10.0.0.2  \r\nEmpty:\r\n\r\n")


def test_a_whole_head_is_taken_with_its_length_and_fields_whatever_follows():
    head = parse_head(HEAD + b"\x81\x85early")
    assert isinstance(head, Head) and head.length == len(HEAD)
    assert head.fields.get("sec-websocket-key") == "dGhlIHNhbXBsZSBub25jZQ=="
    assert head.fields.get("HOST") == "127.0.0.1:8080" and "Upgrade" in head.fields and "Origin" not in head.fields
    assert head.fields.get_list("X-Forwarded-For") == ["10.0.0.1, 10.0.0.2"]
    assert head.fields.get_list("X-Real-IP") == [] and head.fields.get("Origin", "") == ""
    assert head.fields.get("Empty") == ""


@pytest.mark.parametrize("cut", range(len(HEAD)))
def test_every_prefix_of_a_head_is_incomplete(cut):
    assert parse_head(HEAD[:cut]) is INCOMPLETE


@pytest.mark.parametrize("data", [
    b"GET /wss HTTP/1.1\r\n", b"GET /ws?x=1 HTTP/1.1\r\n", b"POST /ws HTTP/1.1\r\n", b"get /ws HTTP/1.1\r\n",
    b"GET /ws HTTP/1.0\r\n", b"\r\nGET /ws HTTP/1.1\r\n",  # Tornado strips empty lines before a request
    b"GET /ws HTTP/1.1\nHost: x\n",  # LF alone ends lines (and a head) for Tornado
    b"GET /ws HTTP/1.1\r\nHost: x\n\n",
    b"GET /ws HTTP/1.1\r\n" + b"X: " + b"y" * MAX_HEAD,  # too long to look at
], ids=repr)
def test_what_can_never_become_a_taken_head_is_not_waited_for(data):
    assert parse_head(data) is None


@pytest.mark.parametrize("line", [
    b"Host: a\r\nHost: b",  # several: Tornado joins them
    b"host: a\r\nHOST: b",
    b"X: a\tb", b"X: caf\xc3\xa9", b"X: a\rb", b"X: a\x00b", b"X: a\x7fb",
    b" X: folded", b"X: a\r\n continued", b"Bad Name: x", b"X", b"X; y", b"(X): y",
], ids=repr)
def test_a_head_outside_the_strict_form_goes_to_tornado(line):
    assert parse_head(b"GET /ws HTTP/1.1\r\n" + line + b"\r\n\r\n") is None


@pytest.mark.parametrize("data", [
    HEAD,
    b"GET /ws HTTP/1.1\r\n\r\n",
    b"GET /ws HTTP/1.1\r\nA:b\r\nc-D:  e  f \r\nx!#$%&'*+-.^_`|~9: !\"~\r\n\r\n",
], ids=repr)
def test_the_fields_taken_are_tornados(data):
    head = parse_head(data)
    assert isinstance(head, Head)
    text = data[:head.length].decode("latin1")
    tornado = HTTPHeaders.parse(text[text.find("\n"):])
    assert sorted((k.lower(), v) for k, v in tornado.get_all()) == sorted(head.fields.items())
    for name in tornado:
        assert head.fields.get(name) == tornado.get(name) and head.fields.get_list(name) == tornado.get_list(name)

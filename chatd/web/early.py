"""Refusals given before a request's body is read, by the handlers that
stream it (``stream_request_body``: the HTTP API, the admin API, uploads
and files, a URL no route serves, a method a plain handler does not take),
without losing the requests a client pipelined behind it.

Tornado runs such a handler's ``prepare`` at the request's headers. An
answer given then, or while the body comes (one past its cap), ends the
connection once written: the only other way would be to read a body nobody
wants (``tornado.http1connection.HTTP1Connection.finish``). But it has
written the answer's headers by the time it decides so, without
``Connection: close``, and a request pipelined behind was dropped unanswered
(RFC 9112 §9.6: a server that closes says so in its answer). So:

- a request without a body (RFC 9112 §6.3: no Transfer-Encoding, a
  Content-Length of 0 or none) has nothing left to read: its refusal is
  *held* until Tornado has seen the request's end, and answered then by the
  handler's ``write_error`` in place of its method (which never runs); the
  connection goes on to the next request;
- a refusal of a request with a body is answered at once, with
  ``Connection: close``: its body is not read, but drained at the close
  (``HeadLimitStream.linger``): closing a socket with unread bytes resets
  it, and a client that writes its whole body before reading (Python's
  urllib) would lose the answer to the reset.

    class Handler(EarlyRefusals, tornado.web.RequestHandler):
        async def prepare(self):
            try: ...
            except Refused as e:
                if self.answer_now(e): raise   # else write_error answers it in place of the method
"""

from __future__ import annotations

from typing import Any

from tornado.httputil import HTTPHeaders, HTTPServerRequest

from chatd.web.headlimit import HeadLimitStream


def has_body(headers: HTTPHeaders) -> bool:
    """Whether a request carries a body (RFC 9112 §6.3): a Transfer-Encoding, or a
    Content-Length other than 0 (one that is not a number counts as a body: Tornado
    refuses it before any handler runs)."""
    if "Transfer-Encoding" in headers:
        return True
    length = headers.get("Content-Length", "0").strip()
    return not length.isdigit() or int(length) > 0


def unframed(request: HTTPServerRequest) -> str | None:
    """Why a request that came without a body had none, when it said nothing of one: neither a
    Content-Length nor a Transfer-Encoding (RFC 9112 §6.3: its body is then empty, whatever
    bytes follow its head; HTTP/1.0 has no chunked bodies). A refusal's words, true whether
    the client sent bytes behind its head or not; None when it said its length (0)."""
    if "Content-Length" in request.headers or "Transfer-Encoding" in request.headers:
        return None
    if request.version == "HTTP/1.0":
        return "the request has no body: it has no Content-Length (HTTP/1.0 has no other way to send one)"
    return "the request has no body: it has neither a Content-Length nor Transfer-Encoding: chunked"


class EarlyRefusals:
    """Mixin for a ``stream_request_body`` handler (put it before
    ``tornado.web.RequestHandler``). ``held``: the refusal kept for the request's end."""

    held: Exception | None = None
    undecodable: Exception | None = None  # the refusal of a part of the path (``path_refused``)
    _closes = False  # the answer ends the connection

    def path_refused(self, refusal: Exception, value: bytes) -> str:
        """For the handler's ``decode_argument``, a part of the path that is not UTF-8: Tornado
        decodes the path before ``prepare``, and a refusal raised there is answered before the
        request's end and ends the connection, body or none (bb23: a pipelined request behind
        ``GET /files/%ff/x`` was dropped). So it is noted, for ``prepare`` to give through
        ``answer_now`` (``check_path``); → a stand-in for the part, never used."""
        if self.undecodable is None:
            self.undecodable = refusal
        return value.decode("utf-8", "replace")

    def check_path(self) -> None:
        """In ``prepare``: raise the refusal ``path_refused`` noted, if any."""
        if self.undecodable is not None:
            raise self.undecodable

    def answer_now(self, refusal: Exception) -> bool:
        """A refusal met before the body is read (in ``prepare`` or
        ``data_received``): True when it must be answered now, and the answer
        will say ``Connection: close``; False when the request has no body: it
        is kept in ``held``, and at the request's end ``write_error`` answers it
        in place of the handler's method (Tornado calls the one it finds on the handler)."""
        request = self.request  # type: ignore[attr-defined]
        if has_body(request.headers):
            self._close()
            return True
        self.held = refusal
        setattr(self, request.method.lower(), self._raise_held)
        return False

    def _close(self) -> None:
        """Make the answer end the connection, saying so, and drain a body behind it at the close."""
        self._closes = True
        self.set_header("Connection", "close")  # type: ignore[attr-defined]
        # An HTTP/1.0 request's "Connection: keep-alive" made Tornado answer "Keep-Alive" over ours,
        # and then close all the same (bb23): the wish is withdrawn, as the answer ends it.
        self.request.headers["Connection"] = "close"  # type: ignore[attr-defined]
        stream = getattr(self.request.connection, "stream", None)  # type: ignore[attr-defined]
        if isinstance(stream, HeadLimitStream):  # (every server stream: chatd.web.arrivals)
            stream.linger = True

    def _raise_held(self, *args: str, **kwargs: str) -> None:
        # Answered as Tornado answers what a method raises, without its log of an exception that is
        # no HTTPError: the handler's write_error sets the refusal's own status.
        held = self.held
        self.send_error(getattr(held, "status_code", 400), exc_info=(type(held), held, None))  # type: ignore[attr-defined]

    def send_error(self, status_code: int = 500, **kwargs: Any) -> None:
        """Tornado's. What Tornado refuses before ``prepare`` has run (a method it does not know,
        a path it cannot decode) is answered before the request's end is read, body or none, and
        Tornado then ends the connection: the answer says so (bb22: it did not, and a request
        pipelined behind was dropped unanswered), and a body behind it is drained."""
        # Tornado's, not public: done once prepare has run, and only then is the body read
        # (tests/test_header_refusals.py and test_plain_refusals.py fail if it goes).
        prepared = getattr(self, "_prepared_future", None)
        if not self._closes and prepared is not None and not prepared.done():
            self._close()
        super().send_error(status_code, **kwargs)  # type: ignore[misc]

    def clear(self) -> None:
        """Tornado's, keeping ``Connection: close``: an error raised goes through
        ``send_error``, which clears the headers set before it."""
        super().clear()  # type: ignore[misc]
        if self._closes:
            self.set_header("Connection", "close")  # type: ignore[attr-defined]

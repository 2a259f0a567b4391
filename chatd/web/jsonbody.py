"""A request's JSON body, as the HTTP API and the admin API read it: one reader for both.

The handler streams its body (``stream_request_body``, with ``chatd.web.early.EarlyRefusals``),
so that what does not depend on the body is refused before it is read: a ``Content-Length``
over the handler's cap (``check_length``, in ``prepare``), and a body that passes it as it comes
(``data_received``: a chunked one says no length). The body is then read as strictly as a
WebSocket frame (``chatd.strictjson``): no Content-Encoding, UTF-8, no NaN, no repeated names,
bounded nesting, no unpaired surrogates.

    class Handler(JsonBody, EarlyRefusals, tornado.web.RequestHandler):   # (stream_request_body)
        def body_cap(self): return 65536
        def body_refused(self, e): return MyError(e.status, e.code, e.message)   # its write_error answers it
        async def prepare(self): ...; self.check_length()
        async def post(self): args = self.json_object(("name",))
"""

from __future__ import annotations

import codecs
from collections.abc import Sequence
from email.message import Message
from email.utils import collapse_rfc2231_value
from typing import Any

from chatd.strictjson import NotJSON, Refused, displayable, ill_formed, loads, may_be_ill_formed
from chatd.web.early import unframed

TOO_LARGE = 413


class BodyRefused(Exception):
    """A body refused: HTTP ``status``, a stable ``code`` (``bad_request``, ``bad_json``,
    ``payload_too_large``) and the message naming the problem."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def read_json(body: bytes, content_type: str = "") -> Any:
    """A request body as JSON, read as strictly as a WebSocket frame; BodyRefused (400) naming the
    problem. ``content_type``: the request's; a charset it names must be UTF-8, the one JSON has
    (RFC 8259 §8.1). A leading byte-order mark is skipped, as the same section lets a reader do
    (Windows tools write one)."""
    charsets = _charsets(content_type)
    if len(charsets) > 1:  # RFC 6838 §4.3: a parameter named twice is an error; none of them is taken
        raise BodyRefused(400, "bad_request", "the Content-Type names charset more than once")
    if charsets and charsets[0].lower() not in ("utf-8", "utf8"):
        raise BodyRefused(400, "bad_request", f"the body is sent as charset={displayable(charsets[0], 40)}; "
                                              "JSON bodies are UTF-8 (RFC 8259 §8.1)")
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise BodyRefused(400, "bad_json", f"the body is not UTF-8 (byte {e.start})") from None
    try:
        data = loads(text)
    except NotJSON as e:
        raise BodyRefused(400, "bad_json", f"the body is not valid JSON: {e}") from None
    except Refused as e:
        raise BodyRefused(400, "bad_request", str(e)) from None
    problem = ill_formed(data) if may_be_ill_formed(text) else None
    if problem:
        raise BodyRefused(400, "bad_request", problem)
    return data


def _charsets(content_type: str) -> list[str]:
    """The values of every charset parameter of ``content_type``, unquoted, as sent (a value
    that is not ASCII too: ``Message.get_content_charset`` answered None for it, as for none)."""
    message = Message()
    message["Content-Type"] = content_type
    return [collapse_rfc2231_value(value) for name, value in message.get_params(failobj=[])[1:] if name == "charset"]


def is_empty(body: bytes) -> bool:
    """Whether a request body says nothing: no bytes, white space, or a byte-order mark alone."""
    return not body.removeprefix(codecs.BOM_UTF8).strip()


class JsonBody:
    """Mixin for a ``stream_request_body`` handler with ``EarlyRefusals`` (before both): its body
    gathered as it comes, never beyond ``body_cap()`` bytes, and read as a JSON object.
    ``body_refused`` turns a BodyRefused into the refusal the handler's ``write_error`` answers."""

    CAP_NAME = ""  # what sets the cap, named in the 413 ("api.max_body_bytes")
    _chunks: list[bytes] | None = None
    _size = 0

    def body_cap(self) -> int:
        """The most bytes a body may have."""
        raise NotImplementedError

    def body_refused(self, error: BodyRefused) -> Exception:
        """``error`` as the handler's own refusal."""
        raise NotImplementedError

    def _too_large(self) -> Exception:
        said = f"the body is larger than {self.body_cap()} bytes" + (f" ({self.CAP_NAME})" if self.CAP_NAME else "")
        return self.body_refused(BodyRefused(TOO_LARGE, "payload_too_large", said))

    def check_length(self) -> None:
        """The handler's refusal, raised, when the request's Content-Length is over the cap."""
        length = self.request.headers.get("Content-Length")  # type: ignore[attr-defined]
        if length is not None and length.isdigit() and int(length) > self.body_cap():
            raise self._too_large()

    def data_received(self, chunk: bytes) -> None:
        """Kept, up to the cap; past it the request is refused at once (and the rest dropped)."""
        if self._finished:  # type: ignore[attr-defined]  # refused: the rest is dropped as it comes
            return
        if self._chunks is None:
            self._chunks = []
        self._size += len(chunk)
        if self._size > self.body_cap():
            self._chunks = []
            error = self._too_large()
            if self.answer_now(error):  # type: ignore[attr-defined]  # always: a body is coming
                self.send_error(TOO_LARGE, exc_info=(type(error), error, None))  # type: ignore[attr-defined]
            return
        self._chunks.append(chunk)

    def body_bytes(self) -> bytes:
        """The body as it came (once the request's end is read)."""
        return b"".join(self._chunks or ())

    def json_object(self, needs: Sequence[str] = ()) -> dict[str, Any]:
        """The body as a JSON object; the handler's refusal, raised, naming the problem. An empty
        body is ``{}`` unless the endpoint ``needs`` fields (named in the refusal)."""
        try:
            return self._object(needs)
        except BodyRefused as e:
            raise self.body_refused(e) from None

    def _object(self, needs: Sequence[str]) -> dict[str, Any]:
        request = self.request  # type: ignore[attr-defined]
        body = self.body_bytes()
        encoding = request.headers.get("Content-Encoding", "identity").strip().lower()
        if body and encoding != "identity":  # RFC 9110 §8.4: a coding the server does not take is refused
            raise BodyRefused(400, "bad_request", f"the body is sent with Content-Encoding "
                                                  f"{displayable(encoding, 40)!r}; send it as plain JSON")
        if not is_empty(body):
            data = read_json(body, request.headers.get("Content-Type", ""))
        elif needs:  # not "missing field X": the body itself is missing
            said = unframed(request) or "the body is empty"
            raise BodyRefused(400, "bad_request", f"{said}; it must be a JSON object of the fields {', '.join(needs)}")
        else:  # every field optional: none given
            data = {}
        if not isinstance(data, dict):
            raise BodyRefused(400, "bad_request", "the body must be a JSON object")
        return data

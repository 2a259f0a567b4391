"""``POST /upload`` takes a file; ``GET /files/<id>/<name>`` (and ``/files/<id>/thumb``) serves it.

Uploading (docs/api.md, "Uploads"): the page's resume token as
``Authorization: Bearer …`` (a banned user is refused), the file as the body
(``?name=`` its name), at most ``uploads.max_bytes``: a Content-Length above
it is refused with 413 before any of the body is read, and a chunked body is
counted as it comes and refused alike once it passes the cap
(``stream_request_body``: never buffered beyond the cap). Per user,
``uploads.per_minute``. The kind is told by the content (``chatd.filetypes``),
must be one of ``uploads.types``; an image is
proved, cleaned of its metadata and thumbnailed (``chatd.imaging``) in a
thread, never on the event loop; then stored (``chatd.store.uploads``; over
``uploads.quota_bytes``: refused). The answer, 201, is the attachment as
message frames show it (``chatd.protocol.frames.attachment_ref``).

A refusal, of an upload or of a file, is ``{"error": {"code", "message"}}``
(``Refused``) with a code of ``chatd.protocol.codes.Code``, or ``bad_request``,
``not_found``, ``method_not_allowed`` as the HTTP API's; whatever Tornado
itself refuses (another method, a URL not UTF-8) is answered alike.

Serving: any node serves any file, from the store, a chunk at a time (read in
the reader pool). The URL is the capability (128 random bits). The answer is
immutable (an ETag of its SHA-256), never sniffed, sandboxed by its own CSP;
an image is shown inline with its true type, anything else is downloaded
(``Content-Disposition: attachment``). No ranges: ``Accept-Ranges: none``.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import tornado.web

from chatd.auth.bearer import RepeatedHeader, authorization, credentials
from chatd.chat import Chat
from chatd.client_refusals import DATABASE, refusal_of, unavailable
from chatd.durations import duration_text, http_retry, whole_seconds
from chatd.filetypes import IMAGE_TYPES, TEXT, TEXT_SNIFF_BYTES, disposition, safe_name, sniff
from chatd.imaging import THUMB_TYPE, ImageRefused, clean
from chatd.protocol.codes import LIMIT_UPLOADS, Code, ProtocolError
from chatd.protocol.frames import attachment_ref, error_body
from chatd.ratelimit import BucketTable
from chatd.store import DatabaseUnreachable, UserDeleted
from chatd.store.uploads import FILE, THUMB, QuotaExceeded
from chatd.web.early import EarlyRefusals, unframed
from chatd.web.head import HeadAsGet
from chatd.web.headers import SecurityHeaders
from chatd.web.plain import allowed_methods

THUMB_PX = 400  # a thumbnail's longest side: sharp on a 2x screen at the page's 200 px
IMAGE_THREADS = 2  # images decoded at once: each may take uploads.max_pixels × 4 bytes
LIMITED_USERS = 100_000  # users whose upload rate is kept (chatd.ratelimit.BucketTable)
FILE_CSP = "default-src 'none'; sandbox"  # a file is never a page: no script, no request, no origin
IMMUTABLE = "private, max-age=31536000, immutable"  # a file never changes under its URL
ROUTES = r"/files/(.*)"  # every path under /files/: one that names no file is answered in JSON too
FILE_PATH = re.compile(r"([A-Za-z0-9_-]{22})/([^/]+)")  # an upload's id, and its name or "thumb"
BAD_REQUEST, NOT_FOUND, METHOD_NOT_ALLOWED = "bad_request", "not_found", "method_not_allowed"  # the HTTP API's
NO_SUCH_FILE = ("there is no such file: its message was deleted, it was never sent and was purged, or the "
                "address is wrong")


class Refused(tornado.web.HTTPError):
    """An upload or a file refused: its HTTP ``status`` and the body's ``code`` and message.
    Raised in a handler, ``write_error`` answers it (Tornado logs no traceback for an HTTPError)."""

    def __init__(self, status: int, code: str, message: str, retry_after: float | None = None,
                 details: dict[str, Any] | None = None):
        super().__init__(status)
        self.status, self.code, self.message = status, code, message
        self.retry_after = http_retry(status, retry_after)
        self.details = details or {}  # the message's detail as fields (docs/protocol.md, "error")

    @classmethod
    def of(cls, status: int, error: ProtocolError) -> Refused:
        """A refusal of the chat core answered with ``status``, its fields kept."""
        return cls(status, error.code, error.message, error.retry_after, error.details)


class Uploads:
    """What the upload handlers of one application share: the rate per user, the image threads."""

    def __init__(self, chat: Chat):
        self.chat = chat
        self.rates = BucketTable(LIMITED_USERS)
        self.images = ThreadPoolExecutor(IMAGE_THREADS, thread_name_prefix="chatd-image")

    def admit(self, user_id: int) -> None:
        """Refused(429) when the user's ``uploads.per_minute`` is spent."""
        cfg = self.chat.config.uploads
        wait = self.rates.take(str(user_id), cfg.per_minute / 60, cfg.burst, time.monotonic())
        if wait:
            raise Refused(429, Code.RATE_LIMITED, f"too many uploads; try again in {duration_text(wait)}", wait,
                          {"limit": LIMIT_UPLOADS})

    async def user(self, authorization: str | None, address: str) -> int:
        """The user the resume token in ``authorization`` proves; Refused 401 (``bad_token``) or 403
        (``banned``)."""
        token = credentials(authorization)
        if token is None:
            raise Refused(401, Code.BAD_TOKEN, "send the resume token as Authorization: Bearer <token>")
        sign_ins = self.chat.sign_ins
        try:
            who = await sign_ins.resume(token, None)
        except ProtocolError as e:
            raise Refused.of(401, e) from None
        except DatabaseUnreachable:
            raise Refused.of(503, unavailable(DATABASE)) from None
        sign_ins.settled(who)
        ban = self.chat.moderation.ban_of(who.user_id, address)
        if ban is not None:  # said as an identify's refusal is: why and until when, as fields too
            raise Refused.of(403, self.chat.moderation.banned_error(ban, None))
        return who.user_id

    async def store(self, user_id: int, name: str, data: bytes) -> dict[str, Any]:
        """The file checked, cleaned and stored (see the module); → its attachment ref. Refused."""
        cfg = self.chat.config.uploads
        kind = sniff(data[:TEXT_SNIFF_BYTES])
        if kind is None or kind not in cfg.types:
            allowed = ", ".join(cfg.types) or "none"
            raise Refused(415, Code.UNSUPPORTED_TYPE, f"this kind of file is not accepted (by its content); "
                                                      f"accepted: {allowed}", details={"accepted": list(cfg.types)})
        width = height = thumb = None
        if kind in IMAGE_TYPES:
            loop = asyncio.get_running_loop()
            try:
                image = await loop.run_in_executor(self.images, clean, data, kind, cfg.max_pixels, THUMB_PX)
            except ImageRefused as e:
                status = 413 if e.code == Code.IMAGE_TOO_LARGE else 422
                raise Refused(status, e.code, str(e), details=e.details) from None
            data, width, height, thumb = image
        try:
            row = await self.chat.store.uploads.save(user_id, safe_name(name, kind), kind, data, width, height,
                                                     thumb, cfg.quota_bytes)
        except QuotaExceeded as e:
            raise Refused(413, Code.QUOTA_EXCEEDED, f"your files take {e.used} of your {e.quota} bytes; this one "
                                                    "does not fit: delete messages with files to make room",
                          details={"used": int(e.used), "quota": e.quota}) from None  # PostgreSQL: a Decimal sum
        except DatabaseUnreachable as e:
            raise Refused.of(503, refusal_of(e)) from None
        except UserDeleted as e:  # deleted while the file came (chatd.store.living)
            raise Refused.of(410, refusal_of(e)) from None
        return attachment_ref(row.shown())


class _Json:
    """Answers of the upload and file handlers: JSON, errors included. ``USE`` says how to use
    the path (a 405's message; its Allow names the methods the handler defines)."""

    USE = ""

    def refuse(self, error: Refused) -> None:
        if error.retry_after is not None:  # the seconds the message says
            self.set_header("Retry-After", str(whole_seconds(error.retry_after)))  # type: ignore[attr-defined]
        if error.status == 401:
            self.set_header("WWW-Authenticate", 'Bearer realm="chatd"')  # type: ignore[attr-defined]
        if error.status == 405:  # RFC 9110 §15.5.6
            self.set_header("Allow", ", ".join(allowed_methods(type(self))))  # type: ignore[attr-defined,arg-type]
        self.answer(error.status, {"error": error_body(error.code, error.message, error.retry_after, error.details)})

    def answer(self, status: int, body: dict[str, Any]) -> None:
        if self._finished:  # type: ignore[attr-defined]
            return
        self.set_status(status)  # type: ignore[attr-defined]
        self.set_header("Content-Type", "application/json; charset=utf-8")  # type: ignore[attr-defined]
        self.set_header("Cache-Control", "no-store")  # type: ignore[attr-defined]
        self.finish(json.dumps(body, ensure_ascii=False, separators=(",", ":")))  # type: ignore[attr-defined]

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """A Refused raised, or what Tornado refused itself (another method, a bug), in JSON."""
        error = kwargs.get("exc_info", (None, None, None))[1]
        if not isinstance(error, Refused):
            if status_code == 405:
                error = Refused(405, METHOD_NOT_ALLOWED, self.USE)
            elif status_code < 500:
                error = Refused(status_code, BAD_REQUEST, "the request is malformed")
            else:
                error = Refused(status_code, Code.INTERNAL, "internal error; the request was not carried out")
        self.refuse(error)

    def decode_argument(self, value: bytes, name: str | None = None) -> str:
        """A query argument (``name``) or part of the path (None) as text; Refused (400) when it is
        not UTF-8, for a part of the path given in ``prepare`` (``EarlyRefusals.path_refused``).
        (Tornado's own refusal would be a bare "Bad Request".)"""
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            what = "the address" if name is None else f"the {name} (?{name}=)"
            refusal = Refused(400, BAD_REQUEST, f"{what} must be UTF-8, percent-encoded")
            if name is None:
                return self.path_refused(refusal, value)  # type: ignore[attr-defined]
            raise refusal from None


@tornado.web.stream_request_body
class UploadHandler(SecurityHeaders, EarlyRefusals, _Json, tornado.web.RequestHandler):
    """A refusal at the headers is given before the body is read (``chatd.web.early``)."""

    USE = "send the file with POST /upload"

    def initialize(self, uploads: Uploads) -> None:
        self.uploads = uploads
        self.user_id: int | None = None
        self.name = "file"
        self.body = bytearray()
        self.limit = uploads.chat.config.uploads.max_bytes  # the cap when the upload began

    async def prepare(self) -> None:
        """Before any of the body is read: the method, who, how fast, what name, how large."""
        try:
            await self._admit()
        except Refused as e:
            if self.answer_now(e):
                raise

    async def _admit(self) -> None:
        # The cap is kept here, not by Tornado: Tornado checks the sizes a chunked body's
        # chunks claim, before their bytes come, and cuts the connection with a bare 400.
        # data_received counts the bytes instead, so that a chunked body past the cap gets
        # the same 413 as a Content-Length past it; none is kept beyond the cap either way.
        self.request.connection.set_max_body_size(sys.maxsize)
        if self.request.method != "POST":  # first: another method is refused whatever its body's size
            raise Refused(405, METHOD_NOT_ALLOWED, self.USE)
        try:
            sent = authorization(self.request.headers)
        except RepeatedHeader as e:
            raise Refused(400, BAD_REQUEST, str(e)) from None
        self.user_id = await self.uploads.user(sent, self.request.remote_ip)
        self.uploads.admit(self.user_id)
        names = self.get_query_arguments("name")  # Refused when one is not UTF-8 (decode_argument)
        if len(names) > 1:
            raise Refused(400, BAD_REQUEST, f"the name (?name=) is given {len(names)} times; give it once")
        self.name = names[0] if names else "file"
        length = self.request.headers.get("Content-Length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            raise Refused(413, Code.FILE_TOO_LARGE, f"the file is {int(length)} bytes; at most {self.limit} "
                                                    "are accepted", details={"size": int(length), "limit": self.limit})

    def data_received(self, chunk: bytes) -> None:
        if self._finished:  # a refused upload's body is dropped as it comes
            return
        if len(self.body) + len(chunk) > self.limit:  # chunked: no Content-Length said how much
            self.body = bytearray()
            error = Refused(413, Code.FILE_TOO_LARGE, f"the file is more than {self.limit} bytes; at most "
                                                      f"{self.limit} are accepted", details={"limit": self.limit})
            if self.answer_now(error):  # always: a body is coming
                self.refuse(error)
            return
        self.body += chunk

    async def post(self) -> None:
        if not self.body:
            said = unframed(self.request)
            if said is not None:  # no file at all, rather than an empty one
                raise Refused(400, BAD_REQUEST, f"{said}; send the file as the body")
            raise Refused(400, Code.UNSUPPORTED_TYPE, "the file is empty", details={"empty": True})
        try:
            ref = await self.uploads.store(self.user_id, self.name, bytes(self.body))
        finally:
            self.body = bytearray()
        self.answer(201, ref)


@tornado.web.stream_request_body
class FileHandler(SecurityHeaders, EarlyRefusals, HeadAsGet, _Json, tornado.web.RequestHandler):
    """Another method, or a path that names no file, is refused at the headers: a body is not
    read (``chatd.web.early``)."""

    USE = "files are read with GET"

    def initialize(self, chat: Chat) -> None:
        self.chat = chat

    def prepare(self) -> None:
        try:
            if self.request.method not in allowed_methods(type(self)):
                raise Refused(405, METHOD_NOT_ALLOWED, self.USE)
            self.check_path()
            if FILE_PATH.fullmatch(self.path_args[0]) is None:
                raise Refused(404, NOT_FOUND, NO_SUCH_FILE)
        except Refused as e:
            if self.answer_now(e):
                raise

    def data_received(self, chunk: bytes) -> None:
        """Dropped: a file is read, not sent."""

    async def get(self, path: str) -> None:
        upload_id, name = FILE_PATH.fullmatch(path).groups()  # (prepare refused a path that names no file)
        try:
            row = await self.chat.store.uploads.get(upload_id)
        except DatabaseUnreachable:
            raise Refused.of(503, unavailable(DATABASE)) from None
        thumb = name == "thumb"
        if row is None:
            raise Refused(404, NOT_FOUND, NO_SUCH_FILE)
        if thumb and row.thumb_size is None:
            raise Refused(404, NOT_FOUND, "the file has no thumbnail: it is no image larger than a thumbnail")
        etag = f'"{row.sha256}{"-thumb" if thumb else ""}"'
        self.set_header("ETag", etag)
        self.set_header("Cache-Control", IMMUTABLE)
        self.set_header("Content-Security-Policy", FILE_CSP)
        self.set_header("Cross-Origin-Resource-Policy", "same-origin")  # no other site shows it
        self.set_header("Accept-Ranges", "none")
        if etag in self.request.headers.get("If-None-Match", ""):
            self.set_status(304)
            return
        kind = THUMB_TYPE if thumb else row.type
        self.set_header("Content-Type", f"{TEXT}; charset=utf-8" if kind == TEXT else kind)
        self.set_header("Content-Disposition",
                        disposition("inline" if kind in IMAGE_TYPES or thumb else "attachment", row.name))
        self.set_header("Content-Length", row.thumb_size if thumb else row.size)
        if self.request.method == "HEAD":
            return
        part, seq = (THUMB if thumb else FILE), 0
        while (piece := await self.chat.store.uploads.chunk(upload_id, part, seq)) is not None:
            self.write(piece)
            await self.flush()  # one chunk in memory at a time
            seq += 1

"""The ``/ws`` endpoint the Tornado way: every handshake ``chatd.web.handshake``
does not answer at its headers — all refusals, and the rare 101 it leaves to
Tornado (one with a body, or over HTTP/1.2 and later).

Tornado's ``WebSocketHandler`` validates the request (Upgrade and
Connection headers, the version, and the Origin through our
``check_origin``: ``chatd.origins``); ``prepare`` and ``_TakeOver`` what it
does not: HTTP/1.1 or later, the Origin alone deciding, and a
``Sec-WebSocket-Key`` that is the base64 of 16 bytes (RFC 6455 §4.1,
§4.2.1), a 400 with a one-line body saying what is wrong otherwise. Its
``get_websocket_protocol`` hook is where we take over: detach the stream
from Tornado's HTTP machinery, then ``Handshakes.hand_over`` answers 101 and
gives the socket to asyncio. Tornado's per-connection objects (request,
headers, handler, IOStream) are then freed: a connected client costs a
transport and one ``ChatConnection``.

Before the 101, the client's address must be allowed another connection
(``chatd.abuse``: open connections and new ones per second, per address);
if not, the answer is **429 Too Many Requests** with ``Retry-After``
(RFC 6585 §4): refused before the upgrade, a flood of handshakes costs no
WebSocket state at all.
"""

from __future__ import annotations

import binascii
import logging
from typing import TYPE_CHECKING

from tornado.websocket import WebSocketHandler

from chatd.origins import for_log, origin_allowed
from chatd.web.headers import SecurityHeaders

if TYPE_CHECKING:
    from chatd.web.handshake import Handshakes  # which imports this module (ChatUpgrade answers its refusals)

log = logging.getLogger("chatd.upgrade")

# The bodies of the 400s to what is no RFC 6455 handshake (§4.1, §4.2.1), for the client's developer.
HTTP_VERSION_PROBLEM = "WebSocket handshakes need HTTP/1.1 or later"
KEY_MISSING = "Sec-WebSocket-Key is missing"
KEY_MALFORMED = "Sec-WebSocket-Key must be one header holding 16 bytes in base64"


def key_problem(key: str) -> str | None:
    """Why ``key`` (the ``Sec-WebSocket-Key`` value, several headers joined by
    commas) is not the base64 of 16 bytes RFC 6455 §4.2.1 asks for, or None.
    A 101 to any other key carries an Accept no client can check. ~0.2 µs."""
    if not key:
        return KEY_MISSING
    try:
        if len(key) == 24 and len(binascii.a2b_base64(key, strict_mode=True)) == 16:
            return None
    except ValueError:  # binascii.Error, or a character outside ASCII
        pass
    return KEY_MALFORMED


class ChatUpgrade(SecurityHeaders, WebSocketHandler):
    """``initialize`` gets the server's ``Handshakes`` (its ``Chat``, the
    ``registry`` of open connections, those ``handing`` over, the ``outbox``)."""

    def initialize(self, handshakes: Handshakes) -> None:
        self.handshakes = handshakes
        self.chat = handshakes.chat

    def prepare(self) -> None:
        """RFC 6455's HTTP version, and the Origin rule, which the Origin alone
        decides. Tornado 6.6 consults ``Sec-Fetch-Site`` too, which any client
        can write: it skips ``check_origin`` when the header says same-origin,
        and refuses a handshake without an Origin when it says anything else.
        Browsers send an Origin with every WebSocket handshake (Fetch), so one
        without is no browser's, whatever its Sec-Fetch-Site: Tornado is not shown
        the header then, and such a client is not affected, as documented."""
        headers = self.request.headers
        if self.request.version == "HTTP/1.0" and self.request.method == "GET":
            self.set_status(400)
            self.finish(HTTP_VERSION_PROBLEM)
            return
        origin = headers.get("Origin")
        if origin is None:
            headers.pop("Sec-Fetch-Site", None)
        elif not self.check_origin(origin):
            self.set_status(403)
            self.finish("Cross origin websockets not allowed")

    def check_origin(self, origin: str) -> bool:
        """Tornado calls this when the handshake has an Origin header; False → 403."""
        if origin_allowed(origin, self.request.headers.get("Host"), self.chat.config.allowed_origins):
            return True
        log.info("refused a WebSocket from %s: origin %s is not the page's own host nor in allowed_origins",
                 self.request.remote_ip, for_log(origin))
        return False

    def get_websocket_protocol(self) -> _TakeOver | None:
        if self.request.headers.get("Sec-WebSocket-Version") != "13":
            return None  # Tornado answers 426 Upgrade Required
        return _TakeOver()


class _TakeOver:
    """Stands in for Tornado's WebSocketProtocol for the length of the handshake."""

    async def accept_connection(self, handler: ChatUpgrade) -> None:
        key = handler.request.headers.get("Sec-WebSocket-Key", "")
        problem = key_problem(key)
        if problem is not None:
            handler.set_status(400)
            handler.finish(problem)
            return
        handshakes, remote_ip = handler.handshakes, handler.request.remote_ip
        admission = handshakes.chat.admission
        address = admission.addresses.key(remote_ip)
        # Counted at its headers already (chatd.web.handshake) and refused there, or not seen there.
        refusal = handshakes.refused.pop(handler.request.connection, None) or await admission.connect(address)
        if refusal is not None:
            handler.set_status(429)
            handler.set_header("Retry-After", str(refusal.seconds))
            handler.set_header("Content-Type", "text/plain; charset=utf-8")
            handler.finish(refusal.message + "\n")
            return
        stream = handler.detach()
        # Tornado's WebSocketHandler keeps its handler <-> ui cycle after a 101 until the
        # WebSocket closes, which a socket taken over never does in Tornado's eyes: broken
        # here, the handshake's objects (handler, request, connection, stream, task: ~60)
        # go by reference counting, not in the collector's full collections (measured: a
        # 3,000-client storm's run left ~436,000 such objects to them).
        handler.ui = None
        await handshakes.hand_over(stream, key, remote_ip, address)

    def on_connection_close(self) -> None:
        """Tornado's handler calls this if the client leaves mid-handshake."""


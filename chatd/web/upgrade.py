"""The ``/ws`` endpoint the Tornado way: every handshake ``chatd.web.handshake``
does not answer at its headers — all refusals, and the rare 101 it leaves to
Tornado (one with a body, or over HTTP/1.2 and later).

``prepare`` refuses what is no handshake chatd answers (RFC 6455 §4.1,
§4.2.1: HTTP/1.1 or later, the headers ``chatd.web.wsrules`` checks, the
Origin alone deciding) with its status and a one-line plain-text body saying
what is wrong, before Tornado's ``WebSocketHandler.get`` could refuse it its
own way (a bare 426, HTML bodies). Its ``get_websocket_protocol`` hook is
where we take over: detach the stream from Tornado's HTTP machinery, then
``Handshakes.hand_over`` answers 101 and gives the socket to asyncio.
Tornado's per-connection objects (request, headers, handler, IOStream) are
then freed: a connected client costs a transport and one ``ChatConnection``.

Before the 101, the client's address must be allowed another connection
(``chatd.abuse``: open connections and new ones per second, per address);
if not, the answer is **429 Too Many Requests** with ``Retry-After``
(RFC 6585 §4) and a plain-text body: refused before the upgrade, a flood
of handshakes costs no WebSocket state at all.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from tornado.websocket import WebSocketHandler

from chatd.origins import for_log, origin_allowed
from chatd.web.headers import SecurityHeaders
from chatd.web.plain import PlainRefusals
from chatd.web.wsrules import HTTP_VERSION_PROBLEM, handshake_refusal

if TYPE_CHECKING:
    from chatd.web.handshake import Handshakes  # which imports this module (ChatUpgrade answers its refusals)

log = logging.getLogger("chatd.upgrade")


class ChatUpgrade(SecurityHeaders, PlainRefusals, WebSocketHandler):
    """``initialize`` gets the server's ``Handshakes`` (its ``Chat``, the
    ``registry`` of open connections, those ``handing`` over, the ``outbox``).
    Another method than GET is a 405 (``chatd.web.plain``)."""

    USE = "use GET with a WebSocket upgrade"

    def initialize(self, handshakes: Handshakes) -> None:
        self.handshakes = handshakes
        self.chat = handshakes.chat

    def prepare(self) -> None:
        """Every refusal but the address's (``_TakeOver``): RFC 6455's HTTP version,
        then what ``chatd.web.wsrules`` refuses, so that Tornado's ``get`` finds
        nothing to refuse its own way.

        The Origin rule is the Origin's alone. Tornado 6.6 consults ``Sec-Fetch-Site``
        too, which any client can write: it skips ``check_origin`` when the header
        says same-origin, and refuses a handshake without an Origin when it says
        anything else. Browsers send an Origin with every WebSocket handshake (Fetch),
        so one without is no browser's, whatever its Sec-Fetch-Site: Tornado is not
        shown the header then, and such a client is not affected, as documented."""
        headers = self.request.headers
        if self.request.method != "GET":
            return  # no handshake: Tornado raises 405, answered by PlainRefusals.write_error
        if self.request.version == "HTTP/1.0":
            self.refuse(400, HTTP_VERSION_PROBLEM)
            return
        origin = headers.get("Origin")
        if origin is None:
            headers.pop("Sec-Fetch-Site", None)
        refused = handshake_refusal(headers, self.chat.config.allowed_origins)
        if refused is None:
            return
        if refused.status == 403:
            log.info("refused a WebSocket from %s: origin %s is not the page's own host nor in allowed_origins",
                     self.request.remote_ip, for_log(origin or ""))
        self.refuse(*refused)

    def check_origin(self, origin: str) -> bool:
        """Tornado calls this when the handshake has an Origin header: ``prepare``
        has refused every Origin the rule refuses already."""
        return origin_allowed(origin, self.request.headers.get("Host"), self.chat.config.allowed_origins)

    def get_websocket_protocol(self) -> _TakeOver:
        return _TakeOver()  # prepare refused every version but 13


class _TakeOver:
    """Stands in for Tornado's WebSocketProtocol for the length of the handshake."""

    async def accept_connection(self, handler: ChatUpgrade) -> None:
        key = handler.request.headers["Sec-WebSocket-Key"]  # one, valid: prepare refused any other
        handshakes, remote_ip = handler.handshakes, handler.request.remote_ip
        admission = handshakes.chat.admission
        address = admission.addresses.key(remote_ip)
        # Counted at its headers already (chatd.web.handshake) and refused there, or not seen there.
        refusal = handshakes.refused.pop(handler.request.connection, None) or await admission.connect(address)
        if refusal is not None:
            handler.refuse(429, refusal.message, {"Retry-After": str(refusal.seconds)})
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


"""Connections accepted that are not (yet) WebSockets, counted per client
address from the accept on, so that one address cannot pile them up until
the process runs out of descriptors (slowloris: many connections, each
sending its head a byte at a time, or nothing).

    pending = Pending(chat)
    refusal = pending.arrive(sock, peer)   # at the accept: None (counted), or a Refusal (refuse(sock, refusal))
    pending.settle(sock)                   # closed, or become a WebSocket: counted no more (again: nothing)

The count is ``chatd.abuse``'s ``Kind.HTTP`` (``address.max_http_connections``),
apart from the WebSockets' (``address.max_connections``, counted at the
handshake): a connection counts here from its accept until its socket is
closed — by Tornado (``chatd.web.headlimit.HeadLimitStream``), by the accept
(``chatd.web.arrivals``) — or given to a ``ChatConnection``
(``chatd.web.handshake``). Only the socket's peer is known at the accept: a
peer among ``trusted_proxies`` speaks for many clients (nginx for all of
them), so it is not counted (its clients are limited by their forwarded
address at the handshake); nor is one in ``address.exempt``. A connection
keeps the key it was counted under (both settings are live) until it ends.

Over the cap, the connection is answered at once, without reading its
request: 429 with ``Retry-After`` and ``Connection: close`` (RFC 6585 §4),
then closed. What the client had sent by then is read first, so that the
close does not reset the connection under the answer; bytes that come later
may (RFC 9112 §9.6): holding the connection open to read them is what the
cap refuses.
"""

from __future__ import annotations

import socket

from chatd.abuse import Refusal
from chatd.chat import Chat
from chatd.proxies import in_networks, parse_networks
from chatd.web.headers import closing_answer

DRAIN_BYTES = 65536  # of what a refused client has sent already, read before the close: a head at most


class Pending:
    """The connections of ``chat``'s server counted per address (``chat.admission``)."""

    def __init__(self, chat: Chat):
        self._chat = chat
        self._keys: dict[socket.socket, str] = {}  # socket -> the address key it counts under

    def __len__(self) -> int:
        return len(self._keys)

    def arrive(self, sock: socket.socket, peer: str) -> Refusal | None:
        """A connection accepted from ``peer`` (the socket's, an IP address): None when
        it is let in (counted until ``settle(sock)``, or never counted), else why not."""
        chat = self._chat
        if in_networks(peer, parse_networks(chat.config.trusted_proxies)):
            return None
        key = chat.admission.addresses.key(peer)
        refusal = chat.admission.arrive(key)
        if refusal is None and key is not None:
            self._keys[sock] = key
        return refusal

    def settle(self, sock: socket.socket | None) -> None:
        """``sock`` is closed or a WebSocket's: its address has one fewer. Idempotent."""
        key = self._keys.pop(sock, None)  # type: ignore[arg-type]
        if key is not None:
            self._chat.admission.depart(key)


def refuse(sock: socket.socket, refusal: Refusal) -> None:
    """Answer a connection ``arrive`` refused, and close it (see the module)."""
    try:
        drained = 0
        while drained < DRAIN_BYTES and (data := sock.recv(DRAIN_BYTES, socket.MSG_DONTWAIT)):
            drained += len(data)
    except OSError:  # nothing more to read (BlockingIOError), or the client reset it
        pass
    try:
        # An empty send buffer: all of it, always; shut down so that the client reads its end.
        sock.send(closing_answer("429 Too Many Requests", refusal.message, {"Retry-After": str(refusal.seconds)}),
                  socket.MSG_DONTWAIT)
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass  # the client left
    finally:
        sock.close()

"""The bus: what one node publishes, every node delivers.

A node is one chatd process. Two kinds of item travel:

- ``Delivery``: a stored message, as a node needs it to deliver: the
  channels it belongs to (``room:<id>``, or ``user:<id>`` for the sender's
  and the recipient's private inboxes; ``event:<id>`` for a user's stored
  notification, ``chatd.events``), its id, for each channel the id of
  the message before it there (``prev``: how a node sees a gap), and the
  frame encoded once (the bytes written to every WebSocket).
- ``Notice``: anything else nodes tell each other (presence, rooms,
  sign-outs, heartbeats): a kind and a JSON-able body.

Rules every bus keeps (docs/protocol.md, "Order and gaps"):

- ``publish`` hands the item to this node's receiver at once, before it
  returns: the local path never waits for a network.
- Items of one publishing node reach each other node in publish order.
- Items may be lost: Redis restarted, a connection cut, a node killed
  between a commit and its publish. A Delivery lost shows up at the next
  one of its channel as a ``prev`` the node has not seen; a node that may
  have missed items hears ``lost()``. Either way it reads what it missed
  from the store, which is the truth; the bus is only the fast path.

    bus = LocalBus(new_node_id())     # or RedisBus(url, node): chatd.server picks by config.bus
    await bus.start(receiver)         # receiver.delivery(item), .notice(item), .lost()
    bus.publish(Delivery(("room:7",), 1208, (1207,), data))
    bus.publish(Notice("presence", {...}))
    await bus.close()
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

if TYPE_CHECKING:
    from chatd.cluster.membership import Membership


class BusUnavailable(Exception):
    """The bus could not be reached when it started (Redis: ``chatd.bus.redis``); here, not
    there, so that a start names it a refusal without loading the redis extra."""


ROOM = "room:"
USER = "user:"
EVENT = "event:"
NODE_ID_BYTES = 6  # 48 random bits: node ids of one cluster never collide in practice


def room_channel(room_id: int) -> str:
    """The channel of a room's messages: ``room_channel(7)`` → ``"room:7"``."""
    return f"{ROOM}{room_id}"


def user_channel(user_id: int) -> str:
    """The channel of a user's private messages, all conversations: ``"user:42"``."""
    return f"{USER}{user_id}"


def event_channel(user_id: int) -> str:
    """The channel of a user's stored notifications (``chatd.events``): ``"event:42"``."""
    return f"{EVENT}{user_id}"


def new_node_id() -> str:
    """A random id for this process's run on the bus (a restart is a new node)."""
    return secrets.token_hex(NODE_ID_BYTES)


class Delivery(NamedTuple):
    """A stored message on its way to every node's sessions; or, with ``id`` and ``prev`` None,
    another frame about a channel's messages that every session in it gets, in its order with
    them (a ``deleted`` frame: chatd.moderation)."""

    channels: tuple[str, ...]  # room_channel / user_channel names, each once
    id: int | None  # the message id; None: not a new message
    # Per channel, the id of the message before this one in it (0: the first);
    # None when the store does not track it (one process: order is commit order).
    prev: tuple[int, ...] | None
    data: bytes  # the message frame, as written to a WebSocket (chatd.wsframe.wire)


class Notice(NamedTuple):
    """Something nodes tell each other that is not a stored message."""

    kind: str
    body: dict[str, Any]
    origin: str = ""  # the node that published it (set by the bus)


class Receiver(Protocol):
    """What a node does with what the bus brings (chatd.feed, chatd.cluster)."""

    def delivery(self, item: Delivery) -> None: ...

    def notice(self, item: Notice) -> None: ...

    def lost(self) -> None:
        """Items may have been lost since the last call: read what was missed from the store."""


class Bus(Protocol):
    node: str
    connected: bool  # whether items reach the other nodes now (always, in one process): /readyz
    cause: str | None  # while not connected: why, as the last attempt to connect failed; else None

    async def start(self, receiver: Receiver, membership: Membership | None = None) -> None:
        """Start delivering to ``receiver``; with ``membership``, refuse (ClusterMismatch) to join
        a cluster that differs from it, and apply nothing of nodes on another database epoch."""

    def publish(self, item: Delivery | Notice) -> None: ...

    async def close(self, flush: float) -> None:
        """Send what is queued for the other nodes, for at most ``flush`` seconds, and leave."""

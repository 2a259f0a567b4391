"""Moderation: deleting messages, muting, kicking and banning; and keeping
muted and banned users and addresses out, on every node.

**Deleted messages.** A deleted message becomes a tombstone in the store
(``chatd.store.moderation.tombstone``); every session that would have got
the message, on every node, gets the ``deleted`` frame: it travels the bus
as a ``Delivery`` without a message id, so a session whose channel is held
(its history loading) gets it after the page, never before.

    moderation = Moderation(hub, store, bus)
    moderation.deleted(rows)          # tombstones committed: tell every session that has them
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from chatd.bus import Bus, Delivery, room_channel, user_channel
from chatd.hub import Hub
from chatd.protocol import deleted_frame
from chatd.store import MessageRow, Store
from chatd.wsframe import wire

log = logging.getLogger("chatd.moderation")


class Moderation:
    def __init__(self, hub: Hub, store: Store, bus: Bus):
        self.hub = hub
        self.store = store
        self.bus = bus

    def deleted(self, rows: Iterable[MessageRow]) -> None:
        """The messages ``rows`` became tombstones (committed): the ``deleted`` frame of each
        goes to every session, on every node, that has its room or conversation."""
        for row in rows:
            channels = self._channels(row)
            if channels:
                self.bus.publish(Delivery(channels, None, None, wire(deleted_frame(row))))

    def _channels(self, row: MessageRow) -> tuple[str, ...]:
        if row.recipient_id is not None:
            users = dict.fromkeys((row.sender_id, row.recipient_id))  # once when a user wrote to itself
            return tuple(map(user_channel, users))
        room = self.hub.room(row.room) if row.room is not None else None
        return (room_channel(room.id),) if room is not None else ()

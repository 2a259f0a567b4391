"""The in-process bus: one node, nothing to send anywhere.

Publishing is a direct call of the receiver, so a message costs what it
cost before there was a bus; nothing is ever lost, so ``lost`` is never
called.
"""

from __future__ import annotations

from chatd.bus import Delivery, Notice, Receiver
from chatd.cluster.membership import Membership


class LocalBus:
    connected = True  # nothing to connect to
    cause = None

    def __init__(self, node: str):
        self.node = node
        self._receiver: Receiver | None = None

    async def start(self, receiver: Receiver, membership: Membership | None = None) -> None:
        self._receiver = receiver  # one node: nobody to differ from

    def publish(self, item: Delivery | Notice) -> None:
        if self._receiver is None:
            return  # not started, or closed: nobody is here to deliver to
        if type(item) is Delivery:
            self._receiver.delivery(item)
        else:
            self._receiver.notice(item._replace(origin=self.node))

    async def close(self, flush: float = 0.0) -> None:
        self._receiver = None

"""A test-only network of buses: several chatd nodes in one process, each
with its own bus, every item one publishes reaching the others — with the
faults a real bus has, on demand.

It keeps the bus contract (chatd/bus/__init__.py): ``publish`` hands the
item to the node's own receiver at once; the other nodes get it on a later
pass of the event loop, in publish order. A test may drop items
(``net.drop``), cut a node off (``bus.silenced``: as if killed, it is heard
no more and hears nothing) and tell a node it may have lost items
(``bus.lose()``).

    net = BusNet()
    a, b = net.bus(), net.bus()           # Server(config, bus=a), Server(config, bus=b)
    net.drop = lambda item: item.kind == "ops"
    b.silenced = True
    b.lose()                              # b's receiver hears lost()
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from chatd.bus import Delivery, Notice, Receiver, new_node_id


class BusNet:
    def __init__(self) -> None:
        self.buses: list[NetBus] = []
        self.drop: Callable[[Delivery | Notice], bool] = lambda item: False  # items lost on the way to others

    def bus(self) -> NetBus:
        bus = NetBus(self, new_node_id())
        self.buses.append(bus)
        return bus


class NetBus:
    connected = True
    cause = None

    def __init__(self, net: BusNet, node: str):
        self.net = net
        self.node = node
        self.silenced = False
        self.receiver: Receiver | None = None

    async def start(self, receiver: Receiver, membership: Any = None) -> None:
        self.receiver = receiver  # (membership: checked on a real Redis only, chatd.bus.redis)

    def publish(self, item: Delivery | Notice) -> None:
        if type(item) is Notice:
            item = item._replace(origin=self.node)
        self._receive(item)
        if self.silenced or self.net.drop(item):
            return
        loop = asyncio.get_running_loop()
        for other in self.net.buses:
            if other is not self:
                loop.call_soon(other._hear, item)

    def _hear(self, item: Delivery | Notice) -> None:
        if not self.silenced:
            self._receive(item)

    def _receive(self, item: Delivery | Notice) -> None:
        if self.receiver is None:
            return  # not started, or closed
        if type(item) is Delivery:
            self.receiver.delivery(item)
        else:
            self.receiver.notice(item)

    def lose(self) -> None:
        """As after a broken connection: the receiver may have missed items."""
        self.receiver.lost()

    async def close(self, flush: float = 0.0) -> None:
        self.receiver = None

"""A node starting on a cluster (chatd/server.py, Server.start): it reads the rooms, the bans and
the bots once it hears the bus. What another node writes before those reads is in them; what it
writes after comes with its notice. Read before, what was written in between was missed there."""

from __future__ import annotations

from pathlib import Path

from chatd.audit import Actor
from chatd.protocol.codes import Code
from chatd.server import Server
from tests.cluster_fixtures import BEATS
from tests.conftest import make_config

ADMIN = Actor("admin", 1, "root", frozenset({"admin"}))
AWAY = "198.51.100.7"  # an address the other node bans while this one starts


async def test_a_node_starting_misses_no_room_ban_or_bot_written_meanwhile(cluster_nodes, tmp_path: Path):
    c = await cluster_nodes(1)
    (a,) = c.nodes
    bus = c.net.bus()
    start = bus.start

    async def start_after_changes_elsewhere(receiver, membership=None):  # made on a while the new node starts
        await a.chat.room_admin.create("garden", "plants")
        await a.chat.moderation.ban_address(ADMIN, "198.51.100.0/24", None, "abuse")
        await a.chat.bots.create("kite", "https://x.example/", [])
        await c.settle()  # their notices go by before the new node is on the bus
        await start(receiver, membership)

    bus.start = start_after_changes_elsewhere
    late = Server(make_config(tmp_path, cluster=BEATS), bus=bus)
    c.nodes.append(late)  # stopped at the end
    await late.start()
    late.chat.clock = c.clock
    await (await c.client(late)).enter("garden", name="rose")  # asserts the room is there
    refused = await (await c.client(late)).identify(name="KITE")
    assert refused.get("code") == Code.NAME_TAKEN, refused
    assert (await (await c.client_from(late, AWAY)).expect("banned"))["reason"] == "abuse"

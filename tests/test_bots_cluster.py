"""Bots across the nodes of a cluster (chatd/bots.py): a node reads the bots once it hears the
bus, missing none written while it started."""

from __future__ import annotations

from pathlib import Path

from chatd.protocol import Code
from chatd.server import Server
from tests.cluster_fixtures import BEATS
from tests.conftest import make_config

HOOK = "https://x.example/"  # never called: no message mentions the bots here


async def test_a_node_starting_reads_the_bots_once_it_hears_the_bus(cluster_nodes, tmp_path: Path):
    """Read before: a bot written between that read and the node's start on the bus was never
    known there (its notice went by unheard), its name free to the node's guests."""
    c = await cluster_nodes(1)
    (a,) = c.nodes
    bus = c.net.bus()
    start = bus.start

    async def start_after_a_bot_is_made(receiver):  # the bot is made while the new node starts
        await a.chat.bots.create("kite", HOOK, [])
        await c.settle()  # its notice goes by before the new node is on the bus
        await start(receiver)

    bus.start = start_after_a_bot_is_made
    late = Server(make_config(tmp_path, cluster=BEATS), bus=bus)
    c.nodes.append(late)  # stopped at the end
    await late.start()
    late.chat.clock = c.clock
    refused = await (await c.client(late)).identify(name="KITE")
    assert refused.get("code") == Code.NAME_TAKEN, refused

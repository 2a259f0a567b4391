"""chatd.cluster.rereads: what a node reads again from the store on another node's notice
(the bots, the mutes and bans, ...) is read again at each tick when that read failed — the
database down for a moment — not left stale until the next change, which may never come."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from chatd.audit import Actor
from chatd.store import DatabaseUnreachable
from tests.conftest import until

ADMIN = Actor("admin", 1, "root", frozenset({"admin"}))


def failing_once(read: Callable[..., Any]) -> Callable[..., Any]:
    """``read``, but its first call fails as a database that is down does."""
    calls: list[int] = []

    def once(*args: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise DatabaseUnreachable("the database is down (a test)")
        return read(*args)

    return once


async def test_a_failed_read_of_bots_and_bans_is_tried_again_at_the_next_tick(cluster_nodes, monkeypatch, caplog):
    c = await cluster_nodes(2)
    a, b = c.nodes
    monkeypatch.setattr(b.chat.store.bots, "all", failing_once(b.chat.store.bots.all))
    monkeypatch.setattr(b.chat.store.moderation, "active", failing_once(b.chat.store.moderation.active))
    with caplog.at_level(logging.INFO, "chatd.cluster"):
        await a.chat.bots.create("kite", "https://x.example/", [])
        await a.chat.moderation.ban_address(ADMIN, "198.51.100.0/24", None, "abuse")
        await until(lambda: "reading the bots again failed" in caplog.text
                    and "reading the mutes and bans again failed" in caplog.text, what="b's reads failed")
        assert b.chat.bots.all() == [] and not b.chat.moderation.sanctions.network_bans
        b.chat.cluster.tick()
        await until(lambda: b.chat.bots.all() and b.chat.moderation.sanctions.network_bans, what="b read them again")
    assert "read the bots again" in caplog.text and "read the mutes and bans again" in caplog.text
    refused = await (await c.client(b)).identify(name="KITE")
    assert refused.get("code") == "name_taken", refused
    assert (await (await c.client_from(b, "198.51.100.7")).expect("banned"))["reason"] == "abuse"

"""The monitor (chatd.monitor): each new minute, the last one's most connections and
messages stored go to the store; the event loop's lag is measured on every tick."""

from __future__ import annotations

from chatd.store.traffic import MINUTE_MS
from tests.conftest import until

T0 = 1_780_000_000_000 // MINUTE_MS * MINUTE_MS


async def test_a_minute_ended_is_written_with_its_peak_and_messages(server, user):
    server.monitor.wall = lambda: T0 + 5_000
    await until(lambda: server.monitor.minute == T0, what="the minute begun")
    alice, bob = await user("alice", "lobby"), await user("bob", "lobby")
    for text in ("one", "two", "three"):
        assert (await alice.say("lobby", text))["type"] == "ack"
    await until(lambda: server.monitor.peak == 2, what="two connections seen")
    await bob.close()
    assert server.monitor.current().messages == 3
    server.monitor.wall = lambda: T0 + MINUTE_MS + 1_000
    await until(lambda: server.monitor.minute == T0 + MINUTE_MS, what="the next minute")
    await server.store.writer.run(lambda: None)  # the writer keeps order: the minute's row is committed
    rows = {minute: (connections, messages) for minute, connections, messages in await server.store.traffic.series(T0)}
    assert rows[T0] == (2, 3)

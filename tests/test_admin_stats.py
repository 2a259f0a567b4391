"""The dashboard's endpoint (chatd.admin.stats) over real HTTP: live figures from the
server's metrics, the per-minute series of every process (traffic minutes of two nodes
added up), messages since the viewer's midnight, bad query arguments a clear 400, and in
Chromium the dashboard tab showing the figures and drawing both charts after traffic."""

from __future__ import annotations

import asyncio

from playwright.async_api import expect

from chatd.store.schema import now_ms
from chatd.store.traffic import MINUTE_MS, Minute
from tests.adminclient import PASSWORD, admin_account, admin_login
from tests.conftest import until


async def add(server, row: Minute) -> None:
    future = asyncio.get_running_loop().create_future()
    server.store.traffic.add(row, lambda _, error: future.set_exception(error) if error else future.set_result(None))
    await future


def this_minute() -> int:
    return now_ms() // MINUTE_MS * MINUTE_MS


async def test_the_figures_and_series_cover_every_node(server, user):
    admin = await admin_login(server)
    minute = this_minute()
    server.monitor.wall = lambda: minute + 1_000  # this minute never ends here: alice's "hi" stays uncounted
    await add(server, Minute(minute - 2 * MINUTE_MS, "node-a", 4, 10))
    await add(server, Minute(minute - 2 * MINUTE_MS, "node-b", 3, 5))
    await add(server, Minute(minute - 9 * 3_600_000, "node-a", 9, 9))  # before the 6 hours shown
    alice = await user("alice", "lobby")
    assert (await alice.say("lobby", "hi"))["type"] == "ack"
    await until(lambda: server.monitor.peak >= 1, what="a tick")

    status, body, headers = await admin.call("GET", f"/stats?hours=6&today={minute - 3 * MINUTE_MS}")
    assert status == 200, body
    assert headers["Cache-Control"] == "no-store"
    assert [minute - 2 * MINUTE_MS, 7, 15] in body["series"]
    assert all(row[0] >= body["since"] for row in body["series"])
    figures = body["figures"]
    assert figures["messages_today"] == 15  # the minutes written since "today"; this one is still counting
    assert figures["users_online"] == 1 and figures["rooms"] >= 1 and figures["bus"] == "in-process"
    assert figures["connections"] == 1 and figures["webhook_queue"] == 0
    assert figures["writer_commit_ms"] is None or figures["writer_commit_ms"] >= 0


async def test_bad_arguments_are_a_clear_error_and_no_session_none_at_all(server):
    admin = await admin_login(server)
    for query, word in (("hours=0", "hours"), ("hours=25", "hours"), ("hours=x", "hours"), ("today=-1", "today"),
                        ("hours=1&hours=2", "hours"), ("when=1", "when")):
        status, body, _ = await admin.call("GET", f"/stats?{query}")
        assert status == 400 and body["error"]["code"] == "bad_request" and word in body["error"]["message"], query
    status, body, _ = await admin.call("GET", "/stats", cookie="forged")
    assert status == 401 and "figures" not in (body or {})


async def test_the_dashboard_shows_the_figures_and_draws_the_charts(server, user, browser):
    name = admin_account(server)
    # The charts end at the last whole minute: the monitor counts the one before this one.
    earlier = this_minute() - MINUTE_MS
    server.monitor.wall = lambda: earlier + 1_000
    await until(lambda: server.monitor.minute == earlier, what="the earlier minute begun")
    alice = await user("alice", "lobby")
    for text in ("one", "two", "three"):
        assert (await alice.say("lobby", text))["type"] == "ack"
    await until(lambda: server.monitor.peak >= 1, what="the connection seen")
    server.monitor.wall = now_ms  # that minute ends: its row is written
    await until(lambda: server.monitor.minute != earlier, what="the earlier minute ended")
    await server.store.writer.run(lambda: None)  # the writer keeps order: the minute's row is committed

    page = await (await browser.new_context()).new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    third_party: list[str] = []
    page.on("request", lambda r: None if r.url.startswith(f"http://127.0.0.1:{server.port}/") else
            third_party.append(r.url))
    await page.goto(f"http://127.0.0.1:{server.port}/admin")
    await page.locator("#login-name").fill(name)
    await page.locator("#login-password").fill(PASSWORD)
    await page.locator("#login-submit").click()
    await page.locator("#tabs button[data-tab='dashboard']").click()
    await expect(page.get_by_test_id("dash-users_online")).to_have_text("1")
    await expect(page.get_by_test_id("dash-bus")).to_have_text("in-process")
    await expect(page.get_by_test_id("dash-connections")).to_have_text("1")
    # Each figure says whose it is: this node's connections, every node's users and per-minute connections.
    labels = {"connections": "Connections (this node)", "users_online": "Users online (all nodes)"}
    for key, label in labels.items():
        await expect(page.locator(".figure", has=page.get_by_test_id(f"dash-{key}")).locator("dt")).to_have_text(label)
    await expect(page.get_by_test_id("chart-connections")).to_have_attribute("aria-label", "Connections (all nodes)")
    for testid in ("chart-connections", "chart-messages"):
        line = page.get_by_test_id(testid).locator("polyline")
        await expect(line).to_have_count(1)
        points = (await line.get_attribute("points")).split()
        assert len(points) >= 6 * 60 - 1, testid  # a point a minute over six hours
    # The written minute is on the messages chart: its peak label says 3.
    await expect(page.get_by_test_id("chart-messages").locator("text.label").first).to_have_text("3")
    await page.reload()  # the series are the store's: a reload shows them again
    await expect(page.get_by_test_id("chart-messages").locator("text.label").first).to_have_text("3")
    assert errors == [] and third_party == []

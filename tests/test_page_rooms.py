"""The room list on the page, in a real Chromium: listed once, then kept live
by the server's `room` events — rooms others create appear, removed ones
disappear, online counts follow — with no polling."""

from __future__ import annotations

import json
import math
import time

from playwright.async_api import Page, expect

from chatd.server import Server
from tests.test_page import gate_websockets, open_tab


class Clock:
    """A clock the test moves by hand (seconds), in place of time.monotonic."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def rooms_requests(page: Page) -> int:
    """How many `rooms` frames the page has sent."""
    return sum(json.loads(f).get("type") == "rooms" for f in page.sent_frames)


async def test_rooms_others_create_and_remove_appear_and_go_without_polling(browser, page_url,
                                                                              server: Server, user):
    server.chat.clock = clock = Clock(float(math.ceil(time.monotonic())))
    bob = await open_tab(browser, page_url, "bob")
    assert rooms_requests(bob) == 1  # the list, listed once

    alice = await user("alice")
    assert (await alice.request("create", room="games", topic="board games"))["type"] == "created"
    games = bob.get_by_test_id("room-games")
    await expect(games).to_be_visible()
    await expect(games).to_have_attribute("title", "\u2068board games\u2069")

    # Its online count follows, pushed every rooms.online_interval seconds.
    assert (await alice.request("join", room="games"))["type"] == "joined"
    clock.now += server.config.rooms.online_interval
    server.tick_rooms()
    await expect(games.get_by_test_id("room-online")).to_have_text(", 1 online")

    # Nobody wrote in it and everyone left: an hour later it is removed, and goes from the page.
    assert (await alice.request("leave", room="games"))["type"] == "left"
    server.tick_rooms()
    clock.now += server.config.rooms.unused_expiry_seconds
    server.tick_rooms()
    await expect(games).to_have_count(0)
    await expect(bob.get_by_test_id("room-lobby")).to_be_visible()

    assert rooms_requests(bob) == 1  # never asked again: the events did it all
    assert not bob.js_errors


async def test_a_silent_dead_socket_is_found_by_a_ping_and_replaced(browser, page_url, server: Server, user):
    """The room list poll was also the page's check that its socket still works;
    the `ping` after 15 s of silence is now. The page's clock is Playwright's."""
    page = await (await browser.new_context()).new_page()
    sockets, sent = [], []
    dead: set[int] = set()  # sockets whose network went silent: nothing passes either way, nothing closes

    async def route(ws) -> None:
        n = len(sockets)
        sockets.append(ws)
        chatd = ws.connect_to_server()
        ws.on_message(lambda m: (sent.append(m), n in dead or chatd.send(m)))
        chatd.on_message(lambda m: n in dead or ws.send(m))

    await page.route_web_socket("**/ws", route)
    await page.clock.install()
    await page.goto(page_url)
    await page.get_by_test_id("name-input").fill("alice")
    await page.get_by_test_id("name-submit").click()
    await expect(page.get_by_test_id("room-lobby")).to_have_attribute("aria-current", "page")
    await expect(page.get_by_test_id("room-lobby").get_by_test_id("room-online")).to_have_text(", 1 online")
    dead.add(0)
    await page.clock.run_for(20_000)
    assert [json.loads(f)["type"] for f in sent].count("ping") == 1
    assert len(sockets) == 1
    await user("bob", "lobby")  # chatd has something to say, but it does not get through
    # 20 s of silence after the ping: given up (at most 40 s in), and a new socket within the
    # backoff (1.5 s) — not so long after that its own connect timeout (10 s) would run out.
    await page.clock.run_for(21_500)
    await expect(page.get_by_test_id("conn-state")).to_have_attribute("data-state", "online")
    assert len(sockets) == 2
    await expect(page.get_by_test_id("member-bob")).to_be_visible()  # what it missed, fetched again


async def test_while_reconnecting_the_page_does_not_claim_who_is_online(browser, page_url, server: Server,
                                                                       user):
    await user("bob", "lobby")
    alice = await open_tab(browser, page_url, "alice")
    members, heading = alice.get_by_test_id("members"), alice.locator("#members-heading")
    online = alice.get_by_test_id("room-lobby").get_by_test_id("room-online")
    await expect(heading).to_have_text("Online in #lobby (2)")
    await expect(online).to_have_text(", 2 online")
    refuse = await gate_websockets(alice, refusing=True)
    for sock in [s for s in server.sockets if s.session.user and s.session.user.name == "alice"]:
        sock.abort()  # the network drops alice's connection
    await expect(alice.get_by_test_id("conn-state")).to_have_attribute("data-state", "reconnecting")
    # Who was online then, greyed, under words that do not say they are online now; no count in the sidebar.
    await expect(heading).to_have_text("Members of #lobby when last connected")
    note = alice.locator("#members-note")
    await expect(note).to_have_text("Not connected: who is online shows again once reconnected.")
    await expect(members).to_have_attribute("data-state", "unknown")
    await expect(online).to_have_count(0)

    refuse["on"] = False
    await alice.locator("#retry-now").click()
    await expect(alice.get_by_test_id("conn-state")).to_have_attribute("data-state", "online")
    await expect(heading).to_have_text("Online in #lobby (2)")
    await expect(members).not_to_have_attribute("data-state", "unknown")
    await expect(note).to_be_hidden()
    await expect(online).to_have_text(", 2 online")
    assert not alice.js_errors

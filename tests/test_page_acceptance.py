"""The acceptance test of issue 12, "the complete chat page": two and three people, each in their
own Chromium profile, at desktop (1440 × 900) and phone (390 × 844) size, against a real server
they can watch restart. Links open, markup renders, a pasted photo reaches the others without its
EXIF, a mention elsewhere raises a badge and a desktop notification, reading on one device clears
the other, edits and deletions show live and after a reload, a reaction and a reply outlive a
restart, the page speaks Chinese and back, a deep link opens the right room at the right message,
typing shows and stops. Throughout, no request leaves the page's own origin (every context's
requests and WebSockets are recorded), and axe-core finds nothing serious on the views reached.

The features' own flows, in more detail, are in tests/test_page_*.py; this module uses their steps."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Browser, BrowserContext, Page, Route, expect
from tornado.httpclient import AsyncHTTPClient

from chatd.server import Server
from tests.conftest import make_config
from tests.test_page import messages, open_tab, pytestmark, send  # noqa: F401 - the skip
from tests.test_page_a11y import violations
from tests.test_page_attention import DESKTOP, PHONE, RECORD_NOTIFICATIONS, badge, create_room, same_user_elsewhere
from tests.test_page_settings import choose_language, online, open_settings
from tests.test_page_uploads import put_file
from tests.test_uploads import metadata_left, photo_with_gps

DEVICES = pytest.mark.parametrize("device", [DESKTOP, PHONE], ids=["desktop", "phone"])
REL = {"noopener", "noreferrer", "nofollow"}
AGENDA = "https://agenda.example.org/week-2"  # outside: answered by the test's route, never the network
PHOTO_LINK = "https://img.example.org/cat.png"  # an image on another site: shown as a link, never loaded


class Site:
    """The chatd under test: one database file and one port, so that it can be stopped and
    another process started in its place, as an operator's restart does."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.server = Server(make_config(tmp_path))

    async def start(self) -> None:
        await self.server.start()
        self.origin = f"http://127.0.0.1:{self.server.port}"
        self.url = self.origin + "/"

    async def restart(self) -> None:
        port = self.server.port
        await self.server.stop(timeout=5)
        self.server = Server(make_config(self.tmp_path, listen=f"127.0.0.1:{port}"))
        await self.server.start()


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    site = Site(tmp_path)
    await site.start()
    yield site
    await site.server.stop(timeout=5)


@pytest.fixture
def server(site: Site) -> Server:
    """conftest's helpers (seed, user) work on the site's first server."""
    return site.server


def origin_of(url: str) -> str:
    """The origin a request goes to: a WebSocket's is its page's (ws → http), a blob's is its creator's."""
    parts = urlsplit(url.removeprefix("blob:"))
    return "{}://{}".format({"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme), parts.netloc)


@dataclass
class Seen:
    url: str
    kind: str  # "page": a tab's own address (a navigation); "load": what a page loads; "websocket"


class Egress:
    """Every request of every browser context the test opens, and every WebSocket, in order."""

    def __init__(self) -> None:
        self.seen: list[Seen] = []

    def watch(self, context: BrowserContext) -> None:
        context.on("request", lambda r: self.seen.append(Seen(r.url, "page" if r.is_navigation_request() else "load")))
        context.on("page", lambda page: page.on("websocket", lambda ws: self.seen.append(Seen(ws.url, "websocket"))))

    def outside(self, origin: str) -> list[Seen]:
        """What went to another origin than ``origin`` (once sure that the recording saw every kind)."""
        assert {s.kind for s in self.seen} == {"page", "load", "websocket"}, self.seen
        return [s for s in self.seen if origin_of(s.url) != origin]


@pytest.fixture
def egress(browser: Browser, monkeypatch: pytest.MonkeyPatch) -> Egress:
    """Watches each context from its creation (before its first page), whichever helper opens it."""
    egress = Egress()
    new_context = browser.new_context

    async def watched(**options) -> BrowserContext:
        context = await new_context(**options)
        egress.watch(context)
        return context

    monkeypatch.setattr(browser, "new_context", watched)
    return egress


async def enter(browser: Browser, site: Site, name: str, device: dict) -> Page:
    """``name``'s first visit, on ``device``: the page opens the lobby (on a phone the sidebar is a drawer)."""
    page = await open_tab(browser, site.url, name, room=None, **device)
    await expect(page.get_by_test_id("room-title")).to_contain_text("lobby")
    return page


async def in_sidebar(page: Page) -> None:
    """Opens the sidebar where it is a drawer, so that its rooms can be chosen."""
    toggle = page.locator("#toggle-sidebar")
    if await toggle.is_visible() and await toggle.get_attribute("aria-expanded") != "true":
        await toggle.click()
        await expect(page.locator("#sidebar")).to_be_visible()


async def reload(page: Page) -> None:
    await page.reload()
    await online(page)


async def axe_clean(*views: tuple[Page, str]) -> None:
    found = [line for page, view in views for line in await violations(page, view)]
    assert found == [], "\n".join(found)


def no_errors(*pages: Page) -> None:
    assert [e for page in pages for e in page.js_errors] == []


@DEVICES
async def test_links_markup_and_typing_between_two_people(browser, site, egress, device):
    alice = await enter(browser, site, "alice", device)
    bob = await enter(browser, site, "bob", device)
    fulfilled: list[str] = []

    async def agenda(route: Route) -> None:
        fulfilled.append(route.request.url)
        await route.fulfill(content_type="text/html", body="<!doctype html><title>Agenda</title><h1>Week 2</h1>")

    await bob.context.route(re.compile(r"^https://agenda\.example\.org/"), agenda)

    # Alice writes: bob sees her typing, and the hint ends when her message arrives.
    text = (f"the plan: {AGENDA} is **final**, *mostly* — run `make check`, photo at {PHOTO_LINK}\n"
            "> the best plans are short\n```\nmake check <fast>\n```")
    await alice.get_by_test_id("composer").fill(text)
    await expect(bob.get_by_test_id("typing")).to_have_text("alice is typing…")
    await alice.get_by_test_id("composer").press("Enter")
    item = messages(bob).last
    await expect(item).to_contain_text("the plan:")
    await expect(bob.get_by_test_id("typing")).to_have_text("")

    # The markup is elements, built from the text: bold, italic, code, a code block, a quote.
    await expect(item.locator("strong")).to_have_text("final")
    await expect(item.locator("em")).to_have_text("mostly")
    await expect(item.locator("p code")).to_have_text("make check")
    await expect(item.locator("pre code")).to_have_text("make check <fast>")
    await expect(item.locator("blockquote")).to_have_text("the best plans are short")
    # Both addresses are links that open in a new tab, telling the other site nothing of the chat;
    # the image on another site is not fetched (nothing tells that site who reads the chat).
    links = item.locator(".msg-text a")
    await expect(links).to_have_count(2)
    for link, href in zip(await links.all(), [AGENDA, PHOTO_LINK], strict=True):
        assert await link.get_attribute("href") == href
        assert await link.get_attribute("target") == "_blank"
        assert set((await link.get_attribute("rel")).split()) >= REL
    await expect(item.get_by_test_id("linked-image")).to_have_count(0)

    clicked = len(egress.seen)
    async with bob.context.expect_page() as opened:
        await links.first.click()
    tab = await opened.value
    await expect(tab.locator("h1")).to_have_text("Week 2")
    assert await tab.evaluate("window.opener") is None

    # Bob answers: alice sees him typing, and he is not told of his own typing.
    await bob.get_by_test_id("composer").fill("looks")
    await expect(alice.get_by_test_id("typing")).to_have_text("bob is typing…")
    await expect(bob.get_by_test_id("typing")).to_have_text("")
    await bob.get_by_test_id("composer").fill("looks good to me")
    await bob.get_by_test_id("composer").press("Enter")
    await expect(messages(alice).last).to_contain_text("looks good to me")
    await expect(alice.get_by_test_id("typing")).to_have_text("")

    # The one request that left the origin: the new tab's, after bob's click, answered by the route.
    outside = egress.outside(site.origin)
    assert outside == [Seen(AGENDA, "page")] and egress.seen.index(outside[0]) >= clicked, outside
    assert fulfilled == [AGENDA] and tab.url == AGENDA and origin_of(bob.url) == site.origin
    await axe_clean((alice, "room with links and markup"), (bob, "room with links and markup, reader"))
    no_errors(alice, bob)


@DEVICES
async def test_a_pasted_photo_and_deep_links_with_three_people(browser, site, egress, seed, device):
    alice = await enter(browser, site, "alice", device)
    bob = await enter(browser, site, "bob", device)
    await in_sidebar(alice)
    await create_room(alice, "trip")
    history = await seed(60, "earlier in trip", room="trip")

    # Alice pastes a phone photo (EXIF with a GPS position) into the message box and sends it.
    await put_file(alice, "paste", "#composer", "IMG_0001.jpg", "image/jpeg", photo_with_gps())
    await expect(alice.get_by_test_id("upload-tray").get_by_test_id("upload")).to_have_attribute("data-state", "done")
    await alice.get_by_test_id("composer").press("Enter")
    photo = messages(alice).last
    await expect(photo).to_have_attribute("data-id", re.compile(r"^\d+$"))
    photo_id = await photo.get_attribute("data-id")

    # Bob, in the lobby, opens her link to it: the room trip, at the photo, which he opens full size.
    await bob.goto(f"{site.url}#/r/trip/m/{photo_id}")
    await expect(bob.get_by_test_id("room-title")).to_contain_text("trip")
    shown = bob.locator(f'[data-testid=message][data-id="{photo_id}"]')
    await expect(shown).to_have_class(re.compile("highlight"))
    thumb = shown.get_by_test_id("attachment-image").locator("img")
    await expect(thumb).to_have_js_property("complete", True)
    assert 0 < await thumb.evaluate("img => img.naturalWidth") < 300  # the thumbnail, not the file
    await shown.get_by_test_id("attachment-image").click()
    full = bob.get_by_test_id("viewer-image")
    await expect(bob.get_by_test_id("viewer")).to_be_visible()
    await expect(full).to_have_js_property("complete", True)
    assert await full.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [300, 600]  # turned upright
    stored = (await AsyncHTTPClient().fetch(site.origin + await full.get_attribute("src"))).body
    assert metadata_left(stored) == []
    await axe_clean((bob, "image viewer"))
    await bob.keyboard.press("Escape")
    await expect(bob.get_by_test_id("viewer")).to_be_hidden()

    # Carol has never been here: a link to an early message opens trip there, not the lobby, not the bottom.
    early = history[2]
    carol = await open_tab(browser, f"{site.url}#/r/trip/m/{early}", "carol", room=None, **device)
    await expect(carol.get_by_test_id("room-title")).to_contain_text("trip")
    target = carol.locator(f'[data-testid=message][data-id="{early}"]')
    await expect(target).to_have_class(re.compile("highlight"))
    await expect(target).to_be_in_viewport()
    await expect(messages(carol).last).not_to_be_in_viewport()
    await expect(carol).to_have_url(re.compile(r"#/r/trip(/m/\d+)?$"))

    assert egress.outside(site.origin) == []
    await axe_clean((alice, "room with a photo"), (bob, "room opened by a link"), (carol, "a first visit by a link"))
    no_errors(alice, bob, carol)


async def test_a_mention_elsewhere_reading_on_another_device_and_chinese(browser, site, egress):
    laptop = await open_tab(browser, site.url, "alice", permissions=["notifications"], **DESKTOP)
    await laptop.context.add_init_script(RECORD_NOTIFICATIONS)
    await reload(laptop)
    await open_settings(laptop)  # alice turns desktop notifications on (the permission: granted above)
    await laptop.get_by_test_id("settings-desktop").check()
    await laptop.keyboard.press("Escape")
    await create_room(laptop, "dev")
    await laptop.get_by_test_id("room-lobby").click()  # alice reads the lobby; dev is off screen
    phone = await same_user_elsewhere(browser, site.url, laptop, "#/r/lobby", **PHONE)
    await expect(phone.get_by_test_id("room-title")).to_contain_text("lobby")
    bob = await open_tab(browser, site.url, "bob", **DESKTOP)
    await bob.get_by_test_id("room-dev").click()
    await expect(bob.get_by_test_id("room-title")).to_contain_text("dev")

    await send(bob, "morning all")
    await send(bob, "@alice can you review the release?")
    for page in (laptop, phone):
        await expect(badge(page, "dev")).to_have_attribute("data-kind", "mentions")
        await expect(badge(page, "dev")).to_contain_text("@1")
    await laptop.wait_for_function("() => window.notes.length === 1")
    assert await laptop.evaluate("window.notes") == [{"title": "bob in #dev",
                                                      "body": "@alice can you review the release?"}]

    # Read on the phone: the laptop's badge goes too.
    await in_sidebar(phone)
    await phone.get_by_test_id("room-dev").click()
    await expect(messages(phone).last).to_contain_text("can you review")
    await expect(badge(phone, "dev")).to_have_count(0)
    await expect(badge(laptop, "dev")).to_have_count(0)

    # The notification opens the message on the laptop. A mention that arrives while alice reads dev
    # notifies nobody, and stands out from the other messages.
    await laptop.evaluate("window.lastNote.dispatchEvent(new Event('click'))")
    await expect(laptop.get_by_test_id("room-title")).to_contain_text("dev")
    await expect(messages(laptop).filter(has_text="can you review")).to_have_class(re.compile("highlight"))
    await send(bob, "@alice and the changelog")
    mention = messages(laptop).filter(has_text="and the changelog")
    await expect(mention).to_have_class(re.compile("mentioned"))
    await expect(mention).to_contain_text("(mentions you)")
    look = "(li) => [getComputedStyle(li).backgroundColor, getComputedStyle(li).borderLeftColor]"
    plain = await messages(laptop).filter(has_text="morning all").evaluate(look)
    assert await mention.evaluate(look) != plain, "a mention looks like any other message"
    assert await laptop.evaluate("window.notes.length") == 1

    # Chinese and back, from the settings; <html lang> follows.
    await open_settings(laptop)
    await choose_language(laptop, "zh-CN", "房间")
    await expect(laptop.get_by_test_id("room-title")).to_contain_text("dev")
    await axe_clean((laptop, "room in Chinese"))
    await open_settings(laptop)
    await expect(laptop.locator("#settings-heading")).to_have_text("设置")
    await choose_language(laptop, "en", "Rooms")

    assert egress.outside(site.origin) == []
    await axe_clean((laptop, "room with a mention"), (phone, "room read on a phone"), (bob, "room, the mentioner"))
    no_errors(laptop, phone, bob)


async def test_edits_deletions_replies_and_reactions_live_after_a_reload_and_a_restart(
        browser, site, egress):
    alice = await enter(browser, site, "alice", DESKTOP)
    bob = await enter(browser, site, "bob", PHONE)
    await send(alice, "the meeting is at tree")
    await send(alice, "wrong room, sorry")
    await expect(messages(bob)).to_have_count(2)

    # An edit and a deletion reach bob as they happen.
    await messages(alice).first.get_by_test_id("edit-message").click()
    await alice.get_by_test_id("edit-box").fill("the meeting is at three")
    await alice.get_by_test_id("edit-box").press("Enter")
    await messages(alice).last.get_by_test_id("delete-own").click()
    await alice.get_by_test_id("confirm-yes").click()  # "Delete this message for everyone?", asked in the page

    async def changed(page: Page) -> None:
        await expect(messages(page).first).to_contain_text("the meeting is at three")
        await expect(messages(page).first.get_by_test_id("edited-mark")).to_have_text("(edited)")
        await expect(page.locator("[data-testid=message][data-deleted]")).to_have_count(1)
        await expect(page.get_by_test_id("messages")).not_to_contain_text("wrong room")

    await changed(bob)
    await reload(bob)
    await changed(bob)

    # Bob replies to it, alice gives the reply a 👍.
    await messages(bob).first.get_by_test_id("reply-message").click()
    await send(bob, "see you there")
    reply = messages(alice).filter(has_text="see you there")
    await expect(reply.get_by_test_id("reply-quote")).to_contain_text("the meeting is at three")
    await reply.get_by_test_id("react-message").click()
    await reply.get_by_test_id("react-chooser").locator("[data-emoji='👍']").click()

    async def answered(page: Page) -> None:
        reply = messages(page).filter(has_text="see you there")
        await expect(reply.get_by_test_id("reply-quote")).to_contain_text("alice")
        await expect(reply.get_by_test_id("reply-quote")).to_contain_text("the meeting is at three")
        thumbs = reply.locator("[data-testid=reaction][data-emoji='👍']")
        await expect(thumbs).to_contain_text("1")
        await expect(thumbs).to_have_attribute("title", "\u2068alice\u2069")
        await changed(page)

    await answered(bob)

    # The server stops and another takes its place on the same database and port: both pages come back by themselves.
    reconnected = [asyncio.ensure_future(page.wait_for_event("websocket", timeout=30_000)) for page in (alice, bob)]
    await site.restart()
    await asyncio.gather(*reconnected)
    for page in (alice, bob):
        await online(page)
        await answered(page)
        await reload(page)
        await answered(page)
    carol = await enter(browser, site, "carol", DESKTOP)  # what the new process has, shown to a newcomer
    await answered(carol)

    assert egress.outside(site.origin) == []
    await axe_clean((alice, "room with a reply and a reaction"), (bob, "the same on a phone"), (carol, "a newcomer"))
    no_errors(alice, bob, carol)

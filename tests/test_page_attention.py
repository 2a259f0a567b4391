"""Read state, mentions, notification levels and typing on the page (static/attention.js,
readstate.js, read-tracker.js, badges.js, unread-line.js, alerts.js, notify-level.js, typing.js):
what one user on two devices, a mentioned user and a reader coming back see."""

from __future__ import annotations

import asyncio
import io
import re

import pytest
from PIL import Image
from playwright.async_api import Page, expect

from tests.test_page import gate_websockets, messages, open_tab, send

DESKTOP = {"viewport": {"width": 1440, "height": 900}}
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
# Every desktop notification the page makes, kept for the test (the real one is made too).
RECORD_NOTIFICATIONS = """
window.notes = [];
const Real = window.Notification;
window.Notification = class extends Real {
  constructor(title, options) {
    super(title, options);
    window.notes.push({title, body: options && options.body});
    window.lastNote = this;
  }
};
"""


def badge(page: Page, room: str):
    return page.get_by_test_id(f"room-{room}").get_by_test_id("badge")


async def create_room(page: Page, name: str) -> None:
    await page.get_by_test_id("new-room-toggle").click()
    await page.get_by_test_id("new-room").fill(name)
    await page.get_by_test_id("create-room").click()
    await expect(page.get_by_test_id("room-title")).to_contain_text(name)


def record_frames(page: Page, who: str, log: list[str]) -> None:
    """Every WebSocket frame ``page`` sends and receives from now on, into ``log`` as "who > frame"
    or "who < frame": a failure that is rare (once in ~70 runs) then says which side lost what."""
    def socket(ws) -> None:
        ws.on("framesent", lambda payload: log.append(f"{who} > {str(payload)[:200]}"))
        ws.on("framereceived", lambda payload: log.append(f"{who} < {str(payload)[:200]}"))
        ws.on("close", lambda _: log.append(f"{who} closed"))

    page.on("websocket", socket)


async def same_user_elsewhere(browser, page_url: str, page: Page, hash_: str, frames: list[str] | None = None,
                              **options) -> Page:
    """Another device of the user signed in on ``page`` (its resume token), opened at ``hash_``;
    its WebSocket frames recorded in ``frames`` if given."""
    token = await page.evaluate("JSON.parse(localStorage.getItem('chatd.token'))")
    other = await (await browser.new_context(**options)).new_page()
    if frames is not None:
        record_frames(other, "other device", frames)
    other.js_errors = []
    other.on("pageerror", lambda e: other.js_errors.append(str(e)))
    await other.goto(page_url)
    await other.evaluate("(token) => localStorage.setItem('chatd.token', JSON.stringify(token))", token)
    await other.goto(page_url + hash_)
    await other.reload()
    await expect(other.get_by_test_id("conn-state")).to_have_attribute("data-state", "online")
    return other


async def test_reading_on_one_device_clears_the_unread_badge_on_the_other(browser, page_url, user):
    laptop = await open_tab(browser, page_url, "alice", **DESKTOP)
    await create_room(laptop, "dev")
    phone = await same_user_elsewhere(browser, page_url, laptop, "#/r/dev", **PHONE)
    await expect(phone.get_by_test_id("room-title")).to_contain_text("dev")
    bob = await user("bob", "lobby")

    # Rooms notify of mentions by default: other messages make a dot, on both devices.
    await bob.say("lobby", "one")
    await bob.say("lobby", "two")
    for page in (laptop, phone):
        await expect(badge(page, "lobby")).to_have_attribute("data-kind", "dot")
    await laptop.get_by_test_id("room-lobby").click()
    await expect(messages(laptop).last).to_contain_text("two")
    await expect(badge(laptop, "lobby")).to_have_count(0)
    await expect(badge(phone, "lobby")).to_have_count(0)  # read on the laptop: read on the phone

    # Every message counts once the level is "all", chosen on one device and confirmed on both.
    await laptop.get_by_test_id("notify-level").select_option("all")
    await expect(laptop.get_by_test_id("notify-level")).to_have_value("all")
    await laptop.get_by_test_id("room-dev").click()
    await bob.say("lobby", "three")
    await bob.say("lobby", "four")
    for page in (laptop, phone):
        await expect(badge(page, "lobby")).to_have_attribute("data-kind", "unread")
        await expect(badge(page, "lobby")).to_contain_text("2")
    await phone.locator("#toggle-sidebar").click()
    await phone.get_by_test_id("room-lobby").click()
    await expect(messages(phone).last).to_contain_text("four")
    await expect(phone.get_by_test_id("notify-level")).to_have_value("all")
    await expect(badge(laptop, "lobby")).to_have_count(0)
    assert not laptop.js_errors and not phone.js_errors


async def test_a_mention_in_another_room_raises_a_mention_badge_and_a_desktop_notification(
        browser, page_url, user):
    context = await browser.new_context(**DESKTOP)
    await context.grant_permissions(["notifications"])
    await context.add_init_script(RECORD_NOTIFICATIONS)
    page = await context.new_page()
    page.js_errors = []
    page.on("pageerror", lambda e: page.js_errors.append(str(e)))
    await page.goto(page_url)
    await page.get_by_test_id("name-input").fill("alice")
    await page.get_by_test_id("name-submit").click()
    await expect(page.get_by_test_id("conn-state")).to_have_attribute("data-state", "online")
    await page.get_by_test_id("room-lobby").click()
    await create_room(page, "dev")
    await page.get_by_test_id("room-lobby").click()  # alice reads the lobby; dev is off screen
    await expect(page.get_by_test_id("room-title")).to_contain_text("lobby")

    bob = await user("bob", "dev")
    await bob.say("dev", "@alice can you look?")
    await expect(badge(page, "dev")).to_have_attribute("data-kind", "mentions")
    await expect(badge(page, "dev")).to_contain_text("@1")
    # The first mention offers desktop notifications (never asked on load); yes turns them on.
    offer = page.get_by_test_id("desktop-offer")
    inset = await offer.evaluate(
        "(el) => el.firstElementChild.getBoundingClientRect().left - el.getBoundingClientRect().left")
    assert inset >= 8  # its words are not flush against the pane's edge
    await page.get_by_test_id("desktop-offer-yes").click()
    await expect(page.get_by_test_id("desktop-offer")).to_be_hidden()
    await bob.say("dev", "@alice now, please")
    await expect(badge(page, "dev")).to_contain_text("@2")
    # A function, not a string: Playwright polls a string with eval, which the page's CSP refuses.
    await page.wait_for_function("() => window.notes.length === 1")
    assert await page.evaluate("window.notes") == [{"title": "bob in #dev", "body": "@alice now, please"}]
    await bob.say("dev", "no mention here")  # the room's level is "mentions": no notification
    await expect(badge(page, "dev")).to_contain_text("@2")

    # Clicking the notification opens the room at the message, highlighted as a mention of alice.
    await page.evaluate("window.lastNote.dispatchEvent(new Event('click'))")
    await expect(page.get_by_test_id("room-title")).to_contain_text("dev")
    mention = messages(page).filter(has_text="now, please")
    await expect(mention).to_have_class(re.compile("mentioned"))
    await expect(mention).to_contain_text("(mentions you)")
    assert await page.evaluate("window.notes.length") == 1
    assert not page.js_errors


async def test_typing_shows_and_stops_on_the_other_side(browser, page_url):
    alice = await open_tab(browser, page_url, "alice", **DESKTOP)
    bob = await open_tab(browser, page_url, "bob", **DESKTOP)
    carol = await open_tab(browser, page_url, "carol", room=None, **PHONE)  # a first visit opens the lobby
    await expect(carol.get_by_test_id("room-title")).to_contain_text("lobby")
    typing = alice.get_by_test_id("typing")
    await bob.get_by_test_id("composer").fill("hel")
    await expect(typing).to_have_text("bob is typing…")
    await carol.get_by_test_id("composer").fill("hi")
    await expect(typing).to_have_text("bob and carol are typing…")
    await bob.get_by_test_id("composer").fill("hello all")
    await bob.get_by_test_id("composer").press("Enter")
    await expect(messages(alice).last).to_contain_text("hello all")
    await expect(typing).to_have_text("carol is typing…")  # bob's message ends his hint
    await expect(typing).to_have_text("")  # carol's fades when no other comes
    await expect(bob.get_by_test_id("typing")).to_have_text("")  # nobody is told of their own typing
    assert not alice.js_errors and not bob.js_errors and not carol.js_errors


async def test_new_messages_line_where_the_user_left_off_and_jump_to_latest(
        browser, page_url, seed, user):
    alice = await open_tab(browser, page_url, "alice", **DESKTOP)
    bob = await user("bob", "lobby")
    await bob.say("lobby", "read before")
    await expect(messages(alice).last).to_contain_text("read before")
    await create_room(alice, "dev")
    first = (await seed(60, "while away", room="lobby"))[0]
    await alice.reload()  # what was missed comes with welcome, not from what this tab saw
    await expect(alice.get_by_test_id("conn-state")).to_have_attribute("data-state", "online")
    await expect(badge(alice, "lobby")).to_have_attribute("data-kind", "dot")

    await alice.get_by_test_id("room-lobby").click()
    line = alice.get_by_test_id("unread-line")
    await expect(line).to_have_text("New messages")
    assert await line.evaluate("(el) => el.nextElementSibling.dataset.id "
                               "|| el.nextElementSibling.nextElementSibling.dataset.id") == str(first)
    await expect(line).to_be_in_viewport()  # opened where the user left off, not at the bottom
    await expect(messages(alice).last).not_to_be_in_viewport()
    jump = alice.get_by_test_id("jump-latest")
    await expect(jump).to_have_text("Jump to latest")
    await bob.say("lobby", "live one")
    await bob.say("lobby", "live two")
    await expect(jump).to_have_text("2 new messages ↓")
    await jump.click()
    await expect(messages(alice).last).to_contain_text("live two")
    await expect(messages(alice).last).to_be_in_viewport()
    await expect(jump).to_be_hidden()
    await expect(badge(alice, "lobby")).to_have_count(0)
    assert not alice.js_errors



async def test_what_the_user_sends_while_scrolled_up_comes_into_view_and_is_never_new(
        browser, page_url, seed, user):
    alice = await open_tab(browser, page_url, "alice", **DESKTOP)
    bob = await user("bob", "lobby")
    await create_room(alice, "dev")
    await seed(60, "while away", room="lobby")
    frames: list[str] = []
    record_frames(alice, "laptop", frames)
    await alice.reload()
    await expect(alice.get_by_test_id("conn-state")).to_have_attribute("data-state", "online")
    await alice.get_by_test_id("room-lobby").click()
    jump = alice.get_by_test_id("jump-latest")
    await expect(jump).to_have_text("Jump to latest")  # opened at the "New messages" line: scrolled up

    # Written on alice's phone: hers, so not new to her (the sender has read its own messages,
    # docs/protocol.md "Read state"); bob's is.
    phone = await same_user_elsewhere(browser, page_url, alice, "#/r/lobby", frames, **PHONE)
    try:
        await send(phone, "from my phone")
        sent = messages(phone).last
        await expect(sent).to_contain_text("from my phone")
        await expect(sent).to_have_attribute("data-id", re.compile(r"^\d+$"))  # acknowledged: stored
        await expect(messages(alice).last).to_contain_text("from my phone")
    except AssertionError as e:
        raise AssertionError("\n".join([str(e), "frames (the last 60):", *frames[-60:]])) from None
    await bob.say("lobby", "from bob")
    await expect(messages(alice).last).to_contain_text("from bob")
    await expect(jump).to_have_text("1 new message ↓")

    # Sent here: the list goes to the bottom, where it shows, and nothing below is left to jump to.
    await send(alice, "from my laptop")
    mine = messages(alice).last
    await expect(mine).to_contain_text("from my laptop")
    await expect(mine).to_have_attribute("data-id", re.compile(r"^\d+$"))  # acknowledged, no longer pending
    await expect(mine).to_be_in_viewport(ratio=1)
    await expect(jump).to_be_hidden()
    assert not alice.js_errors and not phone.js_errors


# Messages that grow after the list has drawn them: a body folded with "Show more" (its button shows
# once the fold is measured), a 3,000-character URL, and an image linked from an allowed host (no
# size known until it loads; the test holds it back until the list has opened).
TALL = ["\n".join(f"line {i}" for i in range(45)), "https://example.com/" + "a" * 3000]
HELD_IMAGE = "held-image.png"


async def hold_images(page: Page) -> asyncio.Event:
    """Hold back every request for HELD_IMAGE on ``page`` until the returned event is set."""
    release = asyncio.Event()
    png = io.BytesIO()
    Image.new("RGB", (300, 200), "teal").save(png, "PNG")

    async def late(route):
        await release.wait()
        await route.fulfill(body=png.getvalue(), content_type="image/png")

    await page.route(f"**/{HELD_IMAGE}", late)
    return release


async def settled(page: Page) -> None:
    """Once every image in the list has loaded and the page has drawn twice since."""
    await page.evaluate("""async () => {
        await Promise.all([...document.querySelectorAll('#messages img')].map((img) =>
            img.complete || new Promise((done) => img.addEventListener('load', done, {once: true}))));
        await new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)));
    }""")


async def below_bottom(page: Page) -> float:
    """How far the list goes on below what the scroller shows, in CSS pixels, once the page has
    drawn twice more: the page keeps the list at its bottom in its next frame, not at once."""
    return await page.get_by_test_id("messages").evaluate("""async (list) => {
        await new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)));
        const s = list.parentElement;
        return s.scrollHeight - s.scrollTop - s.clientHeight;
    }""")


async def line_offset(page: Page) -> float:
    """The "New messages" line's distance from the top of the scroller."""
    return await page.get_by_test_id("unread-line").evaluate(
        "(line) => line.getBoundingClientRect().top - line.closest('.scroller').getBoundingClientRect().top")


@pytest.mark.parametrize("config_overrides", [{"page": {"image_hosts": ["127.0.0.1"]}}])
async def test_a_view_opens_at_its_newest_message_or_new_line_whatever_grows_after_drawing(
        browser, page_url, user, config_overrides):
    alice = await open_tab(browser, page_url, "alice", **DESKTOP)
    release = await hold_images(alice)
    bob = await user("bob", "lobby")
    for text in [*TALL, f"a picture: {page_url}{HELD_IMAGE}"]:
        await bob.say("lobby", text)
    await expect(messages(alice)).to_have_count(3)
    release.set()
    await settled(alice)
    assert await below_bottom(alice) <= 1  # watching at the bottom: the list stays there as they grow

    # Opened again (a reload), the image held back: the list opens at the bottom, where the newest
    # message, which mentions alice, shows; so it is read, on every device.
    await create_room(alice, "dev")
    await bob.say("lobby", "@alice the newest")
    await expect(badge(alice, "lobby")).to_contain_text("@1")
    release = await hold_images(alice)
    await alice.reload()
    await expect(alice.get_by_test_id("conn-state")).to_have_attribute("data-state", "online")
    await alice.get_by_test_id("room-lobby").click()
    newest = messages(alice).filter(has_text="the newest")
    await expect(newest).to_be_in_viewport(ratio=1)
    await expect(messages(alice).filter(has_text="line 44").get_by_test_id("fold-toggle")).to_be_visible()
    assert await below_bottom(alice) <= 1
    release.set()
    await settled(alice)
    assert await below_bottom(alice) <= 1
    await expect(newest).to_be_in_viewport(ratio=1)
    await expect(alice.get_by_test_id("jump-latest")).to_be_hidden()
    await expect(badge(alice, "lobby")).to_have_count(0)

    # More than a screen came while alice was away: the list opens at the "New messages" line, which
    # stays where it opened while the image above it loads.
    await alice.get_by_test_id("room-dev").click()
    for i in range(30):
        await bob.say("lobby", f"while away {i}")
    release = await hold_images(alice)
    await alice.reload()
    await expect(alice.get_by_test_id("conn-state")).to_have_attribute("data-state", "online")
    await alice.get_by_test_id("room-lobby").click()
    await expect(alice.get_by_test_id("unread-line")).to_be_in_viewport()
    opened_at = await line_offset(alice)
    release.set()
    await settled(alice)
    assert abs(await line_offset(alice) - opened_at) <= 1
    assert not alice.js_errors


async def test_what_the_user_saw_is_read_though_they_leave_before_the_paced_read(browser, page_url, user):
    """The page tells what is read at most about once a second (read-tracker.js): a message seen in
    the second before the user goes to another view, or reloads, is read all the same — else the view
    opens next time at a "New messages" line above it. The laptop's clock is Playwright's, stopped, so
    the paced read is always still due when the user leaves; the phone sees what the server stored."""
    laptop = await (await browser.new_context(**DESKTOP)).new_page()
    laptop.js_errors = []
    laptop.on("pageerror", lambda e: laptop.js_errors.append(str(e)))
    await laptop.clock.install()
    await laptop.goto(page_url)
    await laptop.get_by_test_id("name-input").fill("alice")
    await laptop.get_by_test_id("name-submit").click()
    await expect(laptop.get_by_test_id("room-title")).to_contain_text("lobby")  # a first visit opens it
    await create_room(laptop, "dev")
    phone = await same_user_elsewhere(browser, page_url, laptop, "#/r/dev", **PHONE)
    bob = await user("bob", "lobby")
    await laptop.get_by_test_id("room-lobby").click()
    await expect(laptop.get_by_test_id("room-title")).to_contain_text("lobby")
    # Stopped a little ahead of the laptop's time (the clock only goes forward): no timer fires from now on.
    now = await laptop.evaluate("Date.now()")
    await laptop.clock.pause_at(now / 1000 + 5)

    # Seen, then another view at once.
    await bob.say("lobby", "@alice seen before leaving")
    await expect(badge(phone, "lobby")).to_contain_text("@1")
    await expect(messages(laptop).last).to_contain_text("seen before leaving")
    await expect(messages(laptop).last).to_be_in_viewport(ratio=1)
    await laptop.get_by_test_id("room-dev").click()
    await expect(badge(phone, "lobby")).to_have_count(0)
    await expect(badge(laptop, "lobby")).to_have_count(0)

    # Seen, then the page reloaded at once, coming back with no connection: only the page that saw it
    # can have said so.
    await laptop.get_by_test_id("room-lobby").click()
    await bob.say("lobby", "@alice 刷新之前看到的")
    await expect(badge(phone, "lobby")).to_contain_text("@1")
    await expect(messages(laptop).last).to_contain_text("刷新之前看到的")
    await expect(messages(laptop).last).to_be_in_viewport(ratio=1)
    refuse = await gate_websockets(laptop, refusing=True)
    await laptop.reload()
    await expect(badge(phone, "lobby")).to_have_count(0)
    refuse["on"] = False
    await laptop.clock.resume()
    await expect(laptop.get_by_test_id("conn-state")).to_have_attribute("data-state", "online")
    await expect(laptop.get_by_test_id("unread-line")).to_have_count(0)
    await expect(messages(laptop).last).to_be_in_viewport(ratio=1)
    assert not laptop.js_errors and not phone.js_errors

"""Moderation in the chat page, in Chromium: a moderator (an app token's role) deletes a
message from the page and every open page drops it without a reload; mutes and bans from
the member list; a banned page says why and until when and does not reconnect."""

from __future__ import annotations

import re
import time

import jwt
import pytest
from playwright.async_api import Page, expect

from tests.conftest import until
from tests.test_page import browser, messages, open_tab, page_url, send  # noqa: F401 - browser, page_url: fixtures
from tests.test_page_client import APP_SECRET


@pytest.fixture
def config_overrides() -> dict:
    return {"app_tokens": {"secret": APP_SECRET}}


def moderator_token(sub: str, name: str, *roles: str) -> str:
    return jwt.encode({"sub": sub, "name": name, "roles": list(roles), "exp": int(time.time() + 300)}, APP_SECRET,
                      algorithm="HS256")


async def mute_in_dialog(mod: Page) -> None:
    """In the mute dialog ``mod``'s menu opened: 10 minutes, reason "flooding"; waits for the toast."""
    mute = mod.get_by_test_id("mute-dialog")
    await mute.get_by_test_id("mute-duration").select_option("600")
    await mute.get_by_test_id("mute-reason").fill("flooding")
    await mute.get_by_test_id("mute-submit").click()
    await expect(mute).to_be_hidden()
    await expect(mod.locator("#toasts")).to_contain_text("is muted in #\u2068lobby\u2069: 10 minutes.")


async def moderator_tab(browser, page_url, name: str, *roles: str):  # noqa: F811
    page = await (await browser.new_context()).new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.js_errors = errors
    page.on("dialog", lambda dialog: dialog.accept(page.dialog_answer))
    page.dialog_answer = ""
    await page.goto(page_url + "#app_token=" + moderator_token(f"u-{name}", name, *roles))
    await expect(page.get_by_test_id("conn-state")).to_have_attribute("data-state", "online")
    await page.get_by_test_id("room-lobby").click()
    await expect(page.get_by_test_id("room-title")).to_contain_text("lobby")
    return page


async def test_a_moderator_deletes_a_message_and_open_pages_drop_it_without_reload(browser, page_url):  # noqa: F811
    alice = await open_tab(browser, page_url, "alice")
    mod = await moderator_tab(browser, page_url, "mona", "moderator")
    await send(alice, "first")
    await send(alice, "buy pills now")
    for page in (alice, mod):
        await expect(messages(page).filter(has_text="buy pills now")).to_have_count(1)
    await expect(alice.get_by_test_id("delete-message")).to_have_count(0)  # not a moderator: no Delete
    spam = messages(mod).filter(has_text="buy pills now")
    await spam.get_by_test_id("delete-message").click()
    await mod.get_by_test_id("confirm-dialog").get_by_test_id("confirm-yes").click()  # asked in the page
    for page in (alice, mod):
        await expect(messages(page).filter(has_text="buy pills now")).to_have_count(0)
        await expect(page.locator("[data-testid=message][data-deleted]")).to_have_text("Message deleted")
        await expect(messages(page).filter(has_text="first")).to_have_count(1)
    await alice.reload()  # history returns the tombstone: the placeholder stays in its place
    await expect(alice.locator("[data-testid=message][data-deleted]")).to_have_count(1)
    await expect(messages(alice).filter(has_text="buy pills now")).to_have_count(0)
    assert not alice.js_errors and not mod.js_errors


async def test_mute_and_ban_from_the_member_list_and_the_banned_page_stays_away(browser, page_url,  # noqa: F811
                                                                                server):
    bob = await open_tab(browser, page_url, "bob")
    mod = await moderator_tab(browser, page_url, "mona", "moderator")
    menu = mod.get_by_test_id("moderate-bob")
    await menu.locator("summary").focus()
    await menu.locator("summary").press("Enter")  # by keyboard
    await menu.get_by_test_id("mute").click()  # a dialog asks for how long and why (optional)
    await mute_in_dialog(mod)
    await send(bob, "can I talk?")
    muted = re.compile("muted in lobby for (10|9) minutes.*: flooding")  # the reason the dialog took
    await expect(bob.get_by_test_id("failed-reason")).to_contain_text(muted)

    mod.dialog_answer = "spamming links"
    await menu.locator("summary").click()
    await menu.get_by_test_id("ban").click()
    notice = bob.get_by_test_id("notice")
    await expect(notice).to_contain_text("You are banned from this chat for good. Reason: spamming links.")
    await expect(bob.get_by_test_id("notice-action")).to_be_hidden()  # nothing to click to come back
    await expect(bob.get_by_test_id("conn-state")).to_have_attribute("data-state", "offline")
    await expect(bob.locator("#retry-now")).to_be_hidden()
    user_id = await bob.evaluate("JSON.parse(localStorage.getItem('chatd.userId'))")
    await until(lambda: not [s for s in server.sockets if s.session.user and s.session.user.id == user_id],
                what="bob's sessions closed")
    await bob.reload()  # coming back on its own: refused again, the page says why
    await expect(bob.get_by_test_id("notice")).to_contain_text("Reason: spamming links.")
    await expect(bob.locator("#app")).to_be_hidden()  # only the notice: no stale room list "Joining…"
    await expect(bob.get_by_test_id("conn-state")).to_have_attribute("data-state", "offline")
    page = await server.chat.store.audit.page(None, 10)
    assert [row["action"] for row in reversed(page.rows)] == ["user.mute", "user.ban"]


async def test_a_shorter_mute_from_the_page_leaves_the_longer_one_and_the_toast_says_so(browser, page_url,  # noqa: F811
                                                                                      server):
    await open_tab(browser, page_url, "bob")
    mod = await moderator_tab(browser, page_url, "mona", "moderator")
    menu = mod.get_by_test_id("moderate-bob")
    mute = mod.get_by_test_id("mute-dialog")
    # Until unmuted, then 10 minutes: the first stays. Each toast is awaited, so the first is stored first.
    for duration, said in (("", ": until unmuted."), ("600", " until unmuted already: that mute stays.")):
        await menu.locator("summary").click()
        await menu.get_by_test_id("mute").click()
        await mute.get_by_test_id("mute-duration").select_option(duration)
        await mute.get_by_test_id("mute-submit").click()
        await expect(mute).to_be_hidden()
        await expect(mod.locator("#toasts")).to_contain_text(f"is muted in #\u2068lobby\u2069{said}")
    [held] = server.chat.moderation.mutes()
    assert held.until is None
    assert not mod.js_errors

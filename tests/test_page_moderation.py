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
from tests.test_page import messages, open_tab, send
from tests.test_page_client import APP_SECRET
from tests.wsclient import ChatClient


@pytest.fixture
def config_overrides() -> dict:
    return {"app_tokens": {"secret": APP_SECRET}, "identity": {"avatar_hosts": ["cdn.example.com"]}}


# What a page in English says to a user the dialog muted in lobby for 10 minutes because of "flooding".
MUTED_FLOODING = re.compile("muted in #\u2068lobby\u2069 for (10 minutes|9 minutes, [0-9]+ seconds): "
                            "\u2068flooding\u2069")


def moderator_token(sub: str, name: str, *roles: str, **claims: str) -> str:
    return jwt.encode({"sub": sub, "name": name, "roles": list(roles), "exp": int(time.time() + 300)} | claims,
                      APP_SECRET, algorithm="HS256")


async def mute_in_dialog(mod: Page) -> None:
    """In the mute dialog ``mod``'s menu opened: 10 minutes, reason "flooding"; waits for the toast."""
    mute = mod.get_by_test_id("mod-dialog")
    await mute.get_by_test_id("mod-duration").select_option("600")
    await mute.get_by_test_id("mod-reason").fill("flooding")
    await mute.get_by_test_id("mod-submit").click()
    await expect(mute).to_be_hidden()
    await expect(mod.locator("#toasts")).to_contain_text("is muted in #\u2068lobby\u2069: 10 minutes.")


async def in_dialog(page: Page, duration: str | None = None, reason: str | None = None) -> None:
    """Fill the moderation dialog ``page``'s menu opened (``duration``: seconds, "" for no end) and submit it."""
    dialog = page.get_by_test_id("mod-dialog")
    await expect(dialog).to_be_visible()
    if duration is not None:
        await dialog.get_by_test_id("mod-duration").select_option(duration)
    if reason is not None:
        await dialog.get_by_test_id("mod-reason").fill(reason)
    await dialog.get_by_test_id("mod-submit").click()
    await expect(dialog).to_be_hidden()


async def moderator_tab(browser, page_url, name: str, *roles: str, **context_options):
    page = await (await browser.new_context(**context_options)).new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.js_errors = errors
    page.browser_dialogs = []  # the page asks in its own dialogs, never with prompt() or confirm()
    page.on("dialog", lambda dialog: page.browser_dialogs.append(dialog.message))
    await page.goto(page_url + "#app_token=" + moderator_token(f"u-{name}", name, *roles))
    await expect(page.get_by_test_id("conn-state")).to_have_attribute("data-state", "online")
    await page.get_by_test_id("room-lobby").click()
    await expect(page.get_by_test_id("room-title")).to_contain_text("lobby")
    return page


async def test_a_moderator_deletes_a_message_and_open_pages_drop_it_without_reload(browser, page_url):
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


async def test_mute_and_ban_from_the_member_list_and_the_banned_page_stays_away(browser, page_url,
                                                                                server):
    bob = await open_tab(browser, page_url, "bob")
    mod = await moderator_tab(browser, page_url, "mona", "moderator")
    menu = mod.get_by_test_id("moderate-bob")
    await menu.locator("summary").focus()
    await menu.locator("summary").press("Enter")  # by keyboard
    await menu.get_by_test_id("mute").click()  # a dialog asks for how long and why (optional)
    await mute_in_dialog(mod)
    await send(bob, "can I talk?")
    await expect(bob.get_by_test_id("failed-reason")).to_contain_text(MUTED_FLOODING)

    await menu.locator("summary").click()
    await menu.get_by_test_id("ban").click()
    await in_dialog(mod, "", "spamming links")  # for good
    notice = bob.get_by_test_id("notice")
    await expect(notice).to_contain_text("You are banned from this chat for good. Reason: \u2068spamming links\u2069.")
    await expect(notice).to_be_visible()
    await expect(bob.get_by_test_id("notice-action")).to_be_hidden()  # nothing to click to come back
    await expect(bob.get_by_test_id("conn-state")).to_have_attribute("data-state", "offline")
    await expect(bob.locator("#retry-now")).to_be_hidden()
    user_id = await bob.evaluate("JSON.parse(localStorage.getItem('chatd.userId'))")
    await until(lambda: not [s for s in server.sockets if s.session.user and s.session.user.id == user_id],
                what="bob's sessions closed")
    await bob.reload()  # coming back on its own: refused again, the page says why
    await expect(bob.get_by_test_id("notice")).to_contain_text("Reason: \u2068spamming links\u2069.")
    await expect(bob.get_by_test_id("notice")).to_be_visible()  # only the notice: no stale room list "Joining…"
    for part in ("#sidebar", "#members-panel", "#composer-form", ".topbar"):
        await expect(bob.locator(part).first).to_be_hidden()
    await expect(bob.get_by_test_id("conn-state")).to_have_attribute("data-state", "offline")
    page = await server.chat.store.audit.page(None, 10)
    assert [row["action"] for row in reversed(page.rows)] == ["user.mute", "user.ban"]
    assert not mod.browser_dialogs


async def test_a_shorter_mute_from_the_page_leaves_the_longer_one_and_the_toast_says_so(browser, page_url,
                                                                                      server):
    await open_tab(browser, page_url, "bob")
    mod = await moderator_tab(browser, page_url, "mona", "moderator")
    menu = mod.get_by_test_id("moderate-bob")
    # Until unmuted, then 10 minutes: the first stays. Each toast is awaited, so the first is stored first.
    for duration, said in (("", " is muted in #\u2068lobby\u2069: until unmuted."),
                           ("600", " is muted until unmuted already: that mute stays.")):
        await menu.locator("summary").click()
        await menu.get_by_test_id("mute").click()
        await in_dialog(mod, duration)
        await expect(mod.locator("#toasts")).to_contain_text("\u2068bob\u2069" + said)
    [held] = server.chat.moderation.mutes()
    assert held.until is None
    assert not mod.js_errors


FSI, PDI = "\u2068", "\u2069"  # a name inside the page's sentences: between Unicode isolates
# What the moderator's page says, per language.
TOOL_WORDS = {
    "en": {"muted": f"{FSI}bob{PDI} is muted everywhere: until unmuted.",
           "unmuted": f"{FSI}bob{PDI} is no longer muted everywhere.",
           "kicked": f"{FSI}bob{PDI} was kicked.", "ban_heading": f"Ban {FSI}bob{PDI}", "for_good": "for good",
           "banned": f"{FSI}bob{PDI} is banned: 1 day."},
    "zh-CN": {"muted": f"{FSI}bob{PDI} 已在所有房间和私信中被禁言：直到解除禁言。",
              "unmuted": f"{FSI}bob{PDI} 在所有房间和私信中的禁言已解除。",
              "kicked": f"{FSI}bob{PDI} 已被踢出。", "ban_heading": f"封禁 {FSI}bob{PDI}", "for_good": "永久",
              "banned": f"{FSI}bob{PDI} 已被封禁：1 天。"},
}


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
async def test_the_moderation_dialog_mutes_unmutes_kicks_and_bans_only_whom_the_rank_may(
        browser, page_url, lang):
    words = TOOL_WORDS[lang]
    bob = await open_tab(browser, page_url, "bob")
    await moderator_tab(browser, page_url, "mo2", "moderator")
    boss = await moderator_tab(browser, page_url, "boss", "admin")
    mona = await moderator_tab(browser, page_url, "mona", "moderator", locale=lang)
    # A moderator acts only on those below: no menu on another moderator, an admin, or herself.
    await expect(mona.get_by_test_id("member-boss")).to_be_visible()
    await expect(mona.get_by_test_id("member-mo2")).to_be_visible()
    await expect(mona.locator("[data-testid^=moderate-]")).to_have_count(1)
    await expect(mona.get_by_test_id("moderate-bob")).to_be_visible()
    await expect(boss.locator("[data-testid^=moderate-]")).to_have_count(3)  # an admin: on the moderators too

    toasts = mona.locator("#toasts")
    dialog = mona.get_by_test_id("mod-dialog")
    menu = mona.get_by_test_id("moderate-bob")

    async def choose(action: str) -> None:
        await menu.locator("summary").click()
        await menu.get_by_test_id(action).click()
        await expect(dialog).to_be_visible()

    await choose("mute")  # everywhere, until unmuted
    await dialog.get_by_test_id("mod-where").select_option("")
    await in_dialog(mona, "", "flooding")
    await expect(toasts).to_contain_text(words["muted"])
    await send(bob, "am I muted?")
    await expect(bob.get_by_test_id("failed-reason")).to_contain_text("muted everywhere until a moderator unmutes you")

    await choose("unmute")  # the mute without an end is lifted from the page too
    await dialog.get_by_test_id("mod-where").select_option("")
    await in_dialog(mona)
    await expect(toasts).to_contain_text(words["unmuted"])
    await send(bob, "free again")
    await expect(messages(mona).filter(has_text="free again")).to_have_count(1)

    await choose("kick")  # in the page's dialog, not the browser's prompt()
    await in_dialog(mona, reason="cool off")
    await expect(toasts).to_contain_text(words["kicked"])
    await expect(bob.locator("#notice-text")).to_contain_text(f"A moderator disconnected you: {FSI}cool off{PDI}.")
    await bob.get_by_test_id("notice-action").click()
    await expect(bob.get_by_test_id("conn-state")).to_have_attribute("data-state", "online")

    await expect(menu).to_be_visible()  # bob is back in the room
    await choose("ban")  # for a time, or for good
    await expect(mona.locator("#mod-heading")).to_have_text(words["ban_heading"])
    await expect(dialog.locator("#mod-no-end")).to_have_text(words["for_good"])
    await in_dialog(mona, "86400", "spam")
    await expect(toasts).to_contain_text(words["banned"])
    await expect(bob.locator("#notice-text")).to_contain_text("You are banned from this chat until ")
    await expect(bob.locator("#notice-text")).to_contain_text(f"Reason: {FSI}spam{PDI}.")
    assert not mona.browser_dialogs and not mona.js_errors


async def test_a_new_rank_or_avatar_changes_the_member_list_already_shown(browser, page_url, server):
    """The web app made kim a moderator, then mona an admin, then renamed kim; each signed in again elsewhere
    (another device): mona's open page updates kim's entry (avatar, the menu her rank allows, the name) and her
    own rank in place."""
    await moderator_tab(browser, page_url, "kim")
    mona = await moderator_tab(browser, page_url, "mona", "moderator")
    kim_entry = mona.get_by_test_id("member-kim").locator("xpath=..")
    await expect(mona.get_by_test_id("moderate-kim")).to_be_visible()
    await expect(kim_entry.get_by_test_id("avatar")).to_have_count(0)

    async with ChatClient.connect(f"ws://127.0.0.1:{server.port}/ws") as device:
        avatar = "https://cdn.example.com/kim.png"
        welcome = await device.identify(app_token=moderator_token("u-kim", "kim", "moderator", avatar=avatar))
        assert welcome["type"] == "welcome"
        await expect(kim_entry.get_by_test_id("avatar")).to_have_attribute("src", avatar)
        await expect(mona.get_by_test_id("moderate-kim")).to_have_count(0)  # a moderator: not for a moderator
    async with ChatClient.connect(f"ws://127.0.0.1:{server.port}/ws") as device:
        assert (await device.identify(app_token=moderator_token("u-mona", "mona", "admin")))["type"] == "welcome"
        await expect(mona.get_by_test_id("moderate-kim")).to_be_visible()  # mona is an admin now, on this page too
    async with ChatClient.connect(f"ws://127.0.0.1:{server.port}/ws") as device:  # a new name: in place too
        assert (await device.identify(app_token=moderator_token("u-kim", "kimberly")))["type"] == "welcome"
        await expect(mona.get_by_test_id("member-kimberly")).to_be_visible()
        await expect(mona.get_by_test_id("member-kim")).to_have_count(0)
    assert not mona.js_errors


async def test_an_own_new_rank_signed_in_elsewhere_while_in_no_room_shows_at_the_next_join(browser, page_url, server):
    """No room heard mona's update (she was in none): the member list of her next join names her with her
    new rank, and the page takes it as hers, as an update would (bb24)."""
    await moderator_tab(browser, page_url, "kim")
    mona = await moderator_tab(browser, page_url, "mona")
    await expect(mona.get_by_test_id("member-kim")).to_be_visible()
    await mona.get_by_test_id("leave-room").click()
    await expect(mona.get_by_test_id("member-kim")).to_have_count(0)
    async with ChatClient.connect(f"ws://127.0.0.1:{server.port}/ws") as device:
        welcome = await device.identify(app_token=moderator_token("u-mona", "mona", "moderator"))
        assert welcome["user"]["rank"] == "moderator"
    await mona.get_by_test_id("room-lobby").click()
    await expect(mona.get_by_test_id("moderate-kim")).to_have_count(1)


async def test_esc_closes_an_open_member_menu_and_gives_the_focus_back_to_its_button(browser, page_url):
    """docs/page.md: Esc closes the open menu; a member's ⋯ menu is one (the focus was on its Mute)."""
    await moderator_tab(browser, page_url, "kim")
    mona = await moderator_tab(browser, page_url, "mona", "admin")
    menu = mona.get_by_test_id("moderate-kim")
    await menu.locator("summary").focus()
    await mona.keyboard.press("Enter")
    await mona.keyboard.press("Tab")
    await expect(menu.get_by_test_id("mute")).to_be_focused()
    await mona.keyboard.press("Escape")
    await expect(menu).not_to_have_attribute("open", "")
    await expect(menu.locator("summary")).to_be_focused()
    assert not mona.js_errors


async def test_an_open_member_menu_stays_open_and_focused_through_updates_of_that_member(browser, page_url, server):
    """mona (an admin) opened kim's ⋯ menu with the keyboard; kim signs in again elsewhere with a new avatar,
    then a new name (presence ``update``, ``rename``): the entry changes in place and the menu stays open, the
    focus on the item it was on, and that item acts on kim's new name. When kim's new rank takes the menu
    away, the focus goes to kim's entry, not to the page's start."""
    await moderator_tab(browser, page_url, "kim")
    mona = await moderator_tab(browser, page_url, "mona", "admin")
    menu = mona.get_by_test_id("moderate-kim")
    await menu.locator("summary").focus()
    await mona.keyboard.press("Enter")
    await expect(menu).to_have_attribute("open", "")
    await mona.keyboard.press("Tab")
    await expect(menu.get_by_test_id("mute")).to_be_focused()

    async def sign_in_elsewhere(name: str, *roles: str, **claims: str) -> None:
        async with ChatClient.connect(f"ws://127.0.0.1:{server.port}/ws") as device:
            welcome = await device.identify(app_token=moderator_token("u-kim", name, *roles, **claims))
            assert welcome["type"] == "welcome"

    await sign_in_elsewhere("kim", avatar="https://cdn.example.com/kim.png")
    await expect(mona.get_by_test_id("member-kim").get_by_test_id("avatar")).to_be_visible()
    await expect(menu).to_have_attribute("open", "")
    await expect(menu.get_by_test_id("mute")).to_be_focused()

    await sign_in_elsewhere("kimberly")
    menu = mona.get_by_test_id("moderate-kimberly")
    await expect(mona.get_by_test_id("member-kimberly")).to_be_visible()
    await expect(menu).to_have_attribute("open", "")
    await expect(menu.get_by_test_id("mute")).to_be_focused()
    await mona.keyboard.press("Enter")
    await expect(mona.get_by_test_id("mod-dialog")).to_contain_text("kimberly")  # the menu's new name
    await mona.keyboard.press("Escape")
    await expect(mona.get_by_test_id("mod-dialog")).to_be_hidden()

    await menu.locator("summary").focus()
    await mona.keyboard.press("Enter")
    await mona.keyboard.press("Tab")
    await expect(menu.get_by_test_id("mute")).to_be_focused()
    await sign_in_elsewhere("kimberly", "admin")  # mona's equal now: no menu
    await expect(menu).to_have_count(0)
    await expect(mona.get_by_test_id("member-kimberly").locator("xpath=..")).to_be_focused()
    assert not mona.js_errors

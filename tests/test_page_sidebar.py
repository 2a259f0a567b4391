"""The sidebar and the page's keyboard (static/sidebar.js, switcher.js, keyboard.js): the
order setting applied at once, the online count and the unread badge told apart, the new-room
form above the list, a conversation closed with its ✕, Ctrl+K to a room or person, Alt+↑/↓
through the sidebar, Esc closing what is open, and the focus in the message box on each view."""

from __future__ import annotations

import re

from playwright.async_api import Page, expect

from tests.test_page import messages, open_tab, send


async def expect_first_room(page: Page, name: str) -> None:
    """Of lobby and zoo, ``name`` is listed first."""
    await expect(page.locator("#room-list .nav-item").first).to_have_attribute("data-testid", f"room-{name}")


async def create_room(page: Page, name: str) -> None:
    await page.get_by_test_id("new-room-toggle").click()
    await expect(page.get_by_test_id("new-room")).to_be_focused()  # the form opens above the list, ready
    await page.get_by_test_id("new-room").fill(name)
    await page.get_by_test_id("create-room").click()
    await expect(page.get_by_test_id("room-title")).to_contain_text(name)
    await expect(page.get_by_test_id("new-room")).to_be_hidden()


async def set_order(page: Page, how: str) -> None:
    await page.get_by_test_id("me").click()
    await page.get_by_test_id("menu-settings").click()
    await page.get_by_test_id("settings-sort").select_option(how)
    await page.keyboard.press("Escape")
    await expect(page.get_by_test_id("settings")).to_be_hidden()


async def test_sidebar_order_counts_new_room_and_closing_a_conversation(browser, page_url):
    alice = await open_tab(browser, page_url, "alice")
    bob = await open_tab(browser, page_url, "bob")
    await create_room(bob, "zoo")
    await alice.get_by_test_id("room-zoo").click()
    await alice.get_by_test_id("room-lobby").click()
    await send(bob, "news in zoo")

    # zoo has news for alice: rooms notify of mentions by default (docs/protocol.md, "Notification levels"),
    # so a dot that says "1 unread message" to a screen reader; the people online are words, not a badge.
    zoo = alice.get_by_test_id("room-zoo")
    await expect(zoo.get_by_test_id("badge")).to_have_attribute("data-kind", "dot")
    await expect(zoo.locator(".badge")).to_have_text(re.compile(r"^\W*1 unread message$"))
    await expect(zoo.get_by_test_id("room-online")).to_have_text(re.compile(r"2 online"))
    assert await zoo.get_by_test_id("room-online").locator(".badge").count() == 0
    await expect_first_room(alice, "zoo")  # unread first (the default)
    await set_order(alice, "name")
    await expect_first_room(alice, "lobby")  # by name, at once
    await set_order(alice, "activity")
    await expect_first_room(alice, "zoo")
    await send(alice, "lobby is newer")
    await expect(messages(alice)).to_have_count(1)
    await expect_first_room(alice, "lobby")
    await alice.reload()  # the choice stays with the browser
    await expect(alice.get_by_test_id("room-zoo")).to_be_visible()
    await expect(alice.get_by_test_id("conn-state")).to_have_attribute("data-state", "online")
    assert await alice.evaluate("localStorage.getItem('chatd-prefs.sort')") == '"activity"'

    # A conversation closed from the sidebar leaves it; the focus goes to the next entry, not the page's top.
    await alice.get_by_test_id("room-lobby").click()
    await alice.get_by_test_id("member-bob").click()
    await send(alice, "hi bob")
    await expect(alice.get_by_test_id("conversation-bob")).to_be_visible()
    await alice.get_by_test_id("close-conversation-bob").click()
    await expect(alice.get_by_test_id("conversation-bob")).to_have_count(0)
    await expect(alice.get_by_test_id("room-title")).not_to_contain_text("bob")
    await expect(alice.locator("#no-conversations")).to_be_visible()
    await expect(alice.get_by_test_id("new-room-toggle")).to_be_focused()
    # bob writes again: the conversation comes back with the new message.
    await bob.get_by_test_id("member-alice").click()
    await send(bob, "still there?")
    # Conversations notify of all messages by default (docs/protocol.md, "Notification levels"): the
    # badge is the unread count, not a mention count ("@1"), though every private message is for alice.
    dm_badge = alice.get_by_test_id("conversation-bob").get_by_test_id("badge")
    await expect(dm_badge).to_have_attribute("data-kind", "unread")
    await expect(dm_badge).to_have_text(re.compile(r"^1\W*1 unread message$"))
    assert not alice.js_errors and not bob.js_errors



async def test_unread_first_puts_what_the_levels_count_above_a_muted_room(browser, page_url):
    alice = await open_tab(browser, page_url, "alice")
    bob = await open_tab(browser, page_url, "bob")
    for name in ("zoo", "yak"):
        await create_room(bob, name)
        await alice.get_by_test_id(f"room-{name}").click()
        await expect(alice.get_by_test_id("room-title")).to_contain_text(name)
    await alice.get_by_test_id("notify-level").select_option("none")  # yak: muted
    await alice.get_by_test_id("room-lobby").click()
    await expect(alice.get_by_test_id("room-title")).to_contain_text("lobby")
    for name in ("zoo", "yak"):  # yak's news is the newer
        await bob.get_by_test_id(f"room-{name}").click()
        await send(bob, f"news in {name}")
        await expect(messages(bob).last).to_contain_text(f"news in {name}")
    await set_order(alice, "activity")
    await expect_first_room(alice, "yak")
    await set_order(alice, "unread")
    await expect(alice.get_by_test_id("room-zoo").get_by_test_id("badge")).to_have_attribute("data-kind", "dot")
    await expect_first_room(alice, "zoo")
    assert not alice.js_errors and not bob.js_errors

async def test_keyboard_switcher_alt_arrows_escape_and_focus(browser, page_url):
    bob = await open_tab(browser, page_url, "bob")
    await create_room(bob, "games")
    await bob.get_by_test_id("room-lobby").click()
    alice = await open_tab(browser, page_url, "alice")
    composer = alice.get_by_test_id("composer")
    await expect(composer).to_be_focused()  # after choosing a name and a room

    # Ctrl+K: type to filter, ↓ to choose, Enter opens; the people seen in a room are offered.
    await alice.keyboard.press("Control+k")
    switcher = alice.get_by_test_id("switcher")
    await expect(switcher).to_be_visible()
    await expect(alice.get_by_test_id("switcher-input")).to_be_focused()
    options = alice.get_by_test_id("switcher-option")
    await alice.get_by_test_id("switcher-input").fill("GA")
    await expect(options).to_have_count(1)
    await expect(options.first).to_contain_text("games")
    await alice.get_by_test_id("switcher-input").fill("b")
    await expect(options.first).to_contain_text("bob")
    await alice.keyboard.press("Enter")
    await expect(switcher).to_be_hidden()
    await expect(alice.get_by_test_id("room-title")).to_contain_text("bob")
    await expect(composer).to_be_focused()
    await alice.keyboard.press("Control+k")
    await alice.get_by_test_id("switcher-input").fill("games")
    await alice.keyboard.press("ArrowDown")  # one entry: ↓ wraps onto it again
    await expect(options.first).to_have_attribute("aria-selected", "true")
    await alice.keyboard.press("Enter")
    await expect(alice.get_by_test_id("room-title")).to_contain_text("games")
    await alice.keyboard.press("Control+k")
    await alice.keyboard.press("Escape")  # Esc closes, the focus goes back
    await expect(switcher).to_be_hidden()
    await expect(composer).to_be_focused()

    # Alt+↑/↓: through the rooms alice is in, then the conversations, in the sidebar's order, wrapping.
    await alice.get_by_test_id("me").click()
    await alice.get_by_test_id("menu-settings").click()
    await alice.get_by_test_id("settings-sort").select_option("name")
    await alice.keyboard.press("Escape")
    await expect(alice.get_by_test_id("me")).to_be_focused()  # the dialog gave the focus back
    titles = []
    for _ in range(3):
        await alice.keyboard.press("Alt+ArrowDown")
        await expect(composer).to_be_focused()
        titles.append(await alice.get_by_test_id("room-title").inner_text())
    assert [re.sub(r"\s+", "", t) for t in titles] == ["#lobby", "bob#1", "#games"]
    await alice.keyboard.press("Alt+ArrowUp")
    await expect(alice.get_by_test_id("room-title")).to_contain_text("bob")

    # Esc closes the open menu or panel, wherever the focus is.
    await alice.get_by_test_id("me").click()
    await expect(alice.locator("#me-menu")).to_be_visible()
    await alice.keyboard.press("Escape")
    await expect(alice.locator("#me-menu")).to_be_hidden()
    await expect(alice.get_by_test_id("me")).to_be_focused()
    await alice.get_by_test_id("search-input").fill("anything")
    await alice.get_by_test_id("search-input").press("Enter")
    await expect(alice.get_by_test_id("search-panel")).to_be_visible()
    await alice.get_by_test_id("room-title").click()  # the focus leaves the search box
    await alice.keyboard.press("Escape")
    await expect(alice.get_by_test_id("search-panel")).to_be_hidden()
    await alice.get_by_test_id("new-room-toggle").click()
    await alice.get_by_test_id("room-title").click()
    await alice.keyboard.press("Escape")
    await expect(alice.get_by_test_id("new-room")).to_be_hidden()
    assert not alice.js_errors and not bob.js_errors

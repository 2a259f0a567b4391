"""The settings dialog (static/settings.js, prefs.js, theme.js): opened from the name menu,
each choice applied at once and kept by the browser: the language (中文 and back), the theme
(dark: <html data-theme=dark> and a dark page), the time format (12-hour: AM/PM), the dialog open
again after the reload a language or time format takes; Esc closes it and the focus goes back to
the name menu's button."""

from __future__ import annotations

import re

from playwright.async_api import Page, expect

from tests.test_page import messages, open_tab, send
from tests.test_page_sidebar import create_room

DARK_MAX = 60  # the page's background, each of R, G, B at most this: a dark theme's


async def open_settings(page: Page) -> None:
    await page.get_by_test_id("me").click()
    await page.get_by_test_id("menu-settings").click()
    await expect(page.get_by_test_id("settings")).to_be_visible()
    await expect(page.get_by_test_id("settings-close")).to_be_focused()


async def online(page: Page) -> None:
    await expect(page.get_by_test_id("conn-state")).to_have_attribute("data-state", "online")


async def still_open_at(page: Page, control: str) -> None:
    """The settings, after a choice that reloads the page, open again with the focus on ``control``
    (a test id); Esc then closes them and the focus goes back to the name menu's button."""
    await expect(page.get_by_test_id("settings")).to_be_visible()
    await expect(page.get_by_test_id(control)).to_be_focused()
    await page.keyboard.press("Escape")
    await expect(page.get_by_test_id("settings")).to_be_hidden()
    await expect(page.get_by_test_id("me")).to_be_focused()


async def choose_language(page: Page, lang: str, rooms_heading: str) -> None:
    """In the open settings, choose ``lang``: <html lang> follows, the page reconnects, the
    sidebar's heading reads ``rooms_heading``, and the settings are still open, in that language
    (then closed with Esc)."""
    await page.get_by_test_id("settings-lang").select_option(lang)
    await expect(page.locator("html")).to_have_attribute("lang", lang)
    await online(page)
    await expect(page.locator("#rooms-heading")).to_have_text(rooms_heading)
    await expect(page.locator("#settings-heading")).to_have_text({"en": "Settings", "zh-CN": "设置"}[lang])
    await expect(page.get_by_test_id("settings-lang")).to_have_value(lang)
    await still_open_at(page, "settings-lang")


async def test_settings_language_theme_time_format_and_escape(browser, page_url):
    alice = await open_tab(browser, page_url, "alice")
    await send(alice, "what time is it")
    await expect(messages(alice)).to_have_count(1)

    await open_settings(alice)
    await alice.keyboard.press("Escape")
    await expect(alice.get_by_test_id("settings")).to_be_hidden()
    await expect(alice.get_by_test_id("me")).to_be_focused()

    await open_settings(alice)
    await alice.get_by_test_id("settings-theme").select_option("dark")
    await expect(alice.locator("html")).to_have_attribute("data-theme", "dark")
    background = await alice.evaluate("getComputedStyle(document.body).backgroundColor")
    assert max(int(n) for n in re.findall(r"\d+", background)[:3]) <= DARK_MAX, background

    await alice.get_by_test_id("settings-time").select_option("12h")  # every time is drawn again: a reload
    await online(alice)
    await expect(messages(alice).first.locator("time").first).to_have_text(re.compile(r"\d{1,2}:\d\d\s?[AP]M"))
    await expect(alice.get_by_test_id("settings-time")).to_have_value("12h")
    await still_open_at(alice, "settings-time")

    await open_settings(alice)
    await choose_language(alice, "zh-CN", "房间")
    await expect(messages(alice).first.locator("time").first).to_have_text(re.compile("上午|下午"))
    await expect(alice.locator("html")).to_have_attribute("data-theme", "dark")  # kept across the reloads
    await open_settings(alice)
    await expect(alice.locator("#settings-heading")).to_have_text("设置")
    await choose_language(alice, "en", "Rooms")
    await expect(messages(alice).first).to_contain_text("what time is it")
    assert not alice.js_errors


async def test_a_key_pressed_as_the_settings_close_keeps_the_focus_it_moved(browser, page_url):
    """The dialog's `close` event comes a task after it closed, and a key the browser handles first
    (Esc then Alt+↓ at once) has already put the focus in the message box of another room: it stays there."""
    alice = await open_tab(browser, page_url, "alice")
    await create_room(alice, "games")
    await open_settings(alice)
    await alice.evaluate("""() => new Promise((resolve) => {
        const dialog = document.getElementById('settings-dialog');
        dialog.addEventListener('close', resolve, { once: true });  // after the page's own listener
        dialog.close();
        document.dispatchEvent(new KeyboardEvent('keydown', { key: 'ArrowDown', altKey: true, bubbles: true }));
    })""")
    await expect(alice.get_by_test_id("room-title")).to_contain_text("lobby")
    await expect(alice.get_by_test_id("composer")).to_be_focused()
    assert not alice.js_errors

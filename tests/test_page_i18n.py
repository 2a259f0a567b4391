"""The page in the browser's language: English or Simplified Chinese picked
from navigator.languages, the static text translated before it is shown, and
<html lang> saying which, so screen readers and fonts pick the right voice and
glyphs."""

from __future__ import annotations

from playwright.async_api import expect


async def test_page_speaks_the_browsers_language(browser, page_url):
    errors: list[str] = []
    for locale, lang, heading, rooms in [("zh-CN", "zh-CN", "欢迎使用 chatd", "房间"),
                                         ("zh-SG", "zh-CN", "欢迎使用 chatd", "房间"),
                                         ("de-DE", "en", "Welcome to chatd", "Rooms")]:
        context = await browser.new_context(locale=locale)
        page = await context.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        await page.goto(page_url)
        await expect(page.locator("html")).to_have_attribute("lang", lang)
        await expect(page.get_by_role("heading", name=heading)).to_be_visible()
        await page.get_by_test_id("name-input").fill(f"user-{locale}")
        await page.get_by_test_id("name-submit").click()
        await expect(page.get_by_test_id("conn-state")).to_have_attribute("data-state", "online")
        await expect(page.locator("#rooms-heading")).to_have_text(rooms)
        assert not errors
        await context.close()

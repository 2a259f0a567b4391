"""axe-core (the copy axe-playwright-python bundles) finds no serious or critical violation on any
view of the page: the name form, a room with messages, a private conversation, the search
results, the notifications, the settings, the quick switcher, the moderation dialog, the emoji picker
and the sidebar drawer, in English and Chinese, light and dark (the system's theme, which
style.css follows through light-dark()), on a desktop and on a phone. Each (language, theme)
pair sweeps every view in one page session; the two viewports alternate between the pairs, so
each language and each theme is seen on both."""

from __future__ import annotations

import json
import time
from pathlib import Path

import axe_playwright_python
import jwt
import pytest
from playwright.async_api import Browser, Page, expect

from tests.apiclient import api_call, api_key
from tests.test_page import send
from tests.test_page_client import APP_SECRET

AXE_SOURCE = (Path(axe_playwright_python.__file__).parent / "axe.min.js").read_text(encoding="utf-8")
DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
BLOCKING = ("serious", "critical")
DARK_MAX = 60  # a dark theme's background: each of R, G, B below this
# The serious and critical violations, each with up to 5 of its elements and what is wrong there.
VIOLATIONS = """async (impacts) => {
  const result = await axe.run(document, { resultTypes: ['violations'] });
  return result.violations.filter((v) => impacts.includes(v.impact)).map((v) => ({
    rule: v.id, help: v.help,
    nodes: v.nodes.slice(0, 5).map((n) => n.target.join(' ') + ' :: ' + n.failureSummary.replace(/\\s+/g, ' ')),
  }));
}"""


@pytest.fixture
def config_overrides() -> dict:
    return {"app_tokens": {"secret": APP_SECRET}}


async def violations(page: Page, view: str) -> list[str]:
    """``view``'s blocking violations, as lines naming the view (empty when clean)."""
    if not await page.evaluate("typeof axe !== 'undefined'"):
        await page.evaluate(AXE_SOURCE)  # evaluated by the test driver, not the page: the page's CSP stays as is
    found = await page.evaluate(VIOLATIONS, list(BLOCKING))
    return [f"{view}: {json.dumps(v, ensure_ascii=False)}" for v in found]


async def tab(browser: Browser, url: str, viewport: dict, locale: str, scheme: str) -> Page:
    context = await browser.new_context(viewport=viewport, locale=locale, color_scheme=scheme, reduced_motion="reduce")
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.js_errors = errors
    return page


async def acknowledged(page: Page) -> None:
    """Until no message of the page's user waits for its ack: a pending one is drawn faded (.55),
    below any contrast, and a loaded machine acks it after axe has looked."""
    await expect(page.locator(".msg.pending")).to_have_count(0)


async def in_room(page: Page) -> None:
    await expect(page.get_by_test_id("conn-state")).to_have_attribute("data-state", "online")
    await expect(page.get_by_test_id("room-title")).to_contain_text("lobby")


async def open_members(page: Page, phone: bool) -> None:
    if phone and await page.locator("#toggle-members").get_attribute("aria-expanded") != "true":
        await page.locator("#toggle-members").click()
        await expect(page.locator("#members-panel")).to_be_visible()


@pytest.mark.parametrize(("locale", "scheme", "viewport"), [
    ("en-US", "light", DESKTOP), ("en-US", "dark", PHONE), ("zh-CN", "light", PHONE), ("zh-CN", "dark", DESKTOP),
], ids=["en-light-desktop", "en-dark-phone", "zh-light-phone", "zh-dark-desktop"])
async def test_no_serious_violation_on_any_view(browser, page_url, server, locale, scheme, viewport):
    phone = viewport is PHONE
    found: list[str] = []
    bob = await tab(browser, page_url, viewport, locale, scheme)
    await bob.goto(page_url)
    await expect(bob.get_by_test_id("name-input")).to_be_visible()
    found += await violations(bob, "name form")
    await bob.get_by_test_id("name-input").fill("bob")
    await bob.get_by_test_id("name-submit").click()
    await in_room(bob)

    # mona moderates (an app token's role): her page has every menu, the moderation dialog included.
    mona = await tab(browser, page_url, viewport, locale, scheme)
    token = jwt.encode({"sub": "u-mona", "name": "mona", "roles": ["moderator"], "exp": int(time.time() + 300)},
                       APP_SECRET, algorithm="HS256")
    await mona.goto(page_url + "#app_token=" + token)
    await in_room(mona)
    await send(bob, "hello **everyone**, see https://example.org and `code`")
    await send(mona, "> a quote\nand an answer 你好")
    await expect(mona.get_by_test_id("message")).to_have_count(2)
    await acknowledged(mona)
    background = await mona.evaluate("getComputedStyle(document.body).backgroundColor")
    assert (max(int(n) for n in background[4:-1].split(",")) < DARK_MAX) == (scheme == "dark"), background
    found += await violations(mona, "room with messages")

    await mona.get_by_test_id("message").first.get_by_test_id("delete-message").click()
    confirm = mona.get_by_test_id("confirm-dialog")
    await expect(mona.get_by_test_id("confirm-yes")).to_have_text("删除" if locale == "zh-CN" else "Delete")
    found += await violations(mona, "delete confirmation")
    await mona.keyboard.press("Escape")
    await expect(confirm).to_be_hidden()

    await mona.get_by_test_id("emoji-button").click()
    await expect(mona.get_by_test_id("emoji-option").first).to_be_visible()
    found += await violations(mona, "emoji picker")
    await mona.keyboard.press("Escape")

    await mona.get_by_test_id("search-input").fill("hello")
    await mona.get_by_test_id("search-input").press("Enter")
    await expect(mona.get_by_test_id("search-result")).to_have_count(1)
    found += await violations(mona, "search results")
    await mona.get_by_test_id("search-input").press("Escape")

    user_id = await mona.evaluate("JSON.parse(localStorage.getItem('chatd.userId'))")
    event = {"to": user_id, "name": "order.shipped", "data": {"order": 1042}}
    assert (await api_call(server, "POST", "/events", event, key=api_key(server, "publish")))[0] == 200
    await mona.get_by_test_id("notifications").click()
    await expect(mona.get_by_test_id("notification")).to_have_count(1)
    found += await violations(mona, "notifications")
    await mona.keyboard.press("Escape")

    await mona.get_by_test_id("me").click()
    found += await violations(mona, "name menu")
    await mona.get_by_test_id("menu-settings").click()
    await expect(mona.get_by_test_id("settings")).to_be_visible()
    found += await violations(mona, "settings")
    await mona.keyboard.press("Escape")

    await mona.keyboard.press("Control+k")
    await expect(mona.get_by_test_id("switcher-option").first).to_be_visible()
    found += await violations(mona, "quick switcher")
    await mona.keyboard.press("Escape")

    await open_members(mona, phone)
    await mona.get_by_test_id("moderate-bob").locator("summary").click()
    await mona.get_by_test_id("moderate-bob").get_by_test_id("mute").click()
    await expect(mona.get_by_test_id("mod-dialog")).to_be_visible()
    found += await violations(mona, "moderation dialog")
    await mona.locator("#mod-cancel").click()

    await open_members(mona, phone)
    await mona.get_by_test_id("member-bob").click()
    await send(mona, "just between us")
    await expect(mona.get_by_test_id("message")).to_have_count(1)
    await acknowledged(mona)
    found += await violations(mona, "conversation")
    if phone:
        await mona.locator("#toggle-sidebar").click()
        await expect(mona.locator("#sidebar")).to_be_visible()
        found += await violations(mona, "sidebar drawer")
    assert found == [], "\n".join(found)
    assert not bob.js_errors and not mona.js_errors

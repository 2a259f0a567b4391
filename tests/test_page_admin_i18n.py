"""The admin page in the browser's language and on a phone, in a real Chromium against a real
server with a row in every table: with a zh-CN browser every tab says nothing from the English
catalogue and <html lang> is zh-CN; on a 390 px wide phone no tab scrolls sideways and no word
is broken across lines, in either language."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from tests.adminclient import PASSWORD, admin_account, admin_login

CATALOGUES = Path(__file__).resolve().parent.parent / "static" / "i18n"
TABS = ["audit", "moderation", "dashboard", "log", "rooms", "users"]  # every tab an admin sees
PHONE = {"width": 390, "height": 844}  # a common phone's CSS viewport (iPhone 12 to 14)
DESKTOP = {"width": 1280, "height": 800}
WORD_MAX = 20  # longer runs of letters may be broken on purpose (a long name in a narrow cell)

# Every string the page shows: text nodes, and the attributes that are read out or shown.
PAGE_STRINGS = """() => {
  const out = [document.title];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (node.parentElement.closest('[hidden]')) continue;
    out.push(node.textContent.trim());
  }
  for (const el of document.body.querySelectorAll('[placeholder], [aria-label], [title], [data-label]')) {
    if (el.closest('[hidden]')) continue;
    for (const name of ['placeholder', 'aria-label', 'title', 'data-label']) out.push(el.getAttribute(name) ?? '');
  }
  return out.filter(Boolean);
}"""

# Words (letters only, up to WORD_MAX) drawn on more than one line: "gener" / "al".
BROKEN_WORDS = """(most) => {
  const broken = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (!node.parentElement.checkVisibility()) continue;
    for (const match of node.textContent.matchAll(/[A-Za-z]+/g)) {
      if (match[0].length < 2 || match[0].length > most) continue;
      const range = document.createRange();
      range.setStart(node, match.index);
      range.setEnd(node, match.index + match[0].length);
      if (range.getClientRects().length > 1) broken.push(match[0]);
    }
  }
  return broken;
}"""


def english_patterns() -> list[re.Pattern[str]]:
    """The English strings the admin page may show (its own, static/i18n/admin/en.json, and the
    chat page's, static/i18n/en.json, some of which it uses) as patterns of a whole string, each
    {placeholder} standing for anything."""
    english = [*json.loads((CATALOGUES / "admin" / "en.json").read_text(encoding="utf-8")).values(),
               *json.loads((CATALOGUES / "en.json").read_text(encoding="utf-8")).values()]
    return [re.compile(".*?".join(re.escape(part) for part in re.split(r"\{\w+\}", text)), re.S)
            for text in english if re.search("[A-Za-z]", re.sub(r"\{\w+\}", "", text))]


async def seed(server, user) -> None:
    """A row in every table: a message, a second room, a reserved name, a mute and a ban (each audited)."""
    bob = await user("bob", "lobby")
    assert (await bob.say("lobby", "bob was here"))["type"] == "ack"
    admin = await admin_login(server)
    for path, body in [("/rooms", {"name": "general", "topic": "everything else", "announcement": True}),
                       ("/names", {"pattern": "*support*", "scope": "any", "reason": "kept for the team"}),
                       ("/moderation/mutes", {"user": bob.welcome["user"]["id"], "room": "lobby", "seconds": 3600,
                                              "reason": "flooding"}),
                       ("/moderation/bans", {"address": "203.0.113.0/24", "reason": "spam farm"})]:
        status, answer, _ = await admin.call("POST", path, body)
        assert status in (200, 201), answer


async def opened(browser, server, locale: str, viewport: dict[str, int]) -> Page:
    """The admin page's login form in a new browser of `locale`."""
    context = await browser.new_context(locale=locale, viewport=viewport)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.js_errors = errors
    await page.goto(f"http://127.0.0.1:{server.port}/admin")
    await expect(page.get_by_test_id("admin-login")).to_be_visible()
    return page


async def signed_in(browser, server, locale: str, viewport: dict[str, int], page: Page | None = None) -> Page:
    page = page or await opened(browser, server, locale, viewport)
    await page.fill("#login-name", admin_account(server))
    await page.fill("#login-password", PASSWORD)
    await page.click("#login-submit")
    await expect(page.locator("#tabs button")).to_have_count(len(TABS))
    return page


async def show(page: Page, tab: str) -> None:
    """Open `tab` and wait until its tables hold their rows (the users tab: after finding bob)."""
    await page.locator(f"#tabs button[data-tab='{tab}']").click()
    panel = page.locator(f"#panel-{tab}")
    await expect(panel).to_be_visible()
    filled = {"audit": ["audit-table"], "moderation": ["mutes-table", "bans-table"], "log": ["log-table"],
              "rooms": ["rooms-table", "names-table"], "users": ["users-table"]}
    if tab == "users":
        await page.get_by_test_id("users-query").fill("bob")
        await page.get_by_test_id("users-query").press("Enter")
    if tab == "dashboard":
        await expect(page.get_by_test_id("dash-connections")).not_to_have_text("…")
        await expect(page.get_by_test_id("chart-messages")).to_be_visible()
    for table in filled.get(tab, []):
        await expect(panel.get_by_test_id(table).locator("tbody tr td").first).to_be_attached()


async def test_every_tab_speaks_chinese_to_a_chinese_browser(browser, server, user):
    await seed(server, user)
    patterns = english_patterns()
    page = await opened(browser, server, "zh-CN", DESKTOP)
    await expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    assert [s for s in await page.evaluate(PAGE_STRINGS) if any(p.fullmatch(s) for p in patterns)] == []
    await page.fill("#login-name", "nobody")
    await page.fill("#login-password", "not the password")
    await page.click("#login-submit")  # refused in English, with a code the page has words for
    await expect(page.get_by_test_id("admin-login-error")).to_have_text("账号或密码错误。")
    await signed_in(browser, server, "zh-CN", DESKTOP, page)
    await expect(page.get_by_test_id("admin-who")).to_contain_text("（管理员）")
    for tab in TABS:
        await show(page, tab)
        english = [s for s in await page.evaluate(PAGE_STRINGS) if any(p.fullmatch(s) for p in patterns)]
        assert english == [], f"the {tab} tab shows English"
    await expect(page.locator("#panel-rooms tr[data-room='general']")).to_contain_text("公告（仅版主发言）")
    assert page.js_errors == []


async def test_an_english_browser_gets_english_and_the_chat_pages_time_format(browser, server):
    page = await opened(browser, server, "en-US", DESKTOP)
    await page.evaluate("localStorage.setItem('chatd-prefs.timeFormat', JSON.stringify('24h'))")  # static/prefs.js
    await page.reload()
    await signed_in(browser, server, "en-US", DESKTOP, page)
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await expect(page.locator("#tabs button[data-tab='audit']")).to_have_text("Audit log")
    when = page.get_by_test_id("audit-table").locator("tbody tr td").first  # en-US alone would say "2:05:09 PM"
    await expect(when).to_have_text(re.compile(r"^\d+/\d+/\d+, \d\d:\d\d:\d\d$"))
    assert page.js_errors == []


@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
async def test_no_tab_scrolls_sideways_or_breaks_a_word_on_a_phone(browser, server, user, locale):
    await seed(server, user)
    page = await signed_in(browser, server, locale, PHONE)
    for tab in TABS:
        await show(page, tab)
        if tab != "dashboard":  # its tables, cards on a phone, are still tables to a screen reader (grid())
            await expect(page.locator(f"#panel-{tab}").get_by_role("cell").first).to_be_visible()
        widths = await page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert widths[0] <= widths[1], f"the {tab} tab is {widths[0]} px wide in a {widths[1]} px window"
        assert await page.evaluate(BROKEN_WORDS, WORD_MAX) == [], f"the {tab} tab breaks words"
    assert page.js_errors == []

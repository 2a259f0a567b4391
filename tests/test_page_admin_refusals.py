"""What the admin page says of a refused change on the rooms tab, in a real Chromium against a real
server, in English and in Chinese alike: each sentence is built from the refusal's fields
(docs/protocol.md, "error"), so a Chinese admin is told which rule a reserved-name pattern breaks,
under which entry a pattern is listed already, and the server's room limit, not a generic sentence."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from tests.test_page_admin_i18n import DESKTOP, signed_in

FSI, PDI = "\u2068", "\u2069"  # user text inside the page's sentences: between Unicode isolates
WORDS = {
    "en": {
        "wildcards": f"the pattern {FSI}a*b*c*d*e*f{PDI} has more than 4 wildcards",
        "only": f"the pattern {FSI}**{PDI} has nothing but wildcards: it would hold back every name",
        "bidi": (f"the pattern {FSI}ad\u202emin{PDI} contains U+202E RIGHT-TO-LEFT OVERRIDE, a bidirectional control, "
                 "which could reverse the text around the name"),
        "listed": (f"{FSI}ADMIN{PDI} is in the list already as {FSI}Admin{PDI} "
                   "(names are compared whatever their case)"),
        "rooms": "the server holds 1 rooms already, the most it allows",
    },
    "zh-CN": {
        "wildcards": f"模式 {FSI}a*b*c*d*e*f{PDI} 含有超过 4 个通配符",
        "only": f"模式 {FSI}**{PDI} 只有通配符：它会保留所有名字",
        "bidi": (f"模式 {FSI}ad\u202emin{PDI} 含有 U+202E RIGHT-TO-LEFT OVERRIDE，"
                 "这是双向控制字符，可能使名字周围的文字反向显示"),
        "listed": f"{FSI}ADMIN{PDI} 已作为 {FSI}Admin{PDI} 在列表中（比较名字时不区分大小写）",
        "rooms": "服务器已有 1 个房间，达到上限",
    },
}


async def said(page: Page, words: str, code: str) -> None:
    """The rooms tab's status line says `words` (and the code, which it adds for whoever reports it)."""
    await expect(page.get_by_test_id("rooms-status")).to_have_text(f"{words} ({code})")


async def reserve(page: Page, pattern: str) -> None:
    await page.get_by_test_id("name-pattern").fill(pattern)
    await page.get_by_test_id("name-pattern").press("Enter")


@pytest.mark.parametrize("config_overrides", [{"rooms": {"max_rooms": 1}}])
@pytest.mark.parametrize("locale", ["en", "zh-CN"])
async def test_the_rooms_tab_says_what_is_wrong_with_a_name_in_the_admins_language(browser, server, locale):
    page = await signed_in(browser, server, locale, DESKTOP)
    await page.locator("#tabs button[data-tab='rooms']").click()
    await expect(page.locator("#panel-rooms tr[data-room='lobby']")).to_be_visible()
    words = WORDS[locale]
    for pattern, key in (("a*b*c*d*e*f", "wildcards"), ("**", "only"), ("ad\u202emin", "bidi")):
        await reserve(page, pattern)
        await said(page, words[key], "bad_name")
    await reserve(page, "Admin")
    await expect(page.locator("#panel-rooms tr[data-pattern='Admin']")).to_be_visible()
    await reserve(page, "ADMIN")
    await said(page, words["listed"], "name_reserved")

    await page.get_by_test_id("room-name").fill("news")
    await page.get_by_test_id("room-name").press("Enter")
    await said(page, words["rooms"], "too_many_rooms")
    assert page.js_errors == []

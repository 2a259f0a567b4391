"""Hostile names on the page, in a real Chromium at desktop and phone widths:
refused ones are explained, accepted ones never widen the layout nor
reorder the text around them, and users are told apart by a tag."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, Page, expect

from tests.test_page import messages, send

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
LONG = "W" * 32  # the widest name there is
RTL = "محمد علي"
EMOJI = "👩\u200d💻 Ana"
TOPIC = "نقاش عن cipot"  # right-to-left text in a room's topic (an override is refused there: test_client_strings)


async def sign_in(chromium: Browser, url: str, viewport: dict, *names: str) -> Page:
    """A fresh profile at this size, trying ``names`` in turn until one is accepted;
    the refusals before it are checked to say why. The first visit opens lobby."""
    # Reduced motion: drawers open at once, so what is measured is where it stays.
    page = await (await chromium.new_context(viewport=viewport, reduced_motion="reduce")).new_page()
    await page.goto(url)
    dialog = page.get_by_test_id("name-input")
    for name, why in zip(names, [*REFUSALS.values(), None], strict=False):
        await dialog.fill(name)
        await page.get_by_test_id("name-submit").click()
        if name == names[-1]:
            break
        await expect(page.locator("#name-error")).to_contain_text(why)
    await expect(page.get_by_test_id("conn-state")).to_have_attribute("data-state", "online")
    await expect(page.get_by_test_id("room-title")).to_contain_text("lobby")
    return page


# Names the server refuses, and what its refusal (shown in the name form) says.
REFUSALS = {"\u202eevil": "bidirectional control", "Z" + "\u0301\u0300\u0302" * 7: "combining marks"}

NO_SIDEWAYS_SCROLL = """() => {
  const wide = [];
  for (const el of document.querySelectorAll('*')) {
    const x = getComputedStyle(el).overflowX;
    if ((x === 'auto' || x === 'scroll') && el.scrollWidth > el.clientWidth + 1) wide.push(el.id || el.className);
  }
  const root = document.documentElement;
  if (root.scrollWidth > innerWidth) wide.push('page: ' + root.scrollWidth + ' > ' + innerWidth);
  return wide;
}"""

# Text nodes holding a user's string whose element does not isolate its direction.
NOT_ISOLATED = """(strings) => {
  const bad = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (!strings.some((s) => node.data.includes(s))) continue;
    const bidi = getComputedStyle(node.parentElement).unicodeBidi;
    if (bidi !== 'isolate' && bidi !== 'plaintext') bad.push(node.parentElement.outerHTML.slice(0, 120));
  }
  for (const el of document.querySelectorAll('[title], [aria-label], [placeholder]')) {
    for (const attr of ['title', 'aria-label', 'placeholder']) {
      const value = el.getAttribute(attr) || '';
      for (const s of strings) {
        if (value.includes(s) && !value.includes('\\u2068' + s + '\\u2069')) bad.push(attr + ': ' + value);
      }
    }
  }
  return bad;
}"""


async def layout_problems(page: Page) -> list[str]:
    return await page.evaluate(NO_SIDEWAYS_SCROLL)


async def open_drawer(page: Page, which: str) -> None:
    """On a phone the room list and the member list are drawers."""
    if await page.locator(f"#toggle-{which}").is_visible():
        await page.locator(f"#toggle-{which}").click()
        await expect(page.locator("#app")).to_have_attribute("data-drawer", which)


async def close_drawer(page: Page) -> None:
    await page.keyboard.press("Escape")
    await expect(page.locator("#app")).to_have_attribute("data-drawer", "")


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
async def test_hostile_names_keep_the_layout_and_their_neighbours(browser, page_url, viewport):
    wide = await sign_in(browser, page_url, viewport, *REFUSALS, LONG)
    rtl = await sign_in(browser, page_url, viewport, RTL)
    emoji = await sign_in(browser, page_url, viewport, EMOJI)
    await send(rtl, "\u202eoverride inside a message stays inside it")
    await send(emoji, "W" * 300)
    await expect(messages(wide)).to_have_count(2)
    await expect(wide.locator("#me")).to_have_text(LONG)
    await expect(emoji.locator("#me")).to_have_text(EMOJI)
    assert await layout_problems(wide) == []

    # The long name is cut with an ellipsis where it would not fit, never wider than its column.
    await open_drawer(wide, "members")
    member = wide.get_by_test_id(f"member-{RTL}").locator(".member-name")
    me = wide.locator(".member-self .member-name")
    await expect(me).to_have_text(LONG)
    cut = await me.evaluate("(el) => [el.scrollWidth > el.clientWidth, getComputedStyle(el).textOverflow]")
    assert cut == [True, "ellipsis"]
    panel = await wide.locator("#members-panel").bounding_box()
    assert (await me.bounding_box())["x"] + (await me.bounding_box())["width"] <= panel["x"] + panel["width"]
    assert await layout_problems(wide) == []

    # Each member carries a tag from the user id, in the list and on hover.
    rtl_id = await rtl.evaluate("JSON.parse(localStorage.getItem('chatd.userId'))")
    tag = wide.get_by_test_id(f"member-{RTL}").locator(".member-tag")
    await expect(tag).to_have_text(f"#{rtl_id}")
    name_box, tag_box = await member.bounding_box(), await tag.bounding_box()
    assert tag_box["x"] >= name_box["x"] + name_box["width"] - 1  # the RTL name did not swap places with its tag
    author = messages(wide).first.locator(".msg-author")
    await expect(author).to_have_attribute("title", f"\u2068{RTL}\u2069 #{rtl_id}")
    author_box = await author.bounding_box()
    time_box = await messages(wide).first.locator("time").bounding_box()
    assert time_box["x"] >= author_box["x"] + author_box["width"] - 1
    await close_drawer(wide)

    # Every string a user chose is isolated, in text and in attributes.
    assert await wide.evaluate(NOT_ISOLATED, [LONG, RTL, EMOJI, "override inside"]) == []

    # A room with the longest name and a right-to-left topic: the same.
    await open_drawer(wide, "sidebar")
    await wide.get_by_test_id("new-room-toggle").click()
    await wide.get_by_test_id("new-room").fill(LONG)
    await wide.locator("#new-topic").fill(TOPIC)
    await wide.get_by_test_id("create-room").click()
    await expect(wide.get_by_test_id("room-title")).to_contain_text(LONG)
    await close_drawer(wide)  # creating went to the new room, which closes the drawer already
    await open_drawer(wide, "sidebar")
    assert await layout_problems(wide) == []
    assert await wide.evaluate(NOT_ISOLATED, [LONG, TOPIC]) == []

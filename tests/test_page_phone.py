"""The page on a phone (390 × 844), in English and Chinese: every button and link is a tap
target of at least 44 × 44 px (top bar, sidebar, composer, menus, the settings dialog), the
members drawer opens below its own button, the top bar stays one row while the connection
is being retried with its countdown showing, a message's actions stay one row (static/style.css,
the phone breakpoint), never beside its text, which keeps the full width. Links in a message's
text are exempt from the size, as inline targets (WCAG 2.5.8; docs/page.md, "On a phone")."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from tests.test_page import gate_websockets, messages, open_tab, send

PHONE = {"width": 390, "height": 844}
TAP_PX = 44

# Every visible control on screen smaller than TAP_PX either way. A checkbox is tapped through its
# label (the label is the target); links inside a message's text are words in a sentence
# (WCAG 2.5.8 exempts inline targets).
SMALL_TARGETS = """tap => {
  const shown = (el) => {
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.height > 0 && getComputedStyle(el).visibility !== 'hidden' && !el.closest('.sr-only')
      && !el.closest('[inert]') && r.bottom > 0 && r.right > 0 && r.left < innerWidth && r.top < innerHeight;
  };
  const targets = [...document.querySelectorAll(
    'button, a[href], summary, select, input[type=checkbox], [role=menuitem], [role=option]')]
    .filter((el) => !el.closest('#messages .msg-text, #messages .msg-body'))
    .map((el) => (el.matches('input[type=checkbox]') && el.closest('label')) || el)
    .filter(shown);
  return targets.map((el) => {
    const r = el.getBoundingClientRect();
    return { what: el.id || el.dataset.testid || el.className || el.textContent.trim().slice(0, 20),
             width: Math.round(r.width), height: Math.round(r.height) };
  }).filter((t) => t.width < tap || t.height < tap);
}"""

# The top bar and, while the page retries the connection, whether anything in it left its one row.
TOP_BAR = """() => {
  const bar = document.querySelector('.topbar').getBoundingClientRect();
  const out = [...document.querySelectorAll('.topbar > *')].filter((el) => {
    const r = el.getBoundingClientRect();
    return r.height > 0 && (r.top < bar.top - 0.5 || r.bottom > bar.bottom + 0.5 || r.right > innerWidth + 0.5);
  }).map((el) => el.id || el.className);
  return { height: Math.round(bar.height), out, state: document.getElementById('conn-state').dataset.state,
           countdown: document.getElementById('conn-countdown').textContent };
}"""


# What the top bar and the conversation's head show cut short: a word ending in an ellipsis (the
# connection's state, the room's name), a control squeezed below its own width (a probe copy of it,
# free to take that width, measures it).
CUT_SHORT = """() => {
  const cut = [];
  for (const el of document.querySelectorAll('.conn-text, #room-title bdi')) {
    if (el.scrollWidth > el.clientWidth + 0.5) cut.push(el.textContent);
  }
  for (const el of document.querySelectorAll('.chat-head select, .chat-head button')) {
    if (!el.getClientRects().length) continue;
    const probe = el.cloneNode(true);
    probe.style.cssText = 'position: absolute; visibility: hidden; width: auto; max-width: none; flex: none';
    el.parentElement.append(probe);
    const natural = probe.getBoundingClientRect().width;
    probe.remove();
    if (el.getBoundingClientRect().width < natural - 0.5) cut.push(el.id || el.dataset.testid);
  }
  return cut;
}"""


async def small_targets(page: Page) -> list[dict]:
    return await page.evaluate(SMALL_TARGETS, TAP_PX)


@pytest.mark.parametrize(("locale", "online"), [("en-US", "Online"), ("zh-CN", "在线")])
async def test_phone_tap_targets_drawers_and_a_one_row_top_bar(browser, page_url, server, locale, online):
    context = await browser.new_context(viewport=PHONE, locale=locale, has_touch=True, is_mobile=True,
                                        reduced_motion="reduce")
    refuse = await gate_websockets(context)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    await page.goto(page_url)
    await page.get_by_test_id("name-input").fill("alice")
    assert await small_targets(page) == []  # the name form
    await page.get_by_test_id("name-submit").click()
    await expect(page.locator("#conn-label")).to_have_text(online)
    await expect(page.get_by_test_id("room-title")).to_contain_text("lobby")
    assert await small_targets(page) == []  # top bar, conversation head, composer

    await page.locator("#toggle-sidebar").click()
    await expect(page.locator("#sidebar")).to_be_visible()
    await page.get_by_test_id("new-room-toggle").click()
    assert await small_targets(page) == []  # the sidebar, its new-room form open
    await page.locator("#toggle-sidebar").click()

    # The members drawer opens below the conversation's head: its button stays visible and tappable.
    toggle = page.locator("#toggle-members")
    await toggle.click()
    await expect(page.locator("#members-panel")).to_be_visible()
    box = await toggle.bounding_box()
    drawer = await page.locator("#members-panel").bounding_box()
    assert drawer["y"] >= box["y"] + box["height"] - 1
    at_toggle = await page.evaluate("([x, y]) => document.elementFromPoint(x, y).closest('#toggle-members') !== null",
                                    [box["x"] + box["width"] / 2, box["y"] + box["height"] / 2])
    assert at_toggle
    assert await small_targets(page) == []
    await toggle.click()
    await expect(toggle).to_have_attribute("aria-expanded", "false")

    await page.get_by_test_id("me").click()
    assert await small_targets(page) == []  # the name menu
    await page.get_by_test_id("menu-settings").click()
    await expect(page.get_by_test_id("settings")).to_be_visible()
    assert await small_targets(page) == []  # the settings dialog
    await page.get_by_test_id("settings-close").click()

    # The connection drops and every new one is refused: "reconnecting in N s" and ↻, in one row.
    before = await page.evaluate(TOP_BAR)
    assert before["out"] == []
    refuse["on"] = True
    for sock in [s for s in server.sockets if s.session.user and s.session.user.name == "alice"]:
        sock.abort()
    await expect(page.locator("#retry-now")).to_be_visible()
    retrying = await page.evaluate("""bar => new Promise((resolve) => {
        const look = () => {
          const now = (bar)();
          if (now.state === 'reconnecting' && now.countdown) resolve(now);
          else requestAnimationFrame(look);
        };
        look();
    })""".replace("(bar)()", f"({TOP_BAR})()"), None)
    assert retrying["height"] == before["height"] and retrying["out"] == [], retrying
    assert await small_targets(page) == []  # ↻ too
    refuse["on"] = False
    await page.locator("#retry-now").click()
    await expect(page.locator("#conn-label")).to_have_text(online)
    assert not errors
    await context.close()


@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
async def test_phone_shows_the_room_its_level_and_the_connection_whole_and_reactions_are_tap_sized(
        browser, page_url, user, locale):
    bob = await user("bob")
    await bob.request("create", room="design-ops")  # a name as long as the finding's "#ui8932" and more
    await bob.request("join", room="design-ops")
    said = await bob.say("design-ops", "shall we ship?")
    await bob.request("react", id=said["id"], emoji="👍")
    alice = await open_tab(browser, f"{page_url}#/r/design-ops", "alice", room=None, viewport=PHONE, locale=locale,
                           has_touch=True, is_mobile=True, reduced_motion="reduce")
    await expect(messages(alice).locator("[data-testid=reaction]")).to_have_count(1)
    assert await alice.evaluate(CUT_SHORT) == []
    assert await small_targets(alice) == []  # the reaction chip and the message's actions too
    assert not alice.js_errors


# For each message of the user's own: the tops of its visible actions (Reply, React, Link, Edit, Delete),
# and whether any reaches out of the message's box.
ACTION_ROWS = """() => [...document.querySelectorAll('#messages .msg.own')].map((li) => {
  const box = li.getBoundingClientRect();
  const actions = [...li.querySelectorAll('.msg-actions > :not(.msg-edited)')]
    .filter((el) => el.getClientRects().length).map((el) => el.getBoundingClientRect());
  return { tops: [...new Set(actions.map((r) => Math.round(r.top)))], count: actions.length,
           out: actions.some((r) => r.left < box.left - 0.5 || r.right > box.right + 0.5) };
})"""


@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
async def test_phone_keeps_an_own_messages_actions_in_one_row(browser, page_url, locale):
    # A name of 9 letters and the time beside it: the five actions of 44 px still do not break their row
    # (in Chinese, 删除 alone on a second line); a message grouped under the first keeps them in one row too.
    alice = await open_tab(browser, f"{page_url}#/r/lobby", "alexandra", room=None, viewport=PHONE, locale=locale,
                           has_touch=True, is_mobile=True, reduced_motion="reduce")
    for text in ("see https://example.com/docs for the plan", "and a second one"):
        await send(alice, text)
    await expect(messages(alice).last).to_have_attribute("data-id", "2")
    rows = await alice.evaluate(ACTION_ROWS)
    assert [(len(r["tops"]), r["count"], r["out"]) for r in rows] == [(1, 5, False)] * 2, rows
    assert await small_targets(alice) == []
    assert not alice.js_errors


# For each message shown: whether its visible actions sit beside its text (a box of one overlapping the
# text's lines), which then has only what is left of the width.
BESIDE_TEXT = """() => [...document.querySelectorAll('#messages .msg')].map((li) => {
  const text = li.querySelector('.msg-text').getBoundingClientRect();
  const beside = [...li.querySelectorAll('.msg-actions > *')].filter((el) => el.getClientRects().length)
    .map((el) => el.getBoundingClientRect()).some((r) => r.bottom > text.top + 0.5 && r.top < text.bottom - 0.5);
  return { id: li.dataset.id, grouped: li.classList.contains('grouped'), beside };
})"""


@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
async def test_phone_gives_a_messages_text_the_full_width_its_actions_a_row_of_their_own(
        browser, page_url, user, locale):
    # Others' messages (Reply, React, Link) and the user's own (Edit and Delete too), each the first of
    # its group and one grouped under it: on a phone no action sits beside the text (docs/page.md,
    # "On a phone"); the grouped one's were floated there, its words a column one word wide.
    bob = await user("bob", "lobby")
    alice = await open_tab(browser, f"{page_url}#/r/lobby", "alexandra", room=None, viewport=PHONE, locale=locale,
                           has_touch=True, is_mobile=True, reduced_motion="reduce")
    for text in ("shall we ship on friday, or wait for the review?", "I can do either"):
        await bob.say("lobby", text)
    await expect(messages(alice)).to_have_count(2)
    for text in ("see https://example.com/docs for the plan", "and a second one"):
        await send(alice, text)
    await expect(messages(alice).last).to_have_attribute("data-id", "4")
    shown = await alice.evaluate(BESIDE_TEXT)
    assert [(m["grouped"], m["beside"]) for m in shown] == [(False, False), (True, False)] * 2, shown
    assert await small_targets(alice) == []
    assert not alice.js_errors

"""The search box on the page in a real Chromium: Chinese and English queries, results with
their context and the match marked, and a click that jumps to the message in its room or
conversation, loads the history around it, highlights it, and fills the gap to the latest; the
address names the message jumped to, and Back returns to where the user was."""

from __future__ import annotations

import re

from playwright.async_api import Page, expect

from tests.test_page import messages, open_tab
from tests.test_page_links import far_back


async def search(page: Page, query: str) -> None:
    box = page.get_by_test_id("search-input")
    await box.fill(query)
    await box.press("Enter")


async def test_a_chinese_query_finds_an_old_message_and_jumps_to_it(browser, page_url, user, seed):
    alice, target, newer = await far_back(browser, page_url, user, seed, "今天的会议改到下午三点")

    await search(alice, "会议")
    result = alice.get_by_test_id("search-result")
    await expect(result).to_have_count(1)
    await expect(result).to_contain_text("#lobby")
    await expect(result).to_contain_text("bob")
    await expect(result.locator("mark")).to_have_text("会议")
    await expect(alice.get_by_test_id("search-status")).to_contain_text("1 result")
    await result.click()

    found = alice.locator(f'[data-testid="message"][data-id="{target}"]')
    await expect(found).to_have_class("msg highlight")
    await expect(found).to_be_in_viewport()
    await expect(alice).to_have_url(re.compile(rf"#/r/lobby/m/{target}$"))  # docs/page.md, "Addresses"

    # Back: the lobby as it was, at its latest; Forward: the message again.
    await alice.go_back()
    await expect(alice).to_have_url(re.compile(r"#/r/lobby$"))
    latest = alice.locator(f'[data-testid="message"][data-id="{newer[-1]}"]')
    await expect(latest).to_be_in_viewport()
    await alice.go_forward()
    await expect(found).to_have_class("msg highlight")
    await expect(found).to_be_in_viewport()
    newer_button = alice.get_by_test_id("load-newer")
    await expect(newer_button).to_be_visible()
    while await newer_button.count():
        await newer_button.click()
        await expect(newer_button.filter(has_text="Loading")).to_have_count(0)
    ids = [int(i) for i in await messages(alice).evaluate_all("(nodes) => nodes.map((n) => n.dataset.id)")]
    assert ids == sorted(ids) and ids[-1] == newer[-1] and set(newer) <= set(ids), "no gap left, nothing twice"
    assert not alice.js_errors


async def test_an_english_word_finds_a_private_message_and_opens_its_conversation(browser, page_url, user):
    alice = await open_tab(browser, page_url, "alice")
    bob = await user("bob", "lobby")
    await expect(alice.get_by_test_id("member-bob")).to_be_visible()
    members = await bob.request("join", room="lobby")  # alice's id, from her member entry
    alice_ref = next(m for m in members["members"] if m["name"] == "alice")
    sent = await bob.request("say", to=alice_ref["id"], text="We deployed the <b>new</b> build")
    await search(alice, "deploy")
    result = alice.get_by_test_id("search-result")
    await expect(result).to_have_count(1)
    await expect(result).to_contain_text("with bob")
    await expect(result.locator("mark")).to_have_text("deploy")
    await result.click()
    await expect(alice.get_by_test_id("room-title")).to_contain_text("bob")
    found = alice.locator(f'[data-testid="message"][data-id="{sent["id"]}"]')
    await expect(found).to_have_class("msg highlight")
    await expect(found).to_contain_text("We deployed the <b>new</b> build")  # text, never markup
    await expect(alice).to_have_url(re.compile(rf"#/u/\d+/m/{sent['id']}$"))
    await alice.go_back()  # one step back: the lobby, where alice searched from
    await expect(alice).to_have_url(re.compile(r"#/r/lobby$"))
    await expect(alice.get_by_test_id("room-title")).to_contain_text("lobby")

    await search(alice, '"NEAR(x* -"')
    await expect(alice.get_by_test_id("search-status")).to_contain_text("Nothing found")
    assert not alice.js_errors

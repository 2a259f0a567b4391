"""The chat log tab of the admin page in a real Chromium: every message with its time, place and
author, tombstones shown as deleted, filters (text through the search index, a room), the matched
words marked, the export links, and the page saying private messages are left out."""

from __future__ import annotations

from playwright.async_api import expect

from tests.adminclient import PASSWORD, admin_account
from tests.test_page_admin import admin_page


async def test_an_admin_reads_filters_and_searches_the_chat_log(browser, server, user):
    alice, bob = await user("alice", "lobby"), await user("bob", "lobby")
    await alice.say("lobby", "今天的会议改到下午三点")
    await bob.say("lobby", "We deployed the new build")
    gone = (await bob.say("lobby", "a regrettable remark"))["id"]
    await alice.request("say", to=bob.welcome["user"]["id"], text="private 会议 notes")
    await server.store.moderation.delete(gone)  # a tombstone, as a moderator makes one

    page = await admin_page(browser, server)
    await page.fill("#login-name", admin_account(server))
    await page.fill("#login-password", PASSWORD)
    await page.click("#login-submit")
    await page.locator("#tabs button[data-tab='log']").click()
    rows = page.get_by_test_id("log-table").get_by_test_id("log-row")
    await expect(rows).to_have_count(3)
    await expect(rows.nth(0)).to_contain_text("deleted")
    await expect(rows.nth(0).get_by_test_id("log-delete")).to_have_count(0)  # nothing left to delete
    await expect(rows.nth(1).get_by_role("button", name="Delete message")).to_have_count(1)
    await expect(rows.nth(1)).to_contain_text("#lobby")
    await expect(rows.nth(1)).to_contain_text("bob")
    await expect(page.get_by_test_id("log-privacy")).to_contain_text("Private messages are not shown")

    await page.get_by_test_id("log-q").fill("会议")
    await page.get_by_test_id("log-q").press("Enter")
    await expect(rows).to_have_count(1)
    await expect(rows.locator("mark")).to_have_text("会议")
    await expect(page.get_by_test_id("log-export-csv")).to_have_attribute(
        "href", "/admin/api/log/export?q=%E4%BC%9A%E8%AE%AE&format=csv")

    await page.get_by_test_id("log-q").fill("deploy")
    await page.get_by_test_id("log-room").fill("lobby")
    await page.get_by_test_id("log-q").press("Enter")
    await expect(rows).to_have_count(1)
    await expect(rows).to_contain_text("We deployed the new build")
    assert page.js_errors == []

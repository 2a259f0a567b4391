"""The admin page's Moderation tab in Chromium: an admin signs in, deletes a message by id
(the user's open page loses it without a reload), bans a user and lifts the ban."""

from __future__ import annotations

from playwright.async_api import expect

from tests.adminclient import PASSWORD, admin_account
from tests.test_page import browser, messages, open_tab, page_url, send  # noqa: F401 - browser, page_url: fixtures


async def test_an_admin_deletes_bans_and_lifts_from_the_moderation_tab(browser, page_url, server):  # noqa: F811
    alice = await open_tab(browser, page_url, "alice")
    await send(alice, "an unkind word")
    await expect(messages(alice).filter(has_text="an unkind word")).to_have_count(1)
    message_id = await messages(alice).first.get_attribute("data-id")
    user_id = await alice.evaluate("JSON.parse(localStorage.getItem('chatd.userId'))")

    admin = await (await browser.new_context()).new_page()
    errors: list[str] = []
    admin.on("pageerror", lambda e: errors.append(str(e)))
    await admin.goto(page_url + "admin#moderation")
    await admin.locator("#login-name").fill(admin_account(server))
    await admin.locator("#login-password").fill(PASSWORD)
    await admin.locator("#login-submit").click()
    delete = admin.get_by_test_id("mod-delete")
    await delete.get_by_label("Message id").fill(message_id)
    await delete.get_by_role("button", name="Delete").click()
    await expect(admin.get_by_test_id("mod-delete-status")).to_contain_text(f"Message {message_id} deleted")
    await expect(messages(alice).filter(has_text="an unkind word")).to_have_count(0)
    await expect(alice.locator("[data-testid=message][data-deleted]")).to_have_count(1)

    ban = admin.get_by_test_id("mod-ban")
    await ban.get_by_label("User id").fill(str(user_id))
    await ban.get_by_label("Reason").fill("rude")
    await ban.get_by_role("button", name="Ban").click()
    await expect(alice.get_by_test_id("notice")).to_contain_text("Reason: \u2068rude\u2069.")  # user text, isolated
    bans = admin.get_by_test_id("bans-table")
    await expect(bans).to_contain_text("alice")
    await bans.get_by_role("button", name="Lift the ban of alice").click()
    await expect(bans).to_contain_text("No one is banned.")
    assert not errors

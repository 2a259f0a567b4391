"""The admin page's Moderation tab in Chromium: an admin signs in, deletes a message by id
(the user's open page loses it without a reload), bans a user (a shorter ban leaves a longer one
in force, and the status line says so) and lifts the ban."""

from __future__ import annotations

import asyncio

from playwright.async_api import expect

from tests.adminclient import PASSWORD, admin_account
from tests.test_page import messages, open_tab, send


async def test_an_admin_deletes_bans_and_lifts_from_the_moderation_tab(browser, page_url, server):
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
    # A deletion's reason goes to the audit log only (a kick's, a mute's and a ban's reach the user).
    await expect(delete.get_by_label("Reason")).to_have_attribute("placeholder", "kept in the audit log")
    await expect(admin.get_by_test_id("mod-ban").get_by_label("Reason")).to_have_attribute("placeholder",
                                                                                         "shown to the user")
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
    status = admin.get_by_test_id("mod-ban-status")
    await expect(status).to_have_text("Banned: their open sessions are closed.")
    for duration in ("for good", "10 minutes"):  # a longer ban replaces it; a shorter one leaves it in force
        await ban.get_by_label("User id").fill(str(user_id))
        await ban.get_by_label("For").select_option(label=duration)
        await ban.get_by_role("button", name="Ban").click()
        await expect(status).not_to_have_text("…")
    await expect(status).to_have_text("Left as it was: a longer ban is in force, with no end. Lift it first to "
                                      "shorten it.")
    await expect(bans.locator("tr", has_text="alice")).to_contain_text("no end")
    await bans.get_by_role("button", name="Lift the ban of alice").click()
    await expect(bans).to_contain_text("No one is banned.")
    assert not errors


# window.jsonRead(): a promise of the page's next JSON answer read (from when it is called). What
# the page does with that answer (microtasks of the same turn) is done before the test's next call
# into the page runs.
NEXT_JSON_READ = """
const read = Response.prototype.json;
let told = () => {};
window.jsonRead = () => new Promise((resolve) => { told = resolve; });
Response.prototype.json = async function () {
  const value = await read.call(this);
  told();
  return value;
};
"""


async def test_a_list_answer_overtaken_by_a_later_one_never_draws_over_it(browser, page_url, server):
    """A ban's refresh of the lists answers late, after the lift's refresh: the lists keep what the
    later answer said (no one banned), not the older one's (alice banned)."""
    alice = await open_tab(browser, page_url, "alice")
    user_id = await alice.evaluate("JSON.parse(localStorage.getItem('chatd.userId'))")
    admin = await (await browser.new_context()).new_page()
    await admin.add_init_script(NEXT_JSON_READ)
    held: asyncio.Future = asyncio.get_running_loop().create_future()

    async def hold_one(route):
        if route.request.method == "GET" and not held.done() and armed:
            held.set_result((route, await route.fetch()))  # the server's answer now, given later
        else:
            await route.continue_()

    armed = False
    await admin.route("**/admin/api/moderation", hold_one)
    await admin.goto(page_url + "admin#moderation")
    await admin.locator("#login-name").fill(admin_account(server))
    await admin.locator("#login-password").fill(PASSWORD)
    await admin.locator("#login-submit").click()
    ban = admin.get_by_test_id("mod-ban")
    bans = admin.get_by_test_id("bans-table")
    await ban.get_by_label("User id").fill(str(user_id))
    await ban.get_by_label("For").select_option(label="for good")
    await ban.get_by_role("button", name="Ban").click()
    await expect(bans).to_contain_text("alice")

    armed = True
    await ban.get_by_label("User id").fill(str(user_id))
    await ban.get_by_label("For").select_option(label="10 minutes")  # kept: the same ban stays in force
    await ban.get_by_role("button", name="Ban").click()  # its refresh is held, answering "alice banned"
    route, stale = await held
    await bans.get_by_role("button", name="Lift the ban of alice").click()
    await expect(bans).to_contain_text("No one is banned.")
    await admin.evaluate("() => { window.staleRead = window.jsonRead(); }")
    await route.fulfill(response=stale)
    await admin.evaluate("() => window.staleRead")
    assert "alice" not in await bans.inner_text()

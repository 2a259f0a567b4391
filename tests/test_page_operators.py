"""The operators' acceptance run of issue 11, in a real Chromium against a real server, on SQLite
and on PostgreSQL: an admin signs in to /admin, finds messages in the chat log by a two-character
Chinese query and by an English word and deletes them there, and the user's open page loses them
without a reload; a moderator (an app token's role) mutes the user from the chat page's member menu
(the next say is refused with the time left) and bans them with a reason; the banned page says why
and a reload does not get back in; the audit tab shows every action with who, target and reason.

One browser, a context (its own cookies and storage) per person."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, expect

from tests.adminclient import PASSWORD, admin_account
from tests.stores import KINDS
from tests.test_page import messages, open_tab, send
from tests.test_page_admin import admin_page
from tests.test_page_client import APP_SECRET
from tests.test_page_moderation import MUTED_FLOODING, in_dialog, moderator_tab, mute_in_dialog

CHINESE = "今天的会议改到下午三点"
ENGLISH = "we deployed the new build"


@pytest.fixture(params=KINDS)
def config_overrides(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    database = request.getfixturevalue("postgres_url") if request.param == "postgres" else str(tmp_path / "chatd.db")
    return {"database": database, "app_tokens": {"secret": APP_SECRET}}


async def find_and_delete(admin: Page, query: str, text: str, reason: str) -> str:
    """In the chat log tab: search ``query``, see the one row holding ``text`` with the match
    marked, delete it from its row giving ``reason``; the row then shows it deleted. → its id."""
    await admin.get_by_test_id("log-q").fill(query)
    await admin.get_by_test_id("log-q").press("Enter")
    rows = admin.get_by_test_id("log-table").get_by_test_id("log-row")
    await expect(rows).to_have_count(1)
    await expect(rows).to_contain_text(text)
    await expect(rows).to_contain_text("#lobby")
    await expect(rows.locator("mark")).to_have_text(query)
    admin.dialog_answer = reason
    await rows.get_by_test_id("log-delete").click()
    await expect(rows).to_contain_text("deleted")
    await expect(rows).not_to_contain_text(text)
    await expect(rows.get_by_test_id("log-delete")).to_have_count(0)
    return await rows.get_attribute("data-id")


async def test_an_admin_and_a_moderator_clean_up_and_the_audit_log_shows_it(browser, page_url, server, user):
    lin = await open_tab(browser, page_url, "lin")
    bob = await user("bob", "lobby")
    await send(lin, CHINESE)
    await bob.say("lobby", ENGLISH)
    await send(lin, "see you there")
    await expect(messages(lin)).to_have_count(3)
    lin_id = await lin.evaluate("JSON.parse(localStorage.getItem('chatd.userId'))")

    # The admin: an account as `chatd admin create` makes one, signed in on the page.
    admin_name = admin_account(server)
    admin = await admin_page(browser, server)
    admin.on("dialog", lambda dialog: dialog.accept(admin.dialog_answer))
    await admin.goto(page_url + "admin#log")
    await admin.fill("#login-name", admin_name)
    await admin.fill("#login-password", PASSWORD)
    await admin.click("#login-submit")
    await expect(admin.get_by_test_id("admin-who")).to_have_text(f"{admin_name} (admin)")
    await expect(admin.get_by_test_id("log-table").get_by_test_id("log-row")).to_have_count(3)

    chinese_id = await find_and_delete(admin, "会议", CHINESE, "moved to the calendar")
    english_id = await find_and_delete(admin, "deploy", ENGLISH, "internal detail")
    # The user's open page drops both at once, placeholders in their places, the rest kept.
    for text in (CHINESE, ENGLISH):
        await expect(messages(lin).filter(has_text=text)).to_have_count(0)
    await expect(lin.locator("[data-testid=message][data-deleted]")).to_have_count(2)
    await expect(messages(lin).filter(has_text="see you there")).to_have_count(1)
    # Deleted messages left the index.
    await admin.get_by_test_id("log-q").fill("会议")
    await admin.get_by_test_id("log-q").press("Enter")
    await expect(admin.get_by_role("status").filter(has_text="No message matches.")).to_be_visible()

    # The moderator mutes lin from the chat page's member menu; lin's next say is refused, saying how long.
    mod = await moderator_tab(browser, page_url, "mona", "moderator")
    menu = mod.get_by_test_id("moderate-lin")
    await menu.locator("summary").click()
    await menu.get_by_test_id("mute").click()  # a dialog asks for how long and why (optional)
    await mute_in_dialog(mod)
    await send(lin, "can I talk?")
    await expect(lin.get_by_test_id("failed-reason")).to_contain_text(MUTED_FLOODING)  # the reason the dialog took

    # Then bans lin with a reason: lin's page says why, goes offline and offers no way back.
    await menu.locator("summary").click()
    await menu.get_by_test_id("ban").click()
    await in_dialog(mod, "", "spamming links")  # for good
    banned = "You are banned from this chat for good. Reason: \u2068spamming links\u2069."
    await expect(lin.get_by_test_id("notice")).to_contain_text(banned)
    await expect(lin.get_by_test_id("conn-state")).to_have_attribute("data-state", "offline")
    await expect(lin.get_by_test_id("notice-action")).to_be_hidden()
    await expect(lin.locator("#retry-now")).to_be_hidden()
    # A reload is refused again: the notice, offline, and no chat (no message of the room: only
    # lin's own refused text, kept by the page as unsent).
    await lin.reload()
    await expect(lin.get_by_test_id("notice")).to_contain_text(banned)
    await expect(lin.get_by_test_id("conn-state")).to_have_attribute("data-state", "offline")
    await expect(lin.locator("#retry-now")).to_be_hidden()
    await expect(lin.locator("[data-testid=message][data-id]")).to_have_count(0)
    await expect(messages(lin)).to_have_count(1)
    await expect(messages(lin)).to_have_attribute("data-state", "failed")
    await expect(messages(lin)).to_contain_text("can I talk?")

    # The audit tab: every action, newest first, with who, the target and the reason.
    await admin.locator("#tabs button[data-tab='audit']").click()
    table = admin.get_by_test_id("audit-table")
    actions = table.locator("tbody tr:not([data-action^='admin.'])")
    await expect(actions).to_have_count(4)
    assert [await row.get_attribute("data-action") for row in await actions.all()] == [
        "user.ban", "user.mute", "message.delete", "message.delete"]
    ban, mute, delete_english, delete_chinese = (actions.nth(i).locator("td") for i in range(4))
    for cells, who, target, reason in (
            (ban, "mona (user)", f"user:{lin_id}", "spamming links"),
            (mute, "mona (user)", f"user:{lin_id}", "flooding"),
            (delete_english, f"{admin_name} (admin)", f"message:{english_id}", "internal detail"),
            (delete_chinese, f"{admin_name} (admin)", f"message:{chinese_id}", "moved to the calendar")):
        await expect(cells.nth(1)).to_have_text(who)
        await expect(cells.nth(3)).to_have_text(target)
        await expect(cells.nth(4)).to_have_text(reason)
    await expect(mute.nth(5)).to_contain_text('"seconds":600')
    assert not lin.js_errors and not admin.js_errors and not mod.js_errors

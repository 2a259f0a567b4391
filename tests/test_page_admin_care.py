"""The admin page's rooms and users tabs in a real Chromium against a real server:
an admin creates a room, archives it, reserves a name and deletes the room (asked
first), and finds and deletes a user; the users' pages and clients see each at once."""

from __future__ import annotations

from playwright.async_api import Page, expect

from tests.adminclient import PASSWORD, admin_account
from tests.test_page import open_tab


async def signed_in(browser, server, tab: str) -> Page:
    name = admin_account(server)
    page = await (await browser.new_context()).new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.js_errors = errors
    page.on("dialog", lambda dialog: dialog.accept())  # the confirmations
    await page.goto(f"http://127.0.0.1:{server.port}/admin#{tab}")
    await page.fill("#login-name", name)
    await page.fill("#login-password", PASSWORD)
    await page.click("#login-submit")
    await expect(page.get_by_test_id("admin-who")).to_have_text(f"{name} (admin)")
    return page


async def test_an_admin_creates_archives_and_deletes_a_room_and_reserves_a_name(browser, server):
    admin = await signed_in(browser, server, "rooms")
    await admin.get_by_test_id("room-name").fill("games")
    await admin.get_by_role("button", name="Create room").click()
    games = admin.locator("tr[data-room='games']")
    await expect(games).to_be_visible()

    alice = await open_tab(browser, f"http://127.0.0.1:{server.port}/", "alice", room="games")
    await games.locator("input[data-flag='archived']").check()
    await expect(admin.get_by_test_id("rooms-status")).to_contain_text("games: Archived")
    await expect(alice.get_by_test_id("composer")).to_be_disabled()
    await expect(alice.get_by_test_id("composer-note")).to_contain_text("archived")

    await admin.get_by_test_id("name-pattern").fill("Admin")
    await admin.get_by_role("button", name="Reserve").click()
    await expect(admin.locator("tr[data-pattern='Admin']")).to_be_visible()
    assert server.chat.reserved.match("ADMIN", "user") is not None

    await games.get_by_test_id("room-delete").click()
    await expect(games).to_have_count(0)
    await expect(alice.get_by_test_id("toast").filter(has_text="was deleted")).to_be_visible()
    await expect(alice.get_by_test_id("room-games")).to_have_count(0)
    assert admin.js_errors == [] and alice.js_errors == []


async def test_an_admin_finds_and_deletes_a_user(browser, server, user):
    bob = await user("bob", "lobby")
    assert (await bob.say("lobby", "bob was here"))["type"] == "ack"
    admin = await signed_in(browser, server, "users")
    await admin.get_by_test_id("users-query").fill("bob")
    await admin.get_by_role("button", name="Find").click()
    row = admin.locator(f"tr[data-user='{bob.welcome['user']['id']}']")
    await expect(row).to_contain_text("online")
    await expect(row.get_by_role("link", name="Export (JSON)")).to_have_attribute(
        "href", f"/admin/api/users/{bob.welcome['user']['id']}/export")
    await row.get_by_test_id("user-delete").click()
    await expect(admin.get_by_test_id("users-status")).to_contain_text("1 message removed")
    assert "deleted" in (await bob.expect("kicked"))["reason"]
    assert admin.js_errors == []


async def test_the_retention_preview_counts_in_words(browser, server):
    admin = await signed_in(browser, server, "rooms")
    days = admin.get_by_label("Retention days of lobby")
    await days.fill("1")
    await admin.locator("td", has=days).get_by_role("button", name="Save").click()
    await expect(admin.get_by_test_id("rooms-status")).to_contain_text("lobby: retention saved")
    await admin.get_by_role("button", name="What would go").click()
    plan = admin.get_by_test_id("retention-plan")
    await expect(plan.locator("li", has_text="#lobby")).to_have_text("#lobby: 0 messages older than 1 day")
    await expect(plan.locator("p")).to_have_text("0 messages would go.")
    assert not admin.js_errors

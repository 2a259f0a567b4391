"""The admin page in a real Chromium against a real server: signing in with a password
and with the chat account, the audit tab, signing out. The session cookie is Secure:
Chromium keeps it on plain http for 127.0.0.1 (a secure context), which is how
development without TLS works (docs/operations.md, "Administration")."""

from __future__ import annotations

import time

import jwt
import pytest
from playwright.async_api import Page, expect

from tests.adminclient import PASSWORD, admin_account
from tests.wsclient import ChatClient

APP_SECRET = "7c1e0b9a8f7d6e5c4b3a29180f1e2d3c4b5a69788796a5b4"
pytestmark = pytest.mark.parametrize("config_overrides", [{"app_tokens": {"secret": APP_SECRET}}])


async def admin_page(browser, server) -> Page:
    page = await (await browser.new_context()).new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.js_errors = errors
    await page.goto(f"http://127.0.0.1:{server.port}/admin")
    return page


async def test_an_admin_signs_in_sees_the_audit_log_and_signs_out(browser, server):
    name = admin_account(server)
    page = await admin_page(browser, server)
    await expect(page.get_by_test_id("admin-login")).to_be_visible()
    await page.fill("#login-name", name)
    await page.fill("#login-password", "not it at all")
    await page.click("#login-submit")
    await expect(page.get_by_test_id("admin-login-error")).to_have_text("wrong name or password")
    await page.fill("#login-name", name)
    await page.fill("#login-password", PASSWORD)
    await page.click("#login-submit")
    await expect(page.get_by_test_id("admin-who")).to_have_text(f"{name} (admin)")
    rows = page.get_by_test_id("audit-table").locator("tbody tr")
    await expect(rows).to_have_count(2)
    await expect(rows.first).to_have_attribute("data-action", "admin.login")
    await expect(rows.nth(1)).to_contain_text("127.0.0.1 (anonymous)")
    await page.get_by_test_id("audit-actor").fill(name)
    await page.get_by_role("button", name="Show").click()
    await expect(rows).to_have_count(1)
    await page.get_by_test_id("audit-actor").fill("")
    await page.get_by_test_id("audit-target").fill(f"admin:{name}")
    await page.get_by_role("button", name="Show").click()
    await expect(rows).to_have_count(2)
    assert await page.evaluate("document.cookie") == "", "the session cookie is HttpOnly"
    await page.reload()
    await expect(page.get_by_test_id("admin-who")).to_have_text(f"{name} (admin)")
    await page.get_by_test_id("admin-logout").click()
    await expect(page.get_by_test_id("admin-login")).to_be_visible()
    await page.reload()
    await expect(page.get_by_test_id("admin-login")).to_be_visible()
    assert page.js_errors == []


async def test_a_chat_moderator_signs_in_with_their_chat_account_and_sees_no_admin_tab(browser, server):
    claims = {"sub": "u-mo", "name": "mo", "roles": ["moderator"], "exp": int(time.time()) + 600}
    async with ChatClient.connect(f"ws://127.0.0.1:{server.port}/ws") as client:
        token = (await client.identify(app_token=jwt.encode(claims, APP_SECRET, algorithm="HS256")))["token"]
    page = await admin_page(browser, server)
    await expect(page.get_by_test_id("admin-login")).to_be_visible()
    await expect(page.get_by_test_id("admin-chat-login")).to_be_hidden()  # not signed in to the chat here
    # Kept as the chat page keeps it (static/persist.js).
    await page.evaluate("(t) => localStorage.setItem('chatd.token', JSON.stringify(t))", token)
    await page.reload()
    await page.get_by_test_id("admin-chat-login").click()
    await expect(page.get_by_test_id("admin-who")).to_have_text("mo (moderator)")
    await expect(page.locator("#tabs button[data-tab='audit']")).to_have_count(0)
    assert page.js_errors == []

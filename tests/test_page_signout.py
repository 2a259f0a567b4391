"""Signing out on the page, in a real Chromium against a real server: the
name menu, "Sign out" (this browser, all its tabs) and "Sign out
everywhere" (every device online at that moment too); what was signed out
is refused by the server and forgotten by the browser."""

from __future__ import annotations

from typing import Any

from playwright.async_api import Page, expect

from chatd.server import Server
from tests.test_page import messages, open_tab, send
from tests.wsclient import ChatClient

STORED = "Object.fromEntries(Object.entries(localStorage).filter(([k]) => k.startsWith('chatd.')))"


async def token_of(page: Page) -> str:
    return await page.evaluate("JSON.parse(localStorage.getItem('chatd.token'))")


async def refusal(server: Server, token: str) -> dict[str, Any]:
    async with ChatClient.connect(f"ws://127.0.0.1:{server.port}/ws") as client:
        return await client.identify(token=token)


async def choose(page: Page, item: str, confirm: bool = True) -> None:
    """Open the name menu and pick ``item`` (a test id), answering the confirmation."""
    page.once("dialog", lambda dialog: dialog.accept() if confirm else dialog.dismiss())
    await page.get_by_test_id("me").click()
    await page.get_by_test_id(item).click()


async def expect_signed_out(page: Page) -> None:
    """Back at the name form, with nothing of the user left in the page or the browser."""
    await expect(page.get_by_test_id("name-input")).to_be_visible()
    await expect(page.get_by_test_id("name-input")).to_have_value("")
    await expect(page.get_by_test_id("me")).to_be_hidden()
    await expect(messages(page)).to_have_count(0)
    assert await page.evaluate(STORED) == {}
    assert await page.evaluate("Object.keys(sessionStorage).filter((k) => k.startsWith('chatd.'))") == []


async def test_the_name_menu_works_from_the_keyboard_and_a_dismissed_sign_out_does_nothing(browser, page_url):
    alice = await open_tab(browser, page_url, "alice")
    me = alice.get_by_test_id("me")
    await expect(me).to_have_attribute("aria-expanded", "false")
    await me.focus()
    await alice.keyboard.press("Enter")
    await expect(alice.get_by_role("menu")).to_be_visible()
    await expect(alice.get_by_test_id("menu-settings")).to_be_focused()
    await alice.keyboard.press("ArrowDown")
    await expect(alice.get_by_test_id("menu-rename")).to_be_focused()
    await alice.keyboard.press("ArrowDown")
    await expect(alice.get_by_test_id("sign-out")).to_be_focused()
    for _ in range(3):  # up past the first item: round to the last
        await alice.keyboard.press("ArrowUp")
    await expect(alice.get_by_test_id("sign-out-everywhere")).to_be_focused()
    await alice.keyboard.press("Escape")
    await expect(alice.get_by_role("menu")).to_be_hidden()
    await expect(me).to_be_focused()
    await expect(me).to_have_attribute("aria-expanded", "false")
    await choose(alice, "sign-out", confirm=False)
    await send(alice, "still signed in")
    await expect(messages(alice).last).to_contain_text("still signed in")
    await expect(alice.get_by_test_id("conn-state")).to_have_attribute("data-state", "online")
    await choose(alice, "menu-rename")
    await expect(alice.get_by_test_id("name-input")).to_have_value("alice")
    assert not alice.js_errors


async def test_sign_out_ends_this_browsers_token_in_every_tab_and_forgets_the_user(browser, page_url, server):
    alice = await open_tab(browser, page_url, "alice")
    await send(alice, "hello")
    await expect(messages(alice)).to_have_count(1)
    tab = await alice.context.new_page()  # a second tab of the same browser
    tab_errors: list[str] = []
    tab.on("pageerror", lambda e: tab_errors.append(str(e)))
    await tab.goto(page_url)
    await expect(tab.get_by_test_id("conn-state")).to_have_attribute("data-state", "online")
    token = await token_of(alice)

    await choose(alice, "sign-out")
    await expect_signed_out(alice)
    await expect_signed_out(tab)  # closed by the server (4401), then forgot too
    refused = await refusal(server, token)
    assert refused["code"] == "bad_token" and refused["message"] == "this sign-in was signed out", refused
    await alice.get_by_test_id("name-input").fill("alice2")
    await alice.get_by_test_id("name-submit").click()
    await expect(alice.get_by_test_id("me")).to_have_text("alice2")  # a new user, from scratch
    assert not alice.js_errors and not tab_errors


async def test_sign_out_everywhere_ends_the_user_on_every_device_online_at_that_moment(browser, page_url,
                                                                                         server):
    laptop = await open_tab(browser, page_url, "alice")
    laptop_token = await token_of(laptop)
    # A phone signed in as alice in another way (a token of before sign-ins, say): a sign-in of its own.
    claim = server.chat.tokens.verify(laptop_token)
    other = await server.store.sign_ins.ensure(claim.user_id, None, legacy="phone")
    phone_token = server.chat.tokens.issue(claim.user_id, claim.epoch, other.id, claim.generation)
    phone = await (await browser.new_context()).new_page()
    phone_errors: list[str] = []
    phone.on("pageerror", lambda e: phone_errors.append(str(e)))
    await phone.goto(page_url)
    await phone.evaluate("(token) => localStorage.setItem('chatd.token', JSON.stringify(token))", phone_token)
    await phone.reload()
    await expect(phone.get_by_test_id("me")).to_have_text("alice")
    await expect(phone.get_by_test_id("conn-state")).to_have_attribute("data-state", "online")
    bob = await open_tab(browser, page_url, "bob")

    await choose(laptop, "sign-out-everywhere")
    await expect_signed_out(laptop)
    await expect_signed_out(phone)
    for token in (laptop_token, phone_token):
        refused = await refusal(server, token)
        assert refused["code"] == "bad_token" and "signed out everywhere" in refused["message"], refused
    await send(bob, "bob carries on")
    await expect(messages(bob).last).to_contain_text("bob carries on")
    assert not laptop.js_errors and not phone_errors and not bob.js_errors

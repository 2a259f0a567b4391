"""The page in a real Chromium (Debian's, driven by Playwright) against a
real server: what a person does with two tabs."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not shutil.which("chromium"), reason="bash .ci/run installs Debian's chromium")
# Flags as the machine's docs advise: no sandbox as root, nothing reaching out to the network.
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield browser
        await browser.close()


@pytest.fixture
def page_url(server) -> str:
    return f"http://127.0.0.1:{server.port}/"


async def open_tab(browser: Browser, url: str, name: str, room: str | None = "lobby") -> Page:
    """A fresh browser profile (its own localStorage), signed in as ``name``, in ``room``."""
    context = await browser.new_context()
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.js_errors = errors
    await page.goto(url)
    await page.get_by_test_id("name-input").fill(name)
    await page.get_by_test_id("name-submit").click()
    await expect(page.get_by_test_id("conn-state")).to_have_attribute("data-state", "online")
    if room:
        await page.get_by_test_id(f"room-{room}").click()
        await expect(page.get_by_test_id("room-title")).to_contain_text(room)
    return page


async def send(page: Page, text: str) -> None:
    await page.get_by_test_id("composer").fill(text)
    await page.get_by_test_id("composer").press("Enter")


def messages(page: Page):
    return page.get_by_test_id("messages").get_by_test_id("message")


async def test_two_tabs_chat_through_the_page(browser, page_url):
    alice = await open_tab(browser, page_url, "alice")
    bob = await open_tab(browser, page_url, "bob")
    await expect(alice.get_by_test_id("member-bob")).to_be_visible()
    await send(alice, "hello bob")
    await expect(messages(bob).last).to_contain_text("hello bob")
    await expect(messages(bob).last).to_contain_text("alice")
    await send(bob, "hi alice")
    await expect(messages(alice).last).to_contain_text("hi alice")
    await expect(messages(alice)).to_have_count(2)
    assert not alice.js_errors and not bob.js_errors


async def test_message_text_is_rendered_as_text_never_html(browser, page_url):
    alice = await open_tab(browser, page_url, "alice")
    bob = await open_tab(browser, page_url, "bob")
    attack = '<img src=x onerror="window.pwned=1"><b>bold</b>'
    await send(alice, attack)
    await expect(messages(bob).last).to_contain_text(attack)
    assert await messages(bob).last.locator("img, b").count() == 0
    assert await bob.evaluate("window.pwned") is None


async def test_reconnect_resumes_without_loss_or_duplicates(browser, page_url, server):
    alice = await open_tab(browser, page_url, "alice")
    bob = await open_tab(browser, page_url, "bob")
    await send(bob, "before")
    await expect(messages(alice)).to_have_count(1)
    for sock in [s for s in server.sockets if s.session.user and s.session.user.name == "alice"]:
        sock.abort()  # the network drops alice's connection
    await expect(alice.get_by_test_id("conn-state")).not_to_have_attribute("data-state", "online")
    await send(bob, "while you were away")
    await expect(alice.get_by_test_id("conn-state")).to_have_attribute("data-state", "online", timeout=15_000)
    await send(bob, "after")
    await expect(messages(alice)).to_have_count(3)
    texts = await messages(alice).all_inner_texts()
    assert ["before" in texts[0], "while you were away" in texts[1], "after" in texts[2]] == [True] * 3


async def test_name_is_remembered_across_reloads(browser, page_url):
    alice = await open_tab(browser, page_url, "alice")
    await send(alice, "remember me")
    await expect(messages(alice)).to_have_count(1)
    await alice.reload()
    await expect(alice.get_by_test_id("conn-state")).to_have_attribute("data-state", "online")
    await expect(alice.get_by_test_id("name-input")).to_be_hidden()
    await alice.get_by_test_id("room-lobby").click()
    await expect(messages(alice).last).to_contain_text("remember me")


async def test_private_conversation_from_the_member_list(browser, page_url):
    alice = await open_tab(browser, page_url, "alice")
    bob = await open_tab(browser, page_url, "bob")
    carol = await open_tab(browser, page_url, "carol")
    await alice.get_by_test_id("member-bob").click()
    await send(alice, "just for bob")
    await expect(alice.get_by_test_id("room-title")).to_contain_text("bob")
    # bob opens the conversation from his member list and finds it there
    await bob.get_by_test_id("member-alice").click()
    await expect(messages(bob).last).to_contain_text("just for bob")
    await send(carol, "public")
    await expect(messages(carol)).to_have_count(1)
    await expect(messages(carol).last).to_contain_text("public")


async def test_create_and_switch_rooms(browser, page_url):
    alice = await open_tab(browser, page_url, "alice")
    await alice.get_by_test_id("new-room").fill("games")
    await alice.get_by_test_id("create-room").click()
    await alice.get_by_test_id("room-games").click()
    await expect(alice.get_by_test_id("room-title")).to_contain_text("games")
    await send(alice, "in games")
    await expect(messages(alice).last).to_contain_text("in games")
    await alice.get_by_test_id("room-lobby").click()
    await expect(messages(alice)).to_have_count(0)


async def test_a_page_open_through_a_restore_shows_the_restored_history(browser, chatd_daemon):
    """docs/operations.md, "Backups": the page was open before the database was
    rolled back; afterwards it shows what the restored database holds, not a mix."""
    d = chatd_daemon
    d.config["listen"] = f"127.0.0.1:{d.port}"  # the pages reconnect to the same address
    d.write_config()
    url = f"http://127.0.0.1:{d.port}/"
    alice = await open_tab(browser, url, "alice")
    await send(alice, "kept")
    await expect(messages(alice)).to_have_count(1)
    assert (await asyncio.to_thread(d.cli, "backup", str(d.dir / "backup.db"))).returncode == 0
    mallory = await open_tab(browser, url, "mallory")
    await send(mallory, "gone with the restore")
    await mallory.get_by_test_id("member-alice").click()
    await send(mallory, "a private word, gone too")
    await expect(messages(alice)).to_have_count(2)
    await expect(alice.get_by_test_id("conversation-mallory")).to_be_visible()

    for step in (("stop",), ("restore", str(d.dir / "backup.db"))):
        result = await asyncio.to_thread(d.cli, *step)
        assert result.returncode == 0, result.stderr
    assert (await asyncio.to_thread(d.start)).returncode == 0

    # The page's backoff brings it back; alice is in the backup, so her token still holds.
    await expect(alice.get_by_test_id("conn-state")).to_have_attribute("data-state", "online", timeout=30_000)
    await expect(alice.get_by_test_id("room-title")).to_contain_text("lobby")
    await expect(messages(alice)).to_have_count(1)
    await expect(messages(alice).first).to_contain_text("kept")
    await expect(alice.get_by_test_id("conversation-mallory")).to_have_count(0)
    # Mallory signed up after the backup: her page asks for a name and says why.
    await expect(mallory.locator("#name-error")).to_contain_text("restored", timeout=30_000)
    await send(alice, "after the restore")
    await expect(messages(alice)).to_have_count(2)
    texts = await messages(alice).all_inner_texts()
    assert "kept" in texts[0] and "after the restore" in texts[1]
    assert not alice.js_errors and not mallory.js_errors

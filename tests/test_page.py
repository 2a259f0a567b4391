"""The page in a real Chromium (Debian's, driven by Playwright) against a
real server: what a person does with two tabs."""

from __future__ import annotations

import re
import shutil
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

import chatd.web
from chatd.protocol import CloseCode
from chatd.server import Server
from chatd.web.assets import load_assets
from tests.conftest import make_config

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


# Records every Content-Security-Policy violation the page causes; runs before the page's own scripts.
RECORD_VIOLATIONS = """window.violations = [];
document.addEventListener('securitypolicyviolation',
  e => window.violations.push(e.effectiveDirective + ' ' + e.blockedURI));"""


async def test_the_page_works_under_its_content_security_policy(browser, page_url, server):
    context = await browser.new_context()
    page = await context.new_page()
    await page.add_init_script(RECORD_VIOLATIONS)
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text))
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    response = await page.goto(page_url)
    assert "connect-src 'self'" in response.headers["content-security-policy"]
    await page.get_by_test_id("name-input").fill("alice")
    await page.get_by_test_id("name-submit").click()
    await expect(page.get_by_test_id("conn-state")).to_have_attribute("data-state", "online")
    await page.get_by_test_id("room-lobby").click()
    await send(page, "under the policy")
    await expect(messages(page).last).to_contain_text("under the policy")
    assert await page.evaluate("window.violations") == []
    assert not [m for m in console if "Content Security Policy" in m], console
    # Every file came from the versioned directory, the modules the page imports included.
    files = [u for u in requested if "/static/" in u]
    assert len(files) > 10 and all(re.search(r"/static/[0-9a-f]{16}/[a-z-]+\.(js|css)$", u) for u in files), files
    # A WebSocket to any other host is refused by the browser before it leaves.
    other = f"ws://127.0.0.2:{server.port}/ws"
    await page.evaluate("url => { try { new WebSocket(url); } catch (e) {} }", other)
    await page.wait_for_function("window.violations.length > 0")
    assert await page.evaluate("window.violations") == [f"connect-src {other}"]


async def test_an_open_tab_moves_to_the_new_version_after_an_upgrade_and_keeps_its_draft(browser, tmp_path,
                                                                                          monkeypatch):
    """The tab was loaded before the upgrade; after the restart it must not go on running the old modules."""
    old_server = Server(make_config(tmp_path))
    await old_server.start()
    port = old_server.port
    alice = await open_tab(browser, f"http://127.0.0.1:{port}/", "alice")
    entry = "document.querySelector('script[type=module]').src"
    old_entry = await alice.evaluate(entry)
    await alice.get_by_test_id("composer").fill("half written")
    release_2 = tmp_path / "static"  # the same files, one of them changed: a new version
    shutil.copytree(chatd.web.STATIC_DIR, release_2)
    (release_2 / "style.css").write_text((release_2 / "style.css").read_text() + "\n/* release 2 */\n")
    monkeypatch.setattr(chatd.web, "STATIC_DIR", release_2)
    new_server = Server(make_config(tmp_path, listen=f"127.0.0.1:{port}"))
    try:
        async with alice.expect_event("load", timeout=20_000):  # the tab reloads itself
            await old_server.stop(CloseCode.SERVICE_RESTART, timeout=5)
            await new_server.start()
        new_entry = await alice.evaluate(entry)
        assert new_entry != old_entry and "/static/" + load_assets(release_2).version + "/app.js" in new_entry
        await expect(alice.get_by_test_id("conn-state")).to_have_attribute("data-state", "online")
        await expect(alice.get_by_test_id("composer")).to_have_value("half written")
        assert not alice.js_errors
    finally:
        await new_server.stop(timeout=5)

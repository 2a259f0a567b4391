"""The page in a real Chromium (Debian's, driven by Playwright) against a
real server: what a person does with two tabs."""

from __future__ import annotations

import asyncio
import json
import re
import shutil

import pytest
from playwright.async_api import Browser, Page, expect

import chatd.web
from chatd.protocol.codes import CloseCode
from chatd.server import Server
from chatd.store import WriterClosed
from chatd.web.assets import load_assets
from tests.conftest import make_config

pytestmark = pytest.mark.skipif(not shutil.which("chromium"), reason="bash .ci/run installs Debian's chromium")


async def open_tab(browser: Browser, url: str, name: str, room: str | None = "lobby", **context_options) -> Page:
    """A fresh browser profile (its own localStorage), signed in as ``name``, in ``room``;
    ``context_options`` for Playwright's new_context (viewport, locale, timezone_id…)."""
    context = await browser.new_context(**context_options)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.js_errors = errors
    sent: list[str] = []  # every frame the page sent, across reloads
    page.on("websocket", lambda ws: ws.on("framesent", lambda payload: sent.append(payload)))
    page.sent_frames = sent
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


async def gate_websockets(target, refusing: bool = False) -> dict[str, bool]:
    """Route the /ws connections of ``target`` (a Page or a BrowserContext) through a gate; → the
    gate: while its ``"on"`` is True, new connections are refused before they reach chatd."""
    gate = {"on": refusing}

    async def route(ws) -> None:
        if gate["on"]:
            await ws.close()
        else:
            ws.connect_to_server()

    await target.route_web_socket("**/ws", route)
    return gate


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
    # Every state the indicator shows, recorded as it changes: the page is offline
    # for only about a second, which polling from here could miss on a busy machine.
    await alice.get_by_test_id("conn-state").evaluate("""el => {
        window.connStates = [];
        window.wentOffline = new Promise(resolve => new MutationObserver(() => {
            window.connStates.push(el.dataset.state);
            if (el.dataset.state !== "online") resolve();
        }).observe(el, {attributes: true, attributeFilter: ["data-state"]}));
    }""")
    for sock in [s for s in server.sockets if s.session.user and s.session.user.name == "alice"]:
        sock.abort()  # the network drops alice's connection
    async with asyncio.timeout(20):
        await alice.evaluate("() => window.wentOffline")
    await send(bob, "while you were away")
    await expect(alice.get_by_test_id("conn-state")).to_have_attribute("data-state", "online")
    assert (await alice.evaluate("window.connStates"))[-1] == "online"
    await send(bob, "after")
    await expect(messages(alice)).to_have_count(3)
    texts = await messages(alice).all_inner_texts()
    assert ["before" in texts[0], "while you were away" in texts[1], "after" in texts[2]] == [True] * 3


async def test_the_page_says_connecting_not_offline_before_its_first_connection(browser, page_url):
    context = await browser.new_context(locale="zh-CN")
    page = await context.new_page()
    await page.goto(page_url)  # a first visit: no connection until a name is chosen
    await expect(page.get_by_test_id("name-input")).to_be_visible()
    state = page.get_by_test_id("conn-state")
    await expect(state).to_have_attribute("data-state", "connecting")
    await expect(state).to_have_text("正在连接…")
    await expect(page.locator("#retry-now")).to_be_hidden()
    await page.get_by_test_id("name-input").fill("alice")
    await page.get_by_test_id("name-submit").click()
    await expect(state).to_have_attribute("data-state", "online")
    await context.close()


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
    await alice.get_by_test_id("new-room-toggle").click()
    await alice.get_by_test_id("new-room").fill("games")
    await alice.get_by_test_id("create-room").click()
    await alice.get_by_test_id("room-games").click()
    await expect(alice.get_by_test_id("room-title")).to_contain_text("games")
    await send(alice, "in games")
    await expect(messages(alice).last).to_contain_text("in games")
    await alice.get_by_test_id("room-lobby").click()
    await expect(messages(alice)).to_have_count(0)


def says(page: Page, text: str) -> list[dict]:
    """The say frames the page sent with this text."""
    frames = [json.loads(f) for f in page.sent_frames]
    return [f for f in frames if f.get("type") == "say" and f.get("text") == text]


async def type_raw(page: Page, text: str) -> None:
    """Put text in the composer as a script could (fill() cannot carry a lone surrogate), then send."""
    await page.get_by_test_id("composer").evaluate("(box, text) => { box.value = text; }", text)
    await page.get_by_test_id("composer").press("Enter")


@pytest.mark.parametrize("config_overrides", [{"limits": {"max_text_chars": 12}}])
async def test_refused_message_is_failed_with_the_reason_never_resent_and_can_be_edited(browser, page_url,
                                                                                        config_overrides):
    alice = await open_tab(browser, page_url, "alice")
    await send(alice, "far too long for this server")  # the page allows 4000; this server takes 12: text_too_long
    await type_raw(alice, "bell \x07")  # bad_frame: a control character
    failed = messages(alice).and_(alice.locator("[data-state=failed]"))
    await expect(failed).to_have_count(2)
    await expect(failed.first.get_by_test_id("failed-reason")).to_contain_text("longer than 12 characters")
    await expect(failed.last.get_by_test_id("failed-reason")).to_contain_text("control character U+0007")
    await alice.reload()  # what failed stays failed, shown with its reason, and is not sent again
    await expect(alice.get_by_test_id("conn-state")).to_have_attribute("data-state", "online")
    await alice.get_by_test_id("room-lobby").click()
    await expect(failed).to_have_count(2)
    await expect(failed.first.get_by_test_id("failed-reason")).to_contain_text("longer than 12 characters")
    await send(alice, "after reload")  # goes out after anything the reload would have resent
    await expect(messages(alice).filter(has_text="after reload")).to_have_attribute("data-id", re.compile(r"\d+"))
    assert len(says(alice, "far too long for this server")) == 1 and len(says(alice, "bell \x07")) == 1

    await failed.last.get_by_role("button", name="Delete the unsent message").click()
    await failed.first.get_by_role("button", name="Edit the unsent message").click()
    await expect(failed).to_have_count(0)
    composer = alice.get_by_test_id("composer")
    await expect(composer).to_have_value("far too long for this server")
    await expect(composer).to_be_focused()
    await composer.fill("shorter")
    await composer.press("Enter")
    await expect(messages(alice).last).to_contain_text("shorter")
    await expect(messages(alice).last).to_have_attribute("data-id", re.compile(r"\d+"))
    await alice.reload()  # deleted and edited ones are gone for good
    await expect(alice.get_by_test_id("conn-state")).to_have_attribute("data-state", "online")
    await alice.get_by_test_id("room-lobby").click()
    await expect(messages(alice)).to_have_count(2)
    await expect(failed).to_have_count(0)
    assert not alice.js_errors


async def test_unavailable_is_sent_again_until_stored(browser, page_url, server):
    alice = await open_tab(browser, page_url, "alice")
    save = server.store.save_message
    refusals = []

    def shutting_down_once(draft, done):
        if not refusals:
            refusals.append(draft.cid)
            done(None, WriterClosed("the server is shutting down"))
            return
        save(draft, done)

    server.store.save_message = shutting_down_once
    await send(alice, "try again")
    await expect(messages(alice).last).to_have_attribute("data-id", re.compile(r"\d+"), timeout=15_000)
    assert [f["cid"] for f in says(alice, "try again")] == refusals * 2  # the same cid, twice


async def test_lone_surrogate_in_the_composer_is_sent_as_a_replacement_character(browser, page_url, user):
    bob = await user("bob", "lobby")
    alice = await open_tab(browser, page_url, "alice")
    await type_raw(alice, "half \ud83d emoji")
    await expect(messages(alice).last).to_have_attribute("data-id", re.compile(r"\d+"))
    assert (await bob.expect("message"))["text"] == "half \ufffd emoji"
    assert await messages(alice).last.locator(".msg-text").text_content() == "half \ufffd emoji"
    assert all("\\ud83d" not in frame for frame in alice.sent_frames)


async def test_well_formed_fallback_matches_to_well_formed(browser, page_url):
    alice = await open_tab(browser, page_url, "alice", room=None)
    cases = ["plain", "\ud83d\ude00 pair", "lone \ud83d high", "lone \ude00 low", "\ude00\ud83d reversed", "\ud83d"]
    native, fallback = await alice.evaluate("""async (cases) => {
        const { wellFormed } = await import('./static/wellformed.js');
        const native = cases.map(wellFormed);
        delete String.prototype.toWellFormed;  // an older browser
        return [native, cases.map(wellFormed)];
    }""", cases)
    assert native == fallback == [c.encode("utf-16", "surrogatepass").decode("utf-16", "replace") for c in cases]


async def test_odd_but_well_formed_text_is_shown_exactly(browser, page_url, user):
    alice = await open_tab(browser, page_url, "alice")
    bob = await user("bob", "lobby")
    text = "😀 \U0001F469\u200D\U0001F4BB \uffff\ufffe \U0010ffff \u202eevil\u202c e\u0301\ttab"
    await bob.say("lobby", text)
    await expect(messages(alice)).to_have_count(1)
    assert await messages(alice).last.locator(".msg-text").text_content() == text


DEFAULT_RATES = {"rate_per_second": 10, "rate_burst": 20, "user_rate_per_second": 20, "user_rate_burst": 40}


@pytest.mark.parametrize("config_overrides", [{"limits": DEFAULT_RATES}])
async def test_resume_of_megabytes_catches_up_without_reconnecting(browser, page_url, server, seed, config_overrides):
    """The issue's case: while the page was away, 600 messages of 4,000 emoji
    (9.6 MB) came to its room, and 60 (0.96 MB) to its private messages. It resumes
    page by page (`joined` then `history`; `welcome` then `history`): all shown
    once, in order, and the server never cuts it off, which would show as another
    reconnect. The server's default limits, rates included."""
    alice = await open_tab(browser, page_url, "alice")
    sockets: list = []
    alice.on("websocket", lambda ws: sockets.append(ws))
    alice_id = await alice.evaluate("JSON.parse(localStorage.getItem('chatd.userId'))")
    text = "😀" * 4000
    # Stored but not delivered live (as if sent while alice was away).
    room_ids = await seed(600, text, room="lobby")
    private_ids = await seed(60, text, to=alice_id)
    for sock in [s for s in server.sockets if s.session.user and s.session.user.name == "alice"]:
        sock.abort()  # the network drops alice's connection
    await expect(messages(alice)).to_have_count(600, timeout=30_000)
    shown = [int(i) for i in await messages(alice).evaluate_all("els => els.map(e => e.dataset.id)")]
    assert shown == room_ids
    await alice.get_by_test_id("conversation-seeder-2").click()
    await expect(messages(alice)).to_have_count(60)
    shown = [int(i) for i in await messages(alice).evaluate_all("els => els.map(e => e.dataset.id)")]
    assert shown == private_ids
    await expect(alice.get_by_test_id("conn-state")).to_have_attribute("data-state", "online")
    assert len(sockets) == 1  # the one reconnect the test caused
    assert not alice.js_errors


async def test_room_list_of_many_pages_is_shown_whole(browser, page_url, server):
    topic = "😀" * 200  # 400 rooms with the longest topics: about 340 KB of room list, two pages
    names = [f"room{i:03d}" for i in range(400)]
    room_ids = await asyncio.gather(*[server.store.create_room(name, topic) for name in names])
    for room_id, name in zip(room_ids, names, strict=True):
        server.hub.add_room(room_id, name, topic)  # as `create` does
    alice = await open_tab(browser, page_url, "alice")
    await expect(alice.locator("#room-list button")).to_have_count(401)
    await expect(alice.get_by_test_id("room-room399")).to_be_visible()
    assert not alice.js_errors


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
    # i18n/: the catalogues; vendor/: libraries copied from npm (static/vendor/README.md); icons/: the app's icons
    served = re.compile(r"/static/[0-9a-f]{16}/(i18n/|vendor/|icons/)?[a-zA-Z0-9.-]+\.(m?js|css|json|png|webmanifest)$")
    assert len(files) > 10 and all(served.search(u) for u in files), files
    # A WebSocket to any other host is refused by the browser before it leaves.
    other = f"ws://127.0.0.2:{server.port}/ws"
    await page.evaluate("url => { try { new WebSocket(url); } catch (e) {} }", other)
    # Not wait_for_function with a string: once polling, Playwright evals it, which this CSP refuses.
    await page.evaluate("""() => window.violations.length > 0 || new Promise(resolve =>
        document.addEventListener("securitypolicyviolation", () => resolve(true), {once: true}))""")
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
        version = load_assets(release_2, skip=(chatd.web.ADMIN_DIR,)).version
        assert new_entry != old_entry and "/static/" + version + "/app.js" in new_entry
        await expect(alice.get_by_test_id("conn-state")).to_have_attribute("data-state", "online")
        await expect(alice.get_by_test_id("composer")).to_have_value("half written")
        assert not alice.js_errors
    finally:
        await new_server.stop(timeout=5)

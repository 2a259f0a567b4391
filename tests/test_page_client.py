"""chatd-client.js, the public browser client, and what a web app does with
chatd's page, in a real Chromium against a real server: a page of another
origin imports the client and chats; the handoff of an app token in the
fragment; a kick through the HTTP API."""

from __future__ import annotations

import base64
import re
import secrets
import socket
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import jwt
import pytest
import tornado.httpserver
import tornado.web
from playwright.async_api import expect

from chatd.server import Server
from tests.apiclient import api_call, api_key
from tests.conftest import make_config, until
from tests.test_page import messages, open_tab, send
from tests.wsclient import ChatClient

APP_SECRET = secrets.token_urlsafe(48)  # the tiny web app's signing key, shared with chatd
TOKEN_LIFETIME_S = 300


@pytest.fixture
def config_overrides() -> dict:
    return {"app_tokens": {"secret": APP_SECRET}}


def app_token(sub: str, name: str, lifetime: float = TOKEN_LIFETIME_S, secret: str = APP_SECRET) -> str:
    """A JWT as the web app signs it for one of its users."""
    return jwt.encode({"sub": sub, "name": name, "exp": int(time.time() + lifetime)}, secret, algorithm="HS256")


# The third-party page: imports the client from chatd (another origin), chats under a guest
# name in lobby, and shows what it gets as <li> items; window.imported tells how the import went.
APP_PAGE = """<!doctype html><meta charset="utf-8"><title>app</title><ul id="got"></ul>
<script type="module">
window.imported = import("{chatd}/static/chatd-client.js").then((m) => {{
  const chat = m.connect({{ name: "carol" }});
  chat.on("message", ({{ message }}) => {{
    const li = document.createElement("li");
    li.textContent = message.from.name + ": " + message.text;
    document.getElementById("got").append(li);
  }});
  window.chat = chat;
  window.joined = chat.join("lobby");
  return "ok";
}}, (err) => "failed: " + err);
// The WebSocket rule on its own, without the module: does a handshake from this origin open?
window.socketOpens = new Promise((resolve) => {{
  const ws = new WebSocket("{ws}");
  ws.onopen = () => {{ ws.close(); resolve(true); }};
  ws.onerror = () => resolve(false);
}});
</script>"""


@pytest.fixture
async def app_site(server: Server) -> AsyncIterator[Callable[[], str]]:
    """A second origin (another port) serving APP_PAGE; → its origin."""
    chatd = f"http://127.0.0.1:{server.port}"
    body = APP_PAGE.format(chatd=chatd, ws=f"ws://127.0.0.1:{server.port}/ws")

    class AppPage(tornado.web.RequestHandler):
        def get(self) -> None:
            self.write(body)

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    sock.setblocking(False)
    http = tornado.httpserver.HTTPServer(tornado.web.Application([(r"/", AppPage)]))
    http.add_sockets([sock])
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    http.stop()
    await http.close_all_connections()


def allow(server: Server, tmp_path: Path, *origins: str) -> None:
    server.reload(make_config(tmp_path, allowed_origins=list(origins), app_tokens={"secret": APP_SECRET}))


async def test_a_page_of_an_allowed_origin_imports_the_client_and_chats(browser, server, page_url, app_site,
                                                                        tmp_path):
    allow(server, tmp_path, app_site)
    alice = await open_tab(browser, page_url, "alice")
    app = await (await browser.new_context()).new_page()
    await app.goto(app_site + "/")
    assert await app.evaluate("window.imported") == "ok"
    assert await app.evaluate("window.socketOpens") is True
    await app.evaluate("window.joined")
    await expect(alice.get_by_test_id("member-carol")).to_be_visible()
    await app.evaluate("window.chat.say({room: 'lobby', text: 'hello from the app'})")
    await expect(messages(alice).last).to_contain_text("hello from the app")
    await send(alice, "hi carol")
    await expect(app.locator("#got li").last).to_have_text("alice: hi carol")


async def test_an_origin_not_allowed_can_neither_import_the_client_nor_connect(browser, server, app_site):
    app = await (await browser.new_context()).new_page()
    await app.goto(app_site + "/")
    assert (await app.evaluate("window.imported")).startswith("failed")
    assert await app.evaluate("window.socketOpens") is False
    assert not server.sockets


async def test_the_handoff_signs_in_with_the_app_token_and_clears_it_from_the_address_bar(browser, page_url,
                                                                                         server):
    token = app_token("u-42", "dora")
    pages = []
    for _ in range(2):  # two devices of one app user: one chatd user
        page = await (await browser.new_context()).new_page()
        sent: list[str] = []
        page.on("websocket", lambda ws, sent=sent: ws.on("framesent", lambda payload: sent.append(payload)))
        await page.goto(page_url + "#app_token=" + token)
        await expect(page.get_by_test_id("conn-state")).to_have_attribute("data-state", "online")
        await expect(page.get_by_test_id("me")).to_have_text("dora")
        # gone from the address bar (and so from bookmarks and the history); the room's address took its place
        assert "app_token" not in page.url and await page.evaluate("location.hash") == "#/r/lobby"
        assert any('"app_token"' in frame for frame in sent)
        stored = await page.evaluate("JSON.stringify(localStorage)")
        assert token not in stored and "chatd.token" in stored  # only chatd's resume token is kept
        pages.append(page)
    ids = [await p.evaluate("JSON.parse(localStorage.getItem('chatd.userId'))") for p in pages]
    assert ids[0] == ids[1]
    # A reload resumes with chatd's token: the app token is not needed (nor sent) again.
    await pages[0].reload()
    await expect(pages[0].get_by_test_id("me")).to_have_text("dora")


@pytest.mark.parametrize(("token", "code"), [
    (lambda: app_token("u-1", "erin", lifetime=-3600), "token_expired"),
    (lambda: app_token("u-1", "erin", secret=secrets.token_urlsafe(48)), "bad_signature"),
    (lambda: "not.a.jwt", "bad_app_token"),
])
async def test_a_refused_app_token_is_explained_with_what_to_do(browser, page_url, token, code):
    page = await (await browser.new_context()).new_page()
    await page.goto(page_url + "#app_token=" + token())
    notice = page.get_by_test_id("notice")
    await expect(notice).to_be_visible()
    await expect(notice).to_contain_text(code)
    await expect(notice).to_contain_text("Go back to the site")
    assert await page.evaluate("location.hash") == ""
    await expect(page.get_by_test_id("conn-state")).to_have_attribute("data-state", "offline")


@pytest.mark.parametrize(("lang", "words"), [("en", "the sign-in link expired 1 hour ago"),
                                             ("zh-CN", "登录链接已在 1小时 前过期")])
async def test_an_expired_app_token_says_how_long_ago_in_the_pages_language(browser, page_url, lang, words):
    page = await (await browser.new_context(locale=lang)).new_page()
    await page.goto(page_url + "#app_token=" + app_token("u-1", "erin", lifetime=-3600))
    await expect(page.get_by_test_id("notice")).to_contain_text(words)


def future_token() -> str:
    """An app token valid from an hour on (``nbf``)."""
    now = int(time.time())
    return jwt.encode({"sub": "u-1", "name": "erin", "nbf": now + 3600, "exp": now + 7200}, APP_SECRET,
                      algorithm="HS256")


# Per language: what the notice says of each refused link, built from the code and its fields.
REFUSED_LINK_WORDS = {
    "en": [(future_token, "the sign-in link is not valid yet: it will be in (59 minutes(, [0-9]+ seconds?)?|1 hour)"),
           (lambda: app_token("u-1", "erin", secret=secrets.token_urlsafe(48)),
            "the sign-in link was signed with another key, or changed on the way"),
           (lambda: "not.a.jwt", "the sign-in link is damaged: it holds no readable sign-in")],
    "zh-CN": [(future_token, "登录链接尚未生效：将在 (59分钟([0-9]+秒钟?)?|1小时) 后生效"),
              (lambda: app_token("u-1", "erin", secret=secrets.token_urlsafe(48)),
               "登录链接由其他密钥签名，或在途中被改动"),
              (lambda: "not.a.jwt", "登录链接已损坏：其中没有可读的登录信息")],
}


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
async def test_a_refused_link_is_worded_from_its_code_and_fields_in_the_pages_language(browser, page_url, lang):
    for token, words in REFUSED_LINK_WORDS[lang]:
        page = await (await browser.new_context(locale=lang)).new_page()
        await page.goto(page_url + "#app_token=" + token())
        notice = page.get_by_test_id("notice")
        await expect(notice).to_contain_text(re.compile(words))
        if lang != "en":
            assert not re.search("app token|JWT|does not verify|valid yet|[a-z]{3,} [a-z]{3,}",
                                 await notice.inner_text()), "no English of the server's"


async def test_a_kicked_page_shows_the_reason_and_stays_disconnected(browser, page_url, server):
    alice = await open_tab(browser, page_url, "alice")
    key = api_key(server, "manage")
    user_id = await alice.evaluate("JSON.parse(localStorage.getItem('chatd.userId'))")
    status, _, _ = await api_call(server, "POST", f"/users/{user_id}/disconnect", {"reason": "account suspended"},
                                  key=key)
    assert status == 200
    notice = alice.get_by_test_id("notice")
    await expect(notice).to_contain_text("account suspended")
    shown = await notice.bounding_box()
    for part in (alice.get_by_test_id("room-lobby"), alice.locator("#members-heading")):
        below = await part.bounding_box()  # pushed down by the notice, not hidden under it
        assert below["y"] >= shown["y"] + shown["height"], await part.text_content()
    # "offline", not "reconnecting": no retry is scheduled, and no "Reconnect now" countdown either.
    await expect(alice.get_by_test_id("conn-state")).to_have_attribute("data-state", "offline")
    await expect(alice.locator("#retry-now")).to_be_hidden()
    await until(lambda: not [s for s in server.sockets if s.session.user and s.session.user.id == user_id],
                what="alice's sessions closed")
    await alice.get_by_test_id("notice-action").click()  # "Reconnect": the user's choice
    await expect(alice.get_by_test_id("conn-state")).to_have_attribute("data-state", "online")
    await expect(notice).to_be_hidden()


@pytest.mark.parametrize("config_overrides", [{"history": {"replay_max": 2}}])
async def test_a_resume_cut_short_is_filled_in_order_without_loss_or_repeats(browser, page_url, server, ws_url):
    alice = await open_tab(browser, page_url, "alice")
    await send(alice, "before")
    await expect(messages(alice)).to_have_count(1)
    # Offline as far as the browser knows: the client waits for the network before reconnecting.
    await alice.context.set_offline(True)
    for sock in [s for s in server.sockets if s.session.user and s.session.user.name == "alice"]:
        sock.abort()
    await expect(alice.get_by_test_id("conn-state")).to_have_attribute("data-state", "offline")
    async with ChatClient.connect(ws_url) as bob:
        await bob.enter("lobby", name="bob")
        for n in range(7):  # more than replay_max: the join replays 2, history brings the rest
            await bob.say("lobby", f"missed {n}")
        await alice.context.set_offline(False)
        await expect(alice.get_by_test_id("conn-state")).to_have_attribute("data-state", "online")
        await expect(messages(alice)).to_have_count(8)
        await bob.say("lobby", "live")
    await expect(messages(alice)).to_have_count(9)
    texts = [t.split("\n")[-1] for t in await messages(alice).all_inner_texts()]
    assert texts == ["before", *[f"missed {n}" for n in range(7)], "live"]
    assert any('"type":"history"' in f and '"after"' in f for f in alice.sent_frames)  # the gap was fetched


AVATAR = "https://cdn.example.com/u/7.png"
PIXEL = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6"
                         "kgAAAABJRU5ErkJggg==")  # a 1x1 PNG


@pytest.mark.parametrize("config_overrides", [{"app_tokens": {"secret": APP_SECRET},
                                               "identity": {"avatar_hosts": ["cdn.example.com"]}}])
async def test_an_avatar_is_shown_only_when_the_server_sends_it_and_with_no_referrer(browser, page_url):
    token = jwt.encode({"sub": "u-7", "name": "fay", "avatar": AVATAR, "exp": int(time.time() + TOKEN_LIFETIME_S)},
                       APP_SECRET, algorithm="HS256")
    alice = await open_tab(browser, page_url, "alice")
    # The avatar host, played by the browser: no network in the tests. Reaching it at all
    # shows the page's Content-Security-Policy admits the host.
    asked: list[dict[str, str]] = []

    async def avatar_host(route):
        asked.append(route.request.headers)
        await route.fulfill(body=PIXEL, content_type="image/png")

    await alice.context.route("https://cdn.example.com/**", avatar_host)
    fay = await (await browser.new_context()).new_page()
    await fay.goto(page_url + "#app_token=" + token)
    await expect(fay.get_by_test_id("me")).to_have_text("fay")
    await fay.get_by_test_id("room-lobby").click()
    face = alice.get_by_test_id("member-fay").get_by_test_id("avatar")
    await expect(face).to_have_attribute("src", AVATAR)
    await expect(face).to_have_attribute("alt", "")  # the name next to it says who it is
    await alice.wait_for_function("() => { const img = document.querySelector('[data-testid=member-fay] img');"
                                  " return img && img.complete && img.naturalWidth > 0; }")
    assert asked and all("referer" not in headers for headers in asked)  # the host learns nothing of the page
    await expect(alice.get_by_test_id("member-alice").get_by_test_id("avatar")).to_have_count(0)  # a guest: none


async def test_notifications_show_as_toasts_and_stored_ones_are_not_shown_twice(browser, page_url, server):
    alice = await open_tab(browser, page_url, "alice")
    user_id = await alice.evaluate("JSON.parse(localStorage.getItem('chatd.userId'))")
    key = api_key(server, "publish")
    event = {"to": user_id, "name": "order.shipped", "data": {"order": 1042}, "store": True}
    assert (await api_call(server, "POST", "/events", event, key=key))[0] == 200
    await expect(alice.get_by_test_id("toast").filter(has_text="order.shipped")).to_be_visible()
    await expect(alice.get_by_test_id("notification")).to_have_count(1)
    context = alice.context
    await alice.close()
    # Gone from the server first: an event sent while the page is closing may reach it live (and count as seen).
    await until(lambda: user_id not in server.chat.hub.users, what="alice's page gone")
    later = {**event, "name": "order.delivered"}
    assert (await api_call(server, "POST", "/events", later, key=key))[0] == 200  # while alice is away
    again = await context.new_page()
    sent: list[str] = []
    again.on("websocket", lambda ws: ws.on("framesent", lambda payload: sent.append(payload)))
    await again.goto(page_url)
    await expect(again.get_by_test_id("toast").filter(has_text="order.delivered")).to_be_visible()
    await expect(again.get_by_test_id("notification")).to_have_count(1)  # the first one is not replayed
    assert any('"events_since":1' in frame for frame in sent)


async def test_a_members_only_room_shows_a_lock_and_a_removed_member_is_told_and_taken_out(browser, page_url,
                                                                                          server):
    dora = await (await browser.new_context()).new_page()
    await dora.goto(page_url + "#app_token=" + app_token("u-9", "dora"))
    await expect(dora.get_by_test_id("me")).to_have_text("dora")
    key = api_key(server, "manage")
    room = {"name": "team-7", "topic": "Team 7", "members_only": True}
    assert (await api_call(server, "POST", "/rooms", room, key=key))[0] == 201
    assert (await api_call(server, "POST", "/rooms/team-7/members", {"subs": ["u-9"]}, key=key))[0] == 200
    await expect(dora.get_by_test_id("room-team-7").get_by_test_id("members-only")).to_be_visible()
    await dora.get_by_test_id("room-team-7").click()
    await expect(dora.get_by_test_id("room-title").get_by_test_id("members-only")).to_be_visible()
    await expect(dora.get_by_test_id("members").get_by_test_id("member-dora")).to_be_visible()
    removal = {"subs": ["u-9"]}
    assert (await api_call(server, "POST", "/rooms/team-7/members/remove", removal, key=key))[0] == 200
    await expect(dora.get_by_test_id("toast").filter(has_text="removed from #")).to_be_visible()
    await expect(dora.get_by_test_id("room-title")).not_to_contain_text("team-7")
    await expect(dora.get_by_test_id("room-team-7")).to_have_count(0)  # not even listed any more

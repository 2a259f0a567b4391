"""What the chat page tells a punished or refused user, in Chromium, in English and in Chinese alike:
each sentence is built from the frame's fields (docs/protocol.md, "error", "kicked"), so both
languages carry the same information — the room, the time left, the moderator's or operator's
reason as given (user text, isolated as names are), whose name a name or room name looks like — and
no English of the server's shows inside a Chinese sentence."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Page, expect

from chatd.protocol.codes import REACTIONS_PER_MESSAGE, REACTIONS_PER_USER
from chatd.server import Server
from tests.adminclient import ROOT
from tests.test_page import open_tab, send

# User text as the page shows it inside its own sentences: between Unicode isolates.
FSI, PDI = "\u2068", "\u2069"
LANGUAGES = ["en", "zh-CN"]
# Per language: the page's words (regular expressions) for what each test checks.
WORDS = {
    "en": {
        "muted_room": (f"you are muted in #{FSI}lobby{PDI} for (10 minutes|9 minutes, [0-9]+ seconds): "
                       f"{FSI}calm down 冷静{PDI}"),
        "muted_everywhere": f"you are muted everywhere until a moderator unmutes you: {FSI}flooding{PDI}",
        "reserved": f"the name {FSI}SuperAdmin{PDI} is reserved on this server: {FSI}staff only{PDI}; choose another",
        "kicked_reason": re.escape(f"A moderator disconnected you: {FSI}go cool off{PDI}. "
                                   "The page will not reconnect by itself."),
        "kicked": re.escape("A moderator disconnected you. The page will not reconnect by itself."),
        "announcement": re.escape(f"Only moderators and admins post in #{FSI}news{PDI}."),
        "name_like": re.escape(f"the name {FSI}M\u0430rk{PDI} looks like {FSI}Mark{PDI}, who is online"),
        "room_like": re.escape(f"room #{FSI}l\u043ebby{PDI} looks like the room #{FSI}lobby{PDI}, "
                               "which exists already"),
        "no_room": re.escape(f"there is no room #{FSI}nowhere{PDI}"),
        "recipient_deleted": re.escape("This account was deleted: messages no longer reach it."),
        "bad_name": re.escape("name contains U+202E RIGHT-TO-LEFT OVERRIDE, a bidirectional control, which could "
                              "reverse the text around the name"),
        "bad_room": re.escape("room name contains U+0020 SPACE: room names hold only letters (with their marks), "
                              "digits, '_', '-' and '.'") + "$",
        "room_start": re.escape("room name starts with U+002D HYPHEN-MINUS: a room name must start with a letter "
                                "or digit"),
        "create_off": re.escape("this server does not let users create rooms"),
        "room_length": re.escape("room name must be 1 to 32 characters"),
    },
    "zh-CN": {
        "muted_room": f"你在 #{FSI}lobby{PDI} 被禁言，还剩 (10分钟|9分钟[0-9]+秒钟?)：{FSI}calm down 冷静{PDI}",
        "muted_everywhere": f"你在所有房间和私信中被禁言，直到版主解除禁言：{FSI}flooding{PDI}",
        "reserved": f"名字 {FSI}SuperAdmin{PDI} 在此服务器上被保留：{FSI}staff only{PDI}。请换一个",
        "kicked_reason": re.escape(f"版主断开了你的连接：{FSI}go cool off{PDI}。页面不会自动重新连接。"),
        "kicked": re.escape("版主断开了你的连接。页面不会自动重新连接。"),
        "announcement": re.escape(f"只有版主和管理员可以在 #{FSI}news{PDI} 发言。"),
        "name_like": re.escape(f"名字 {FSI}M\u0430rk{PDI} 与在线用户 {FSI}Mark{PDI} 的名字相似"),
        "room_like": re.escape(f"房间名 #{FSI}l\u043ebby{PDI} 与已存在的房间 #{FSI}lobby{PDI} 相似"),
        "no_room": re.escape(f"没有名为 #{FSI}nowhere{PDI} 的房间"),
        "recipient_deleted": re.escape("此账号已被删除：消息无法再送达。"),
        "bad_name": re.escape("名字含有 U+202E RIGHT-TO-LEFT OVERRIDE，这是双向控制字符，可能使名字周围的文字反向显示"),
        "bad_room": re.escape("房间名含有 U+0020 SPACE：房间名只能包含字母（及其附加符号）、数字、“_”、“-”和“.”") + "$",
        "room_start": re.escape("房间名以 U+002D HYPHEN-MINUS 开头：房间名必须以字母或数字开头"),
        "create_off": re.escape("此服务器不允许用户创建房间"),
        "room_length": re.escape("房间名必须为 1 到 32 个字符"),
    },
}


async def user_id(page: Page) -> int:
    return await page.evaluate("JSON.parse(localStorage.getItem('chatd.userId'))")


@pytest.mark.parametrize("lang", LANGUAGES)
async def test_a_muted_user_is_told_where_for_how_long_and_why(browser, page_url, server: Server, lang):
    bob = await open_tab(browser, page_url, "bob", locale=lang)
    uid = await user_id(bob)
    await server.chat.moderation.mute(ROOT, uid, "lobby", 600, "calm down 冷静")
    await send(bob, "can I talk?")
    await expect(bob.get_by_test_id("failed-reason")).to_have_text(re.compile(WORDS[lang]["muted_room"]))
    await expect(bob.locator("#toasts")).to_contain_text(re.compile(WORDS[lang]["muted_room"]))

    await server.chat.moderation.unmute(ROOT, uid, "lobby")
    await server.chat.moderation.mute(ROOT, uid, None, None, "flooding")  # everywhere, until unmuted
    await send(bob, "and now?")
    failed = bob.get_by_test_id("failed-reason")
    await expect(failed).to_have_count(2)
    await expect(failed.last).to_have_text(re.compile(WORDS[lang]["muted_everywhere"]))
    assert not bob.js_errors


@pytest.mark.parametrize("lang", LANGUAGES)
async def test_a_reserved_name_is_refused_with_the_operators_reason(browser, page_url, server: Server, lang):
    await server.chat.room_care.reserve(ROOT, "SuperAdmin", "user", "staff only")
    page = await (await browser.new_context(locale=lang)).new_page()
    await page.goto(page_url)
    await page.get_by_test_id("name-input").fill("SuperAdmin")
    await page.get_by_test_id("name-submit").click()
    await expect(page.locator("#name-error")).to_have_text(re.compile(WORDS[lang]["reserved"]))


@pytest.mark.parametrize("lang", LANGUAGES)
async def test_a_name_like_one_online_is_refused_naming_whose(browser, page_url, lang):
    await open_tab(browser, page_url, "Mark", room=None)
    page = await (await browser.new_context(locale=lang)).new_page()
    await page.goto(page_url)
    await page.get_by_test_id("name-input").fill("M\u0430rk")  # a Cyrillic а
    await page.get_by_test_id("name-submit").click()
    await expect(page.locator("#name-error")).to_have_text(re.compile(WORDS[lang]["name_like"]))


@pytest.mark.parametrize("lang", LANGUAGES)
async def test_a_room_name_like_one_that_exists_is_refused_naming_it(browser, page_url, lang):
    alice = await open_tab(browser, page_url, "alice", room=None, locale=lang)
    await alice.get_by_test_id("new-room-toggle").click()
    await alice.get_by_test_id("new-room").fill("l\u043ebby")  # a Cyrillic о
    await alice.get_by_test_id("create-room").click()
    await expect(alice.locator("#create-error")).to_have_text(re.compile(WORDS[lang]["room_like"]))


@pytest.mark.parametrize("lang", LANGUAGES)
async def test_a_link_to_a_room_that_does_not_exist_names_it(browser, page_url, lang):
    alice = await open_tab(browser, page_url, "alice", locale=lang)  # in lobby: the page has settled
    await alice.goto(page_url + "#/r/nowhere")
    await expect(alice.locator("#toasts")).to_contain_text(re.compile(WORDS[lang]["no_room"]))


@pytest.mark.parametrize("lang", LANGUAGES)
async def test_a_kicked_user_is_told_who_and_why_in_its_language(browser, page_url, server: Server, lang):
    bob = await open_tab(browser, page_url, "bob", locale=lang)
    uid = await user_id(bob)
    notice = bob.locator("#notice-text")
    await server.chat.moderation.kick(ROOT, uid, "go cool off")
    await expect(notice).to_have_text(re.compile(WORDS[lang]["kicked_reason"]))
    await bob.get_by_test_id("notice-action").click()  # back, when bob says so
    await expect(bob.get_by_test_id("conn-state")).to_have_attribute("data-state", "online")
    await server.chat.moderation.kick(ROOT, uid)  # no reason: the server's default words are English
    await expect(notice).to_have_text(re.compile(WORDS[lang]["kicked"]))
    assert not bob.js_errors


async def test_an_announcement_room_says_moderators_post_there_in_both_languages(browser, page_url,
                                                                                   server: Server):
    await server.chat.room_care.create(ROOT, "news", announcement=True)
    for lang in LANGUAGES:  # the same: moderators and admins post there, not only admins
        page = await open_tab(browser, page_url, f"bob-{lang}", room="news", locale=lang)
        await expect(page.get_by_test_id("composer-note")).to_have_text(re.compile(WORDS[lang]["announcement"]))


@pytest.mark.parametrize("lang", LANGUAGES)
async def test_a_private_message_to_a_deleted_user_fails_saying_so(browser, page_url, server: Server, lang):
    alice = await open_tab(browser, page_url, "alice", locale=lang)
    bob = await open_tab(browser, page_url, "bob")
    await alice.get_by_test_id("member-bob").click()
    await server.chat.user_care.delete(ROOT, await user_id(bob))
    await send(alice, "are you still there?")
    await expect(alice.get_by_test_id("failed-reason")).to_have_text(re.compile(WORDS[lang]["recipient_deleted"]))
    assert not alice.js_errors


@pytest.mark.parametrize("lang", LANGUAGES)
async def test_a_bad_user_or_room_name_is_refused_naming_the_character_or_rule(browser, page_url, lang):
    page = await (await browser.new_context(locale=lang)).new_page()
    await page.goto(page_url)
    await page.get_by_test_id("name-input").fill("bob\u202e")
    await page.get_by_test_id("name-submit").click()
    await expect(page.locator("#name-error")).to_have_text(re.compile(WORDS[lang]["bad_name"]))

    alice = await open_tab(browser, page_url, "alice", room=None, locale=lang)
    await alice.get_by_test_id("new-room-toggle").click()
    await alice.get_by_test_id("new-room").fill("tea room")
    await alice.get_by_test_id("create-room").click()
    await expect(alice.locator("#create-error")).to_have_text(re.compile(WORDS[lang]["bad_room"]))
    # A name too long is refused saying the limit: the field does not cut it to one that is created.
    await alice.get_by_test_id("new-room").fill("r" * 60)
    await alice.get_by_test_id("create-room").click()
    await expect(alice.locator("#create-error")).to_have_text(re.compile(WORDS[lang]["room_length"]))
    await expect(alice.locator("#room-list")).not_to_contain_text("r" * 32)
    # A character a room name may hold, but not first: the place is the fault, and the words say so.
    await alice.get_by_test_id("new-room").fill("-tea")
    await alice.get_by_test_id("create-room").click()
    await expect(alice.locator("#create-error")).to_have_text(re.compile(WORDS[lang]["room_start"]))


@pytest.mark.parametrize("config_overrides", [{"rooms": {"allow_create": False}}])
@pytest.mark.parametrize("lang", LANGUAGES)
async def test_a_forbidden_request_says_why_in_the_pages_language(browser, page_url, lang, config_overrides):
    """The ``forbidden`` frame's ``reason``, worded by the page: not the code's bare "not allowed"."""
    alice = await open_tab(browser, page_url, "alice", room=None, locale=lang)
    await alice.get_by_test_id("new-room-toggle").click()
    await alice.get_by_test_id("new-room").fill("tea")
    await alice.get_by_test_id("create-room").click()
    await expect(alice.locator("#create-error")).to_have_text(re.compile(WORDS[lang]["create_off"]))


UPLOAD_WORDS = {
    "en": {"too_large": r"the file is 2.9 KB; files of at most 2 KB are accepted",
           "just_over": r"the file is 2.01 KB; files of at most 2 KB are accepted",
           "quota": r"your files take 29 KB of your 29.3 KB; this one does not fit",
           "type": r"this kind of file is not accepted \(by its content\); accepted: image/png, text/plain"},
    "zh-CN": {"too_large": r"文件大小为 2.9 KB；最多接受 2 KB 的文件",
              "just_over": r"文件大小为 2.01 KB；最多接受 2 KB 的文件",
              "quota": r"你的文件已占用 29 KB（共 29.3 KB）；放不下这个文件",
              "type": r"不接受这种类型的文件（按其内容判断）；接受的类型：image/png, text/plain"},
}


@pytest.mark.parametrize("config_overrides", [{"uploads": {"max_bytes": 2048, "types": ["image/png", "text/plain"]}}])
@pytest.mark.parametrize("lang", LANGUAGES)
async def test_a_refused_upload_names_the_size_limit_or_the_kinds_accepted(browser, page_url, lang,
                                                                          config_overrides):
    from tests.test_uploads import ELF

    alice = await open_tab(browser, page_url, "alice", locale=lang)
    await alice.get_by_test_id("attach-input").set_input_files(
        [{"name": "big.txt", "mimeType": "text/plain", "buffer": b"x" * 3000}])
    failed = alice.locator("[data-state=failed]")
    await expect(failed).to_contain_text(re.compile(UPLOAD_WORDS[lang]["too_large"]))
    await failed.get_by_test_id("upload-remove").click()
    # Just over: the figures that round alike ("2 KB"; "2 KB") get decimals enough to differ.
    await alice.get_by_test_id("attach-input").set_input_files(
        [{"name": "big.txt", "mimeType": "text/plain", "buffer": b"x" * 2060}])
    await expect(failed).to_contain_text(re.compile(UPLOAD_WORDS[lang]["just_over"]))
    await failed.get_by_test_id("upload-remove").click()
    await alice.get_by_test_id("attach-input").set_input_files(
        [{"name": "tool.png", "mimeType": "image/png", "buffer": ELF}])
    await expect(failed).to_contain_text(re.compile(UPLOAD_WORDS[lang]["type"]))
    assert not alice.js_errors


@pytest.mark.parametrize("config_overrides", [{"uploads": {"max_bytes": 30_000, "quota_bytes": 30_000,
                                                            "types": ["text/plain"]}}])
@pytest.mark.parametrize("lang", LANGUAGES)
async def test_a_refused_upload_past_the_quota_shows_figures_that_differ(browser, page_url, lang, config_overrides):
    alice = await open_tab(browser, page_url, "alice", locale=lang)
    attach = alice.get_by_test_id("attach-input")
    await attach.set_input_files([{"name": "most.txt", "mimeType": "text/plain", "buffer": b"x" * 29_700}])
    await expect(alice.locator("[data-state=done]")).to_have_count(1)
    await attach.set_input_files([{"name": "more.txt", "mimeType": "text/plain", "buffer": b"x" * 1000}])
    # 29,700 and 30,000 bytes are both "29 KB" rounded: one decimal more tells them apart.
    await expect(alice.locator("[data-state=failed]")).to_contain_text(re.compile(UPLOAD_WORDS[lang]["quota"]))
    assert not alice.js_errors


@pytest.mark.parametrize("config_overrides", [{"limits": {"max_text_chars": 12}}])
@pytest.mark.parametrize("lang", LANGUAGES)
async def test_a_message_too_long_names_the_limit(browser, page_url, lang, config_overrides):
    alice = await open_tab(browser, page_url, "alice", locale=lang)
    await send(alice, "far too long for this server")  # the page allows 4000; this server takes 12
    words = {"en": "message text is longer than 12 characters", "zh-CN": "消息超过了 12 个字符"}[lang]
    await expect(alice.get_by_test_id("failed-reason")).to_contain_text(words)


REACTION_WORDS = {
    "en": re.escape("this message has as many different emoji as it can take (20); "
                    "you can still add one already given"),
    "zh-CN": re.escape("这条消息的不同表情已达上限（20 种）；仍可添加已有的表情"),
}


@pytest.mark.parametrize("lang", LANGUAGES)
async def test_too_many_reactions_says_which_cap_it_hit(browser, page_url, user, lang):
    from tests.test_page import messages
    from tests.test_reactions import EMOJI

    alice = await open_tab(browser, page_url, "alice", locale=lang)
    bob, carol = await user("bob", "lobby"), await user("carol", "lobby")
    sent = await bob.say("lobby", "vote")
    for i, emoji in enumerate(EMOJI[:REACTIONS_PER_MESSAGE]):  # 10 each: the message's 20 different emoji
        assert (await (bob if i < REACTIONS_PER_USER else carol).request("react", id=sent["id"], emoji=emoji))[
            "type"] == "done"
    vote = messages(alice).filter(has_text="vote")
    await expect(vote.get_by_test_id("reaction")).to_have_count(REACTIONS_PER_MESSAGE)
    await vote.get_by_test_id("react-message").click()
    await vote.get_by_test_id("react-more").click()
    await alice.get_by_test_id("emoji-search").fill("cat")
    await alice.get_by_test_id("emoji-grid").locator("[data-emoji='🐱']").click()  # a 21st: the message's cap
    await expect(alice.locator("#toasts")).to_contain_text(re.compile(REACTION_WORDS[lang]))
    assert not alice.js_errors

"""How messages look on the page (static/message-item.js, body.js, markup.js, links.js,
messages-view.js): links that open safely in a new tab, a small markup built as elements,
long messages folded, day separators in the reader's language, and one header for a run of
messages from the same author."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from playwright.async_api import expect

from chatd.store.schema import Message
from tests.test_page import messages, open_tab, send

DESKTOP = {"viewport": {"width": 1440, "height": 900}}
PHONE = {"viewport": {"width": 390, "height": 844}, "reduced_motion": "reduce"}
REL = "noopener noreferrer nofollow"
THUMBS_UP = "👍\ufe0f"  # as emojibase has it: fully qualified, with its variation selector
ZONE = "Asia/Shanghai"  # no daylight saving: a day is always 24 hours there

# [text, the tree markup.js makes of it]; see static/markup.js for the rules.
PARSED = [
    ("plain", [{"type": "paragraph", "inline": [{"type": "text", "text": "plain"}]}]),
    ("**b** *i* _i_ snake_case_name __init__ 2 * 3", [{"type": "paragraph", "inline": [
        {"type": "bold", "children": [{"type": "text", "text": "b"}]}, {"type": "text", "text": " "},
        {"type": "italic", "children": [{"type": "text", "text": "i"}]}, {"type": "text", "text": " "},
        {"type": "italic", "children": [{"type": "text", "text": "i"}]},
        {"type": "text", "text": " snake_case_name __init__ 2 * 3"}]}]),
    ("`**no** https://a.com` **`yes`**", [{"type": "paragraph", "inline": [
        {"type": "code", "text": "**no** https://a.com"}, {"type": "text", "text": " "},
        {"type": "bold", "children": [{"type": "code", "text": "yes"}]}]}]),
    ("**https://a.com/x_y_z** _www.b.org_", [{"type": "paragraph", "inline": [
        {"type": "bold", "children": [{"type": "link", "text": "https://a.com/x_y_z", "href": "https://a.com/x_y_z"}]},
        {"type": "text", "text": " "},
        {"type": "italic", "children": [{"type": "link", "text": "www.b.org", "href": "http://www.b.org/"}]}]}]),
    ("> said **so**\n> twice\nreply", [
        {"type": "quote", "inline": [{"type": "text", "text": "said "},
                                     {"type": "bold", "children": [{"type": "text", "text": "so"}]},
                                     {"type": "text", "text": "\ntwice"}]},
        {"type": "paragraph", "inline": [{"type": "text", "text": "reply"}]}]),
    ("run:\n```\n**x** <b> https://a.com\n```\ndone", [
        {"type": "paragraph", "inline": [{"type": "text", "text": "run:"}]},
        {"type": "code", "text": "**x** <b> https://a.com"},
        {"type": "paragraph", "inline": [{"type": "text", "text": "done"}]}]),
    ("unclosed **b and ``` and `", [{"type": "paragraph", "inline": [
        {"type": "text", "text": "unclosed **b and ``` and `"}]}]),
    # A fence is a run of three or more backticks up to the next run of the same length; one that
    # no run closes stays as typed (not a run of empty blocks cut from it three at a time).
    ("`" * 100, [{"type": "paragraph", "inline": [{"type": "text", "text": "`" * 100}]}]),
    ("````\nkeeps ``` inside\n```` then `" + "`" * 6, [
        {"type": "code", "text": "keeps ``` inside"},
        {"type": "paragraph", "inline": [{"type": "text", "text": " then " + "`" * 7}]}]),
    ("javascript:alert(1) data:text/html,x //evil.org ftp://a.org notes.md bob@example.com",
     [{"type": "paragraph", "inline": [
         {"type": "text", "text": "javascript:alert(1) data:text/html,x //evil.org ftp://a.org notes.md "},
         {"type": "link", "text": "bob@example.com", "href": "mailto:bob@example.com"}]}]),
    ("看这个https://a.com很好，邮件bob@a.com。", [{"type": "paragraph", "inline": [
        {"type": "text", "text": "看这个"}, {"type": "link", "text": "https://a.com", "href": "https://a.com/"},
        {"type": "text", "text": "很好，邮件"}, {"type": "link", "text": "bob@a.com", "href": "mailto:bob@a.com"},
        {"type": "text", "text": "。"}]}]),
    # A host that could pass for another (a Cyrillic а in "pаypal") shows in the punycode its href opens;
    # Hangul, like Han and kana, shows as written; Latin with accents, a look-alike risk, does not.
    ("https://p\u0430ypal.com/login bob@\u0430\u0440\u0440\u04cf\u0435.com https://한국.kr/ https://münchen.de", [
        {"type": "paragraph", "inline": [
            {"type": "link", "text": "https://xn--pypal-4ve.com/login", "href": "https://xn--pypal-4ve.com/login"},
            {"type": "text", "text": " "},
            {"type": "link", "text": "bob@xn--80ak6aa92e.com", "href": "mailto:bob@%D0%B0%D1%80%D1%80%D3%8F%D0%B5.com"},
            {"type": "text", "text": " "},
            {"type": "link", "text": "https://한국.kr/", "href": "https://xn--3e0b707e.kr/"},
            {"type": "text", "text": " "},
            {"type": "link", "text": "https://xn--mnchen-3ya.de", "href": "https://xn--mnchen-3ya.de/"}]}]),
    ("中文**粗体**和*斜体*", [{"type": "paragraph", "inline": [
        {"type": "text", "text": "中文"}, {"type": "bold", "children": [{"type": "text", "text": "粗体"}]},
        {"type": "text", "text": "和"}, {"type": "italic", "children": [{"type": "text", "text": "斜体"}]}]}]),
]


async def on_phone(browser, page_url, name: str, **options):
    """A tab at phone size, signed in as ``name``: its first visit opens lobby (the sidebar is a drawer there)."""
    page = await open_tab(browser, page_url, name, room=None, **PHONE, **options)
    await expect(page.get_by_test_id("room-title")).to_contain_text("lobby")
    return page


async def test_markup_is_parsed_into_marks_links_and_literal_code(browser, page_url):
    page = await browser.new_page()
    await page.goto(page_url)
    parsed = await page.evaluate("""async (texts) => {
        const { parseMarkup } = await import('./static/markup.js');
        return texts.map(parseMarkup);
    }""", [text for text, _ in PARSED])
    assert parsed == [tree for _, tree in PARSED]


async def test_links_markup_and_a_folded_long_message(browser, page_url, user):
    bob = await user("bob", "lobby")
    alice = await open_tab(browser, page_url, "alice", **DESKTOP)
    phone = await on_phone(browser, page_url, "carol")
    own = f"{page_url}healthz"
    await bob.say("lobby", f"see {own} and **bold www.example.org** *it* `**code** {own}` "
                           "javascript:alert(1) [x](javascript:alert(1)) mail bob@example.com\n"
                           "> quoted **b**\n```\n**raw** <b>x</b>\n```")
    for page in (alice, phone):
        item = messages(page).last
        await expect(item.locator("a")).to_have_count(3)
        links = await item.locator("a").evaluate_all(
            "(as) => as.map((a) => [a.getAttribute('href'), a.target, a.rel, a.textContent])")
        assert links == [[own, "_blank", REL, own], ["http://www.example.org/", "_blank", REL, "www.example.org"],
                         ["mailto:bob@example.com", "_blank", REL, "bob@example.com"]]
        await expect(item.locator("strong a")).to_have_text("www.example.org")
        await expect(item.locator("em")).to_have_text("it")
        await expect(item.locator("p code")).to_have_text(f"**code** {own}")
        await expect(item.locator("blockquote strong")).to_have_text("b")
        await expect(item.locator("pre code")).to_have_text("**raw** <b>x</b>")
        assert await item.locator("b, [href^=javascript], [href^=data]").count() == 0
    # A link opens in a new tab that cannot reach back into the chat (noopener).
    async with alice.context.expect_page() as opened:
        await messages(alice).last.locator("a").first.click()
    tab = await opened.value
    await expect(tab).to_have_url(own)
    assert await tab.evaluate("window.opener") is None

    # A legal 4,000-character message of newlines is folded to about a screen, opened by keyboard.
    await bob.say("lobby", "tall\n" + "\n" * 3990 + "end")
    for page, height in ((alice, 900), (phone, 844)):
        item = messages(page).last
        toggle = item.get_by_test_id("fold-toggle")
        await expect(toggle).to_be_visible()
        await expect(toggle).to_have_attribute("aria-expanded", "false")
        assert (await item.bounding_box())["height"] < 1.5 * height
        await toggle.focus()
        top = (await item.bounding_box())["y"]
        await page.keyboard.press("Enter")
        await expect(toggle).to_have_attribute("aria-expanded", "true")
        assert (await item.bounding_box())["height"] > 10 * height
        # It unfolds downwards from where the reader is: the list does not run on to its end (scroll-anchor.js).
        await page.evaluate("() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))")
        assert abs((await item.bounding_box())["y"] - top) <= 1
        await page.keyboard.press("Enter")
        await expect(toggle).to_have_attribute("aria-expanded", "false")
        # A short message has no toggle.
        assert await messages(page).first.get_by_test_id("fold-toggle").count() == 0
    assert not alice.js_errors and not phone.js_errors


async def test_days_are_separated_and_runs_of_one_author_share_a_header(browser, page_url, server, seed):
    midnight = datetime.now(ZoneInfo(ZONE)).replace(hour=0, minute=0, second=0, microsecond=0)
    ms = lambda when: int(when.timestamp() * 1000)  # noqa: E731
    days_ago = midnight - timedelta(days=3) + timedelta(hours=10)
    # [ids of one author, their times]: grouped when within 5 minutes, on the same day.
    runs = [(await seed(2, "three days ago", room="lobby"), [days_ago, days_ago + timedelta(minutes=1)]),
            (await seed(1, "last night", room="lobby"), [midnight - timedelta(hours=1)]),
            (await seed(3, "this morning", room="lobby"),
             [midnight + timedelta(minutes=m) for m in (1, 2, 12)])]
    times = {i: ms(when) for ids, whens in runs for i, when in zip(ids, whens, strict=True)}
    await server.store.writer.run(lambda: [
        Message.update(ts=ts).where(Message.id == i).execute(server.store.db) for i, ts in times.items()])

    alice = await open_tab(browser, page_url, "alice", timezone_id=ZONE, **DESKTOP)
    phone = await on_phone(browser, page_url, "carol", timezone_id=ZONE, locale="zh-CN")
    for text in ("mine", "mine again"):
        await alice.get_by_test_id("composer").fill(text)
        await alice.get_by_test_id("composer").press("Enter")
    for page, today, yesterday in ((alice, "Today", "Yesterday"), (phone, "今天", "昨天")):
        await expect(messages(page)).to_have_count(8)
        separators = page.get_by_test_id("day-separator")
        await expect(separators).to_have_count(3)
        await expect(separators.nth(1)).to_have_text(yesterday)
        await expect(separators.nth(2)).to_have_text(today)
        assert await separators.first.locator("time").get_attribute("datetime") == days_ago.date().isoformat()
        assert days_ago.strftime("%d").lstrip("0") in await separators.first.text_content()
        await expect(messages(page).nth(7)).to_have_class("msg own grouped" if page is alice else "msg grouped")
        grouped = await messages(page).evaluate_all("(lis) => lis.map((li) => li.classList.contains('grouped'))")
        assert grouped == [False, True, False, False, True, False, False, True]
        # The separators come right before the first message of each day.
        order = await page.get_by_test_id("messages").evaluate(
            "(ol) => [...ol.children].map((li) => li.dataset.testid === 'day-separator' ? 'day' : 'msg')")
        assert order == ["day", "msg", "msg", "day", "msg", "day", "msg", "msg", "msg", "msg", "msg"]
        # A grouped message shows no name, yet says its full date and time on hover, and its author to a screen reader.
        second = messages(page).nth(1)
        await expect(second.locator(".msg-author")).to_have_text("seeder-1")
        assert (await second.locator(".msg-author").bounding_box())["width"] <= 1
        stamp = second.locator("time")
        assert await stamp.get_attribute("datetime") == datetime.fromtimestamp(
            times[runs[0][0][1]] / 1000, ZoneInfo("UTC")).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        assert str(days_ago.year) in await stamp.get_attribute("title")
    # The rule (grouping.js): same author, at most 5 minutes later; a tombstone or a reply starts anew.
    rules = await alice.evaluate("""async () => {
        const { continuesGroup } = await import('./static/grouping.js');
        const a = { from: { id: 1 }, ts: 0 };
        const later = (ms, more = {}) => ({ from: { id: 1 }, ts: ms, ...more });
        return [continuesGroup(a, later(300000)), continuesGroup(a, later(300001)),
                continuesGroup(a, { from: { id: 2 }, ts: 1 }), continuesGroup({ ...a, deleted: true }, later(1)),
                continuesGroup(a, later(1, { deleted: true })), continuesGroup(a, later(1, { reply_to: { id: 9 } }))];
    }""")
    assert rules == [True, False, False, False, False, False]
    assert not alice.js_errors and not phone.js_errors


async def test_emoji_picker_and_completion_of_shortcodes_and_names(browser, page_url, user):
    bob = await user("bob", "lobby")
    await user("Ana María", "lobby")  # a name with a space is mentioned whole
    alice = await open_tab(browser, page_url, "alice", **DESKTOP)
    phone = await on_phone(browser, page_url, "carol", locale="zh-CN")
    requests: list[str] = []
    for page in (alice, phone):
        page.on("request", lambda r: requests.append(r.url))
    assert not any("emoji" in url for url in requests), "the emoji data waits for the picker's first use"
    box = alice.get_by_test_id("composer")
    panel = alice.get_by_test_id("emoji-panel")

    # The picker: search, then Enter puts the first result at the caret.
    await box.fill("ab")
    await box.evaluate("(box) => box.setSelectionRange(1, 1)")
    await alice.get_by_test_id("emoji-button").click()
    await expect(panel).to_be_visible()
    await expect(alice.get_by_test_id("emoji-search")).to_be_focused()
    await expect(panel.get_by_test_id("emoji-option").first).to_be_visible()  # loaded: the whole grid by group
    await alice.get_by_test_id("emoji-search").fill("thumbs up")
    await expect(panel.get_by_test_id("emoji-option").first).to_have_attribute("data-emoji", THUMBS_UP)
    await alice.keyboard.press("Enter")
    await expect(panel).to_be_hidden()
    await expect(box).to_have_value(f"a{THUMBS_UP}b")
    await expect(box).to_be_focused()
    # Arrow keys move through the grid; Esc closes and gives the box its focus back.
    await alice.get_by_test_id("emoji-button").click()
    await alice.get_by_test_id("emoji-search").fill("cat")
    options = panel.get_by_test_id("emoji-option")
    await expect(options.first).to_have_attribute("data-emoji", re.compile("."))
    await alice.keyboard.press("ArrowDown")
    await expect(options.first).to_be_focused()
    await alice.keyboard.press("ArrowRight")
    await expect(options.nth(1)).to_be_focused()
    await alice.keyboard.press("ArrowLeft")
    await expect(options.first).to_be_focused()
    await alice.keyboard.press("Escape")
    await expect(panel).to_be_hidden()
    await expect(box).to_be_focused()

    # In Chinese: Chinese keywords, the emoji's Chinese name; English keywords still work.
    await phone.get_by_test_id("emoji-button").click()
    await phone.get_by_test_id("emoji-search").fill("笑")
    found = phone.get_by_test_id("emoji-panel").get_by_test_id("emoji-option")
    await expect(found.first).to_have_attribute("aria-label", re.compile(r"[\u4e00-\u9fff]"))
    assert "😀" in await found.evaluate_all("(os) => os.map((o) => o.dataset.emoji)")
    await phone.get_by_test_id("emoji-search").fill("smile")
    await expect(found.first).to_have_attribute("data-emoji", re.compile("."))
    await phone.keyboard.press("Escape")

    # :shortcode: completion: a list as one types, Enter or Tab chooses; a whole :+1: turns into 👍.
    completion = alice.get_by_test_id("completion")
    await box.fill("")
    await box.press_sequentially(":smile")
    await expect(completion.get_by_test_id("completion-option").first).to_contain_text(":smile:")
    await alice.keyboard.press("Enter")
    await expect(completion).to_be_hidden()
    await expect(box).to_have_value("😄")
    await box.press_sequentially(" :joy")
    await expect(completion.get_by_test_id("completion-option").first).to_contain_text(":joy:")
    await alice.keyboard.press("Tab")
    await box.press_sequentially(" :+1:")
    await expect(box).to_have_value(f"😄 😂 {THUMBS_UP}")
    # @name completion from the room's people: the whole name and a space, as the server reads mentions.
    await box.press_sequentially(" @an")
    await expect(completion.get_by_test_id("completion-option")).to_have_text(["@Ana María"])
    await alice.keyboard.press("Enter")
    await box.press_sequentially("and @B")
    await expect(completion.get_by_test_id("completion-option")).to_have_text(["@bob"])
    await alice.keyboard.press("Tab")
    await expect(box).to_have_value(f"😄 😂 {THUMBS_UP} @Ana María and @bob ")
    await box.press_sequentially("hi")
    await alice.keyboard.press("Enter")  # the list is closed: Enter sends
    assert (await bob.expect("message"))["text"] == f"😄 😂 {THUMBS_UP} @Ana María and @bob hi"
    # In a conversation, the other person.
    await alice.get_by_test_id("member-bob").click()
    await expect(alice.get_by_test_id("room-title")).to_contain_text("bob")
    await box.press_sequentially("@")
    await expect(completion.get_by_test_id("completion-option")).to_have_text(["@bob"])
    await alice.keyboard.press("Escape")
    await expect(completion).to_be_hidden()
    origin = page_url.rstrip("/")
    assert [url for url in requests if not url.startswith(origin)] == []
    assert not alice.js_errors and not phone.js_errors


# Whether a message's time, "(edited)" and action buttons cover any of its words or its edit box:
# [the item's index, what is covered] for each such message.
COVERED = """(items) => items.flatMap((li, i) => {
  const meta = [...li.querySelectorAll('.msg-meta time, .msg-actions > *')]
    .map((el) => el.getBoundingClientRect()).filter((r) => r.width && r.height);
  const box = li.querySelector('.msg-edit-box');
  const words = box ? [box.getBoundingClientRect()] : [];
  const walker = document.createTreeWalker(box ? li : li.querySelector('.msg-text'), NodeFilter.SHOW_TEXT);
  for (let text = walker.nextNode(); text && !box; text = walker.nextNode()) {  // each line of words
    const range = document.createRange();
    range.selectNodeContents(text);
    words.push(...range.getClientRects());
  }
  const over = (a, b) => a.left < b.right - 1 && b.left < a.right - 1 && a.top < b.bottom - 1 && b.top < a.bottom - 1;
  return meta.some((m) => words.some((w) => over(m, w))) ? [[i, box ? 'edit box' : 'text']] : [];
})"""


async def test_a_message_s_time_and_actions_never_cover_its_words_or_its_edit_box(browser, page_url, user):
    bob = await user("bob", "lobby")
    alice = await open_tab(browser, page_url, "alice", **DESKTOP)
    phone = await on_phone(browser, page_url, "carol")
    full_width = " ".join(["words that run the whole width of the pane"] * 12)
    await bob.say("lobby", "first")
    await bob.say("lobby", full_width)  # grouped under "first": no header of its own
    await send(alice, "mine")
    await send(alice, full_width)  # grouped, and alice's own: Edit and Delete too
    for page in (alice, phone):
        await expect(messages(page)).to_have_count(4)
        await expect(messages(page).last).to_have_class(re.compile("grouped"))
        for item in (1, 3):  # the time of a grouped message shows on hover (a tap on a phone)
            await messages(page).nth(item).hover()
            assert await messages(page).evaluate_all(COVERED) == []
    await messages(alice).last.get_by_test_id("edit-message").click()
    await expect(alice.get_by_test_id("edit-box")).to_be_focused()
    assert await messages(alice).evaluate_all(COVERED) == []
    assert not alice.js_errors and not phone.js_errors

"""Deep links (static/deep-links.js): the address names the room or conversation
on screen, back and forward move between them, and a link to a message
pasted in another user's browser opens that room at that message."""

from __future__ import annotations

import json
import re

from playwright.async_api import expect

from tests.test_page import messages, open_tab, send


async def test_links_name_what_is_on_screen_and_open_it_for_another_user(browser, page_url):
    alice = await open_tab(browser, page_url, "alice")
    await expect(alice).to_have_url(re.compile(r"#/r/lobby$"))
    await alice.get_by_test_id("new-room-toggle").click()
    await alice.get_by_test_id("new-room").fill("games")
    await alice.get_by_test_id("create-room").click()
    await expect(alice.get_by_test_id("room-title")).to_contain_text("games")
    await expect(alice).to_have_url(re.compile(r"#/r/games$"))
    for n in range(3):
        await send(alice, f"move {n}")
    await expect(messages(alice)).to_have_count(3)
    target = await messages(alice).nth(1).get_attribute("data-id")

    await alice.go_back()  # back to the lobby, forward to games
    await expect(alice.get_by_test_id("room-title")).to_contain_text("lobby")
    await alice.go_forward()
    await expect(alice.get_by_test_id("room-title")).to_contain_text("games")

    # bob, who never was in games, pastes a link to the second message: he joins and sees it highlighted.
    bob = await open_tab(browser, page_url, "bob")
    await bob.goto(f"{page_url}#/r/games/m/{target}")
    await expect(bob.get_by_test_id("room-title")).to_contain_text("games")
    await expect(bob.locator(f'[data-testid=message][data-id="{target}"]')).to_have_class(re.compile("highlight"))
    await expect(bob.get_by_test_id("room-games")).to_have_class(re.compile("joined"))

    # A link to a room that does not exist says so and leaves bob where he was.
    await bob.goto(f"{page_url}#/r/nowhere")
    await expect(bob.locator("#toasts")).to_contain_text("nowhere")
    assert not alice.js_errors and not bob.js_errors


async def test_a_copied_link_to_a_private_message_opens_it_for_the_other_person_only(browser, page_url):
    alice = await open_tab(browser, page_url, "alice", permissions=["clipboard-read", "clipboard-write"])
    bob = await open_tab(browser, page_url, "bob")
    carol = await open_tab(browser, page_url, "carol")
    await alice.get_by_test_id("member-bob").click()
    await send(alice, "the code is 4711")
    said = messages(alice).filter(has_text="the code is 4711")
    await expect(said).to_have_attribute("data-id", re.compile(r"\d+"))
    target = await said.get_attribute("data-id")
    await said.get_by_test_id("copy-link").click()
    await expect(alice.locator("#toasts")).to_contain_text("Link copied")
    link = await alice.evaluate("navigator.clipboard.readText()")
    assert re.fullmatch(rf"{re.escape(page_url)}#/u/\d+\+\d+/m/{target}", link), link

    # bob, at the other end, opens the conversation at that message; carol, who is neither, stays put.
    await bob.goto(link)
    await expect(bob.get_by_test_id("room-title")).to_contain_text("alice")
    await expect(bob.locator(f'[data-testid=message][data-id="{target}"]')).to_have_class(re.compile("highlight"))
    await carol.goto(link)
    await expect(carol.get_by_test_id("conn-state")).to_have_attribute("data-state", "online")
    await expect(carol.get_by_test_id("room-title")).to_contain_text("lobby")
    assert not alice.js_errors and not bob.js_errors and not carol.js_errors


async def test_a_link_to_someone_or_something_not_there_says_so_and_opens_nothing_empty(browser, page_url,
                                                                                       user):
    alice = await open_tab(browser, page_url, "alice")
    alice_id = await alice.evaluate("JSON.parse(localStorage.getItem('chatd.userId'))")
    carol = await user("carol")  # in no room alice's page has seen: her name is unknown to it

    # A user who does not exist: the page says so and stays in the lobby, with no conversation opened.
    await alice.goto(f"{page_url}#/u/99999999")
    await expect(alice.locator("#toasts")).to_contain_text("99999999")
    await expect(alice.get_by_test_id("room-title")).to_contain_text("lobby")
    await expect(alice).to_have_url(re.compile(r"#/r/lobby$"))
    await expect(alice.locator("#conversation-list li")).to_have_count(0)
    # 0 is no user's id (they start at 1): said the same way, not a conversation with "#0".
    await alice.goto(f"{page_url}#/u/0")
    await expect(alice.locator("#toasts")).to_contain_text("There is no user 0.")
    await expect(alice).to_have_url(re.compile(r"#/r/lobby$"))
    await expect(alice.locator("#conversation-list li")).to_have_count(0)
    await alice.evaluate("history.replaceState(null, '', '#/u/0')")
    await alice.reload()  # opened at that address
    await expect(alice.locator("#toasts")).to_contain_text("There is no user 0.")
    await expect(alice.get_by_test_id("room-title")).to_contain_text("lobby")
    await expect(alice).to_have_url(re.compile(r"#/r/lobby$"))
    await expect(alice.locator("#conversation-list li")).to_have_count(0)

    # Someone who exists but whose name the page has not seen yet: their tag, once, until a message names them.
    await alice.goto(f"{page_url}#/u/{carol.welcome['user']['id']}")
    title = alice.get_by_test_id("room-title")
    await expect(title).to_have_text(f"#{carol.welcome['user']['id']}")
    await expect(alice.locator("#messages-note")).to_have_text("No messages yet. Say hello!")
    await carol.request("say", to=alice_id, text="hello alice")
    await expect(messages(alice).last).to_contain_text("hello alice")
    await expect(title).to_have_text(f"carol #{carol.welcome['user']['id']}")

    # A message that is not there: the room opens, and the page says the message is not in it.
    await alice.goto(f"{page_url}#/r/lobby/m/999999999")
    await expect(alice.get_by_test_id("room-title")).to_contain_text("lobby")
    await expect(alice.locator("#toasts")).to_contain_text("There is no message 999999999 in #\u2068lobby\u2069.")
    assert not alice.js_errors


async def far_back(browser, page_url, user, seed, text: str = "the plan, long ago"):
    """alice's tab in the lobby, where bob said `text` long ago: 130 messages since, more than a page
    holds, so the latest page does not hold it, nor the page after it. → (alice, its id, the 130 ids)"""
    bob = await user("bob", "lobby")
    target = (await bob.say("lobby", text))["id"]
    newer = await seed(130, "later chatter", room="lobby")
    alice = await open_tab(browser, page_url, "alice")
    await expect(messages(alice).last).to_contain_text("later chatter")
    assert await alice.locator(f'[data-testid="message"][data-id="{target}"]').count() == 0
    return alice, target, newer


async def test_jump_to_latest_after_a_jump_far_back_shows_the_latest_messages(browser, page_url, user, seed):
    alice, target, newer = await far_back(browser, page_url, user, seed)

    await alice.goto(f"{page_url}#/r/lobby/m/{target}")
    await expect(alice.locator(f'[data-testid=message][data-id="{target}"]')).to_have_class("msg highlight")
    await expect(alice.get_by_test_id("load-newer")).to_be_visible()  # a gap: the latest are not held
    await alice.get_by_test_id("jump-latest").click()

    # The latest messages at the bottom (docs/page.md, "Unread, mentions and typing"), as Back shows
    # them: not merely the next page after the message jumped to.
    await expect(alice.locator(f'[data-testid=message][data-id="{newer[-1]}"]')).to_be_in_viewport()
    await expect(alice.get_by_test_id("jump-latest")).to_be_hidden()
    await expect(alice.get_by_test_id("load-newer")).to_have_count(0)
    ids = [int(i) for i in await messages(alice).evaluate_all("(nodes) => nodes.map((n) => n.dataset.id)")]
    assert ids == sorted(set(ids)) and ids[-1] == newer[-1], "the latest, in order, nothing twice"
    assert not alice.js_errors


async def history_length(page) -> int:
    return await page.evaluate("() => history.length")


async def to_the_bottom(page) -> None:
    """The reader scrolls the message list down to its end."""
    await page.get_by_test_id("messages").evaluate(
        "(list) => { const s = list.parentElement; s.scrollTop = s.scrollHeight; }")


async def test_back_at_the_latest_the_address_names_the_view_again_in_place_of_the_message(
        browser, page_url, user, seed):
    alice, target, newer = await far_back(browser, page_url, user, seed)
    jump_latest, load_newer = alice.get_by_test_id("jump-latest"), alice.get_by_test_id("load-newer")

    async def jump(message_id: int) -> int:
        await alice.goto(f"{page_url}#/r/lobby/m/{message_id}")
        found = alice.locator(f'[data-testid=message][data-id="{message_id}"]')
        await expect(found).to_have_class(re.compile(r"\bhighlight\b"))
        await expect(alice).to_have_url(re.compile(rf"#/r/lobby/m/{message_id}$"))
        return await history_length(alice)

    # Jump to latest: the address is the room's (docs/page.md, "Addresses"), the entry replaced, so a
    # reload opens at the latest, not at the old message.
    entries = await jump(target)
    await jump_latest.click()
    await expect(alice).to_have_url(re.compile(r"#/r/lobby$"))
    assert await history_length(alice) == entries

    # Scrolling down to the latest from a message among them.
    entries = await jump(newer[-30])
    await expect(jump_latest).to_be_visible()
    await to_the_bottom(alice)
    await expect(alice).to_have_url(re.compile(r"#/r/lobby$"))
    assert await history_length(alice) == entries

    # Loading newer messages after a jump far back, at the bottom, until they reach the latest.
    entries = await jump(target)
    while await load_newer.count():
        await to_the_bottom(alice)
        await expect(alice).to_have_url(re.compile(rf"#/r/lobby/m/{target}$"))  # not the latest yet
        await load_newer.click()
        await expect(load_newer.filter(has_text="Loading")).to_have_count(0)
    await expect(alice.locator(f'[data-testid=message][data-id="{newer[-1]}"]')).to_be_in_viewport()
    await expect(alice).to_have_url(re.compile(r"#/r/lobby$"))
    assert await history_length(alice) == entries

    await alice.reload()  # opens the room at its latest, no message highlighted
    await expect(alice.locator(f'[data-testid=message][data-id="{newer[-1]}"]')).to_be_in_viewport()
    await expect(alice.locator(".msg.highlight")).to_have_count(0)
    assert not alice.js_errors


async def test_back_after_a_jump_and_back_at_the_latest_leaves_the_room_at_once(browser, page_url, user,
                                                                               seed):
    # A jump from the lobby, then at the latest again: the history holds the lobby once, so one Back
    # returns to the room before it, whether the jump was an address typed or a search result.
    alice, target, newer = await far_back(browser, page_url, user, seed)
    await alice.get_by_test_id("new-room-toggle").click()
    await alice.get_by_test_id("new-room").fill("games")
    await alice.get_by_test_id("create-room").click()
    await expect(alice).to_have_url(re.compile(r"#/r/games$"))

    async def from_games_to_the_lobby() -> None:
        await alice.get_by_test_id("room-lobby").click()
        await expect(alice).to_have_url(re.compile(r"#/r/lobby$"))

    async def at_the_latest_one_back_shows_games() -> None:
        await expect(alice.locator(f'[data-testid=message][data-id="{target}"]')).to_have_class(
            re.compile(r"\bhighlight\b"))
        await expect(alice).to_have_url(re.compile(rf"#/r/lobby/m/{target}$"))
        await alice.get_by_test_id("jump-latest").click()
        await expect(alice).to_have_url(re.compile(r"#/r/lobby$"))
        await expect(alice.locator(f'[data-testid=message][data-id="{newer[-1]}"]')).to_be_in_viewport()
        await alice.go_back()
        await expect(alice).to_have_url(re.compile(r"#/r/games$"))
        await expect(alice.get_by_test_id("room-title")).to_contain_text("games")

    await from_games_to_the_lobby()
    await alice.goto(f"{page_url}#/r/lobby/m/{target}")  # an address typed
    await at_the_latest_one_back_shows_games()

    await from_games_to_the_lobby()
    await alice.get_by_test_id("search-input").fill("the plan")  # a search result
    await alice.get_by_test_id("search-input").press("Enter")
    await alice.get_by_test_id("search-result").first.click()
    await at_the_latest_one_back_shows_games()

    # Two jumps in a row in the lobby (an address typed, then a search result): still one Back.
    await from_games_to_the_lobby()
    await alice.goto(f"{page_url}#/r/lobby/m/{newer[5]}")
    await expect(alice.locator(f'[data-testid=message][data-id="{newer[5]}"]')).to_have_class(
        re.compile(r"\bhighlight\b"))
    await alice.get_by_test_id("search-input").fill("the plan")
    await alice.get_by_test_id("search-input").press("Enter")
    await alice.get_by_test_id("search-result").first.click()
    await at_the_latest_one_back_shows_games()
    assert not alice.js_errors


async def test_jump_to_latest_while_an_older_page_is_on_its_way_shows_the_latest_not_that_page(
        browser, page_url, user, seed):
    # The reader scrolls up from a message jumped to far back; before the older page comes, Jump to
    # latest. That page, which no longer joins what the view holds, is dropped: the latest show.
    bob = await user("bob", "lobby")
    await seed(60, "long before", room="lobby")
    target = (await bob.say("lobby", "the plan, long ago"))["id"]
    newer = await seed(130, "later chatter", room="lobby")
    alice = await open_tab(browser, page_url, "alice")
    held = {"on": False, "cids": set(), "frames": []}  # replies held back: to `history` before an id

    async def route(ws) -> None:
        held["ws"] = ws
        server = ws.connect_to_server()

        def from_page(message) -> None:
            frame = json.loads(message)
            if held["on"] and frame.get("type") == "history" and "before" in frame:
                held["cids"].add(frame["cid"])
            server.send(message)

        def from_server(message) -> None:
            if json.loads(message).get("cid") in held["cids"]:
                held["frames"].append(message)
            else:
                ws.send(message)

        ws.on_message(from_page)
        server.on_message(from_server)

    await alice.route_web_socket("**/ws", route)
    await alice.reload()  # its connection through the route
    await expect(messages(alice).last).to_contain_text("later chatter")
    await alice.goto(f"{page_url}#/r/lobby/m/{target}")
    await expect(alice.locator(f'[data-testid=message][data-id="{target}"]')).to_have_class(re.compile("highlight"))

    held["on"] = True
    await alice.get_by_test_id("messages").evaluate("(list) => { list.parentElement.scrollTop = 0; }")
    await expect(alice.locator("#load-older")).to_be_disabled()  # the older page asked for, its reply held
    await alice.get_by_test_id("jump-latest").click()
    held["on"] = False
    for frame in held["frames"]:
        held["ws"].send(frame)
    await expect(alice.locator(f'[data-testid=message][data-id="{newer[-1]}"]')).to_be_in_viewport()
    await expect(alice.locator("#load-older")).to_be_enabled()
    shown = await messages(alice).all_text_contents()
    assert held["frames"] and not [text for text in shown if "long before" in text or "long ago" in text], shown
    assert not alice.js_errors

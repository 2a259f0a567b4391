"""Edits, replies and reactions in the chat page, in Chromium, with two users (docs/protocol.md,
"Edits and reactions", "Replies"): an edit made with ↑ shows live and after a reload, a reply
quotes its original and jumps to it, a reaction toggles for both, an own deletion reaches the
other page."""

from __future__ import annotations

import re
import time

import pytest
from playwright.async_api import expect

from tests.conftest import until
from tests.test_page import messages, open_tab, send


async def test_edit_reply_react_and_delete_between_two_users(browser, page_url):
    alice = await open_tab(browser, page_url, "alice")
    bob = await open_tab(browser, page_url, "bob")
    await send(alice, "the meeting is at tree")
    original = messages(bob).filter(has_text="the meeting is at tree")
    await expect(original).to_have_count(1)

    # ↑ in the empty composer edits the last own message in place; Enter saves.
    await alice.get_by_test_id("composer").press("ArrowUp")
    box = alice.get_by_test_id("edit-box")
    await expect(box).to_be_focused()
    await box.fill("the meeting is at three")
    await box.press("Enter")
    await expect(box).to_have_count(0)
    for page in (alice, bob):
        edited = messages(page).filter(has_text="the meeting is at three")
        await expect(edited.get_by_test_id("edited-mark")).to_have_text("(edited)")
        await expect(edited.get_by_test_id("edited-mark")).to_have_attribute("title", re.compile("^Edited "))
    await bob.reload()
    await expect(messages(bob).filter(has_text="the meeting is at three").get_by_test_id("edited-mark")).to_be_visible()

    # Bob replies: the bar over the composer, then the quote, which jumps to the original.
    await messages(bob).filter(has_text="the meeting is at three").get_by_test_id("reply-message").click()
    await expect(bob.get_by_test_id("reply-bar-text")).to_contain_text("Replying to alice")
    await expect(bob.get_by_test_id("composer")).to_be_focused()
    await send(bob, "see you there")
    await expect(bob.get_by_test_id("reply-bar")).to_be_hidden()
    reply = messages(alice).filter(has_text="see you there")
    quote = reply.get_by_test_id("reply-quote")
    await expect(quote).to_contain_text("alice")
    await expect(quote).to_contain_text("the meeting is at three")
    await quote.click()
    await expect(messages(alice).filter(has_text="the meeting is at three").first).to_have_class(
        re.compile("highlight"))

    # Reactions: alice gives 👍 from the quick chooser, bob adds his, alice takes hers back.
    await reply.get_by_test_id("react-message").click()
    await reply.get_by_test_id("react-chooser").locator("[data-emoji='👍']").click()
    thumbs = {page: messages(page).filter(has_text="see you there").locator("[data-testid=reaction][data-emoji='👍']")
              for page in (alice, bob)}
    for page in (alice, bob):
        await expect(thumbs[page]).to_contain_text("1")
    await expect(thumbs[alice]).to_have_attribute("aria-pressed", "true")
    await expect(thumbs[bob]).to_have_attribute("aria-pressed", "false")
    await thumbs[bob].click()
    for page in (alice, bob):
        await expect(thumbs[page]).to_contain_text("2")
        await expect(thumbs[page]).to_have_attribute("title", "\u2068alice\u2069, \u2068bob\u2069")
    await thumbs[alice].click()
    await expect(thumbs[bob]).to_contain_text("1")
    await expect(thumbs[bob]).to_have_attribute("title", "\u2068bob\u2069")
    await bob.reload()
    await expect(thumbs[bob]).to_have_attribute("aria-pressed", "true")

    # Any emoji through the chooser's "more": the whole picker, searched in Chinese; the choice is a
    # reaction (not text in the composer), and the focus goes back to the React button.
    await reply.get_by_test_id("react-message").click()
    await reply.get_by_test_id("react-more").click()
    await alice.get_by_test_id("emoji-search").fill("猫")
    await alice.get_by_test_id("emoji-grid").locator("[data-emoji='🐱']").click()
    for page in (alice, bob):
        await expect(messages(page).filter(has_text="see you there").locator(
            "[data-testid=reaction][data-emoji='🐱']")).to_contain_text("1")
    await expect(alice.get_by_test_id("composer")).to_have_value("")
    await expect(reply.get_by_test_id("react-message")).to_be_focused()

    # Alice edits the original again: bob's reply quotes the new words at once.
    await messages(alice).filter(has_text="the meeting is at three").first.get_by_test_id("edit-message").click()
    # Once focused: the box puts the caret at its end as it takes the focus, which could land inside fill().
    await expect(alice.get_by_test_id("edit-box")).to_be_focused()
    await alice.get_by_test_id("edit-box").fill("the meeting is at four")
    await alice.get_by_test_id("edit-box").press("Enter")
    bobs_quote = messages(bob).filter(has_text="see you there").get_by_test_id("reply-quote")
    await expect(bobs_quote).to_contain_text("the meeting is at four")

    # Alice deletes her own message, asked first in the page (not the browser's confirm()): Esc keeps it,
    # Enter (the focus is on Delete) deletes it. Gone for bob at once, and the reply quotes a deleted
    # message, live and after a reload.
    delete = messages(alice).filter(has_text="the meeting is at four").first.get_by_test_id("delete-own")
    await delete.click()
    confirm = alice.get_by_test_id("confirm-dialog")
    await expect(confirm.get_by_role("heading")).to_have_text("Delete this message for everyone?")
    await expect(alice.locator("#confirm-detail")).to_have_text("\u2068alice\u2069: the meeting is at four")
    await expect(alice.get_by_test_id("confirm-yes")).to_be_focused()
    await alice.keyboard.press("Escape")
    await expect(confirm).to_be_hidden()
    await expect(delete).to_be_focused()  # back where it was
    await expect(bob.locator("[data-testid=message][data-deleted]")).to_have_count(0)
    await delete.click()
    await expect(alice.get_by_test_id("confirm-yes")).to_have_text("Delete")
    await alice.keyboard.press("Enter")
    await expect(bob.locator("[data-testid=message][data-deleted]")).to_have_count(1)
    await expect(bobs_quote).to_have_text("Replying to a deleted message")
    await bob.reload()
    await expect(messages(bob).filter(has_text="see you there").get_by_test_id("reply-quote")).to_have_text(
        "Replying to a deleted message")
    assert not alice.js_errors and not bob.js_errors


async def test_an_open_react_chooser_stays_open_and_focused_when_someone_else_reacts(browser, page_url):
    """bob opened the React chooser of alice's message with the keyboard and is on ❤️ when alice reacts to
    it: the message is drawn again with her reaction, the chooser still open and ❤️ still focused."""
    alice = await open_tab(browser, page_url, "alice")
    bob = await open_tab(browser, page_url, "bob")
    await send(alice, "vote here")
    on_bob = messages(bob).filter(has_text="vote here")
    await on_bob.get_by_test_id("react-message").focus()
    await bob.keyboard.press("Enter")
    await bob.keyboard.press("Tab")
    heart = on_bob.get_by_test_id("react-chooser").locator("[data-emoji='❤️']")
    await expect(heart).to_be_focused()

    on_alice = messages(alice).filter(has_text="vote here")
    await on_alice.get_by_test_id("react-message").click()
    await on_alice.get_by_test_id("react-chooser").locator("[data-emoji='👍']").click()
    await expect(on_bob.locator("[data-testid=reaction][data-emoji='👍']")).to_contain_text("1")
    await expect(on_bob.get_by_test_id("react-chooser")).to_be_visible()
    await expect(heart).to_be_focused()
    await bob.keyboard.press("Enter")
    await expect(on_alice.locator("[data-testid=reaction][data-emoji='❤️']")).to_contain_text("1")
    assert not alice.js_errors and not bob.js_errors


async def test_changes_made_while_a_page_was_offline_reach_it_on_resume(browser, page_url, server, user):
    bob = await open_tab(browser, page_url, "bob")
    alice = await user("alice", "lobby")
    sent = await alice.say("lobby", "draft one")
    await expect(messages(bob).filter(has_text="draft one")).to_have_count(1)
    await bob.context.set_offline(True)  # no reconnection until it is back
    for sock in [s for s in server.sockets if s.session.user and s.session.user.name == "bob"]:
        sock.abort()
    await expect(bob.get_by_test_id("conn-state")).not_to_have_attribute("data-state", "online")
    assert (await alice.request("edit", id=sent["id"], text="final one"))["type"] == "done"
    assert (await alice.request("react", id=sent["id"], emoji="🎉"))["type"] == "done"
    assert not [s for s in server.sockets if s.session.user and s.session.user.name == "bob"], "still away"
    await bob.context.set_offline(False)
    await expect(bob.get_by_test_id("conn-state")).to_have_attribute("data-state", "online")
    resumed = messages(bob).filter(has_text="final one")
    await expect(resumed.get_by_test_id("edited-mark")).to_be_visible()
    await expect(resumed.locator("[data-testid=reaction][data-emoji='🎉']")).to_contain_text("1")
    joins = [f for f in bob.sent_frames if '"type":"join"' in f.replace(" ", "") and '"since"' in f]
    assert joins and '"revised"' in joins[-1], "the page resumes from the last change it saw"
    assert not bob.js_errors


@pytest.mark.parametrize("skew_minutes", [0, -10, 10])
async def test_edit_and_delete_go_from_own_messages_when_the_edit_window_closes(browser, page_url, skew_minutes):
    """The server refuses an edit or deletion after messages.edit_window_seconds (3600 by default):
    the page stops offering them then, without a reload, by the server's clock even when the
    browser's is off (here by ``skew_minutes``). The page's clock is Playwright's."""
    page = await (await browser.new_context()).new_page()
    await page.clock.install(time=time.time() + skew_minutes * 60)
    await page.goto(page_url)
    await page.get_by_test_id("name-input").fill("alice")
    await page.get_by_test_id("name-submit").click()
    await expect(page.get_by_test_id("conn-state")).to_have_attribute("data-state", "online")
    await send(page, "soon frozen")
    mine = messages(page).filter(has_text="soon frozen")
    await expect(mine).to_have_attribute("data-id", re.compile(r"^\d+$"))
    await expect(mine.get_by_test_id("edit-message")).to_be_visible()
    await expect(mine.get_by_test_id("delete-own")).to_be_visible()

    await page.clock.fast_forward("59:00")  # still within the hour
    await expect(mine.get_by_test_id("edit-message")).to_be_visible()
    await page.clock.fast_forward("01:01")  # past it
    await expect(mine.get_by_test_id("edit-message")).to_have_count(0)
    await expect(mine.get_by_test_id("delete-own")).to_have_count(0)
    await expect(mine.get_by_test_id("reply-message")).to_be_visible()  # what stays open to everyone stays


@pytest.mark.parametrize("config_overrides", [{"messages": {"edit_window_seconds": 1}}])
async def test_an_edit_refused_for_the_window_closes_the_box_and_takes_edit_away(browser, page_url):
    """A browser 10 minutes slow that has seen no ack since a reload (so does not know the server's
    clock) still offers Edit after the window (1 s here): the server's refusal closes the edit box and
    takes Edit and Delete away from that message."""
    page = await (await browser.new_context()).new_page()
    await page.clock.install(time=time.time() - 600)
    await page.goto(page_url)
    await page.get_by_test_id("name-input").fill("alice")
    await page.get_by_test_id("name-submit").click()
    sent_at = time.time()
    await send(page, "too late to fix")
    mine = messages(page).filter(has_text="too late to fix")
    await expect(mine).to_have_attribute("data-id", re.compile(r"^\d+$"))
    await page.reload()
    await expect(page.get_by_test_id("conn-state")).to_have_attribute("data-state", "online")
    await until(lambda: time.time() > sent_at + 1.5, what="the server's edit window over")  # its clock, not the page's
    await mine.get_by_test_id("edit-message").click()
    await page.get_by_test_id("edit-box").fill("too late to fix!")
    await page.get_by_test_id("edit-box").press("Enter")
    await expect(page.locator("#toasts")).to_contain_text("edited or deleted for 1 second after they are sent")
    await expect(page.get_by_test_id("edit-box")).to_have_count(0)
    await expect(mine.get_by_test_id("edit-message")).to_have_count(0)
    await expect(mine.get_by_test_id("delete-own")).to_have_count(0)

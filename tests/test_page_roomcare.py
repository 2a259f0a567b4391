"""An admin's room actions as the chat page shows them, in a real Chromium: the
message box of an archived room, or of an announcement room for a user who is
no moderator, is disabled with a note; a deleted room leaves the page, which
says so."""

from __future__ import annotations

from playwright.async_api import expect

from chatd.server import Server
from tests.adminclient import ROOT
from tests.test_page import open_tab


async def test_the_box_closes_in_an_archived_room_and_opens_again(browser, page_url, server: Server):
    alice = await open_tab(browser, page_url, "alice")
    composer, note = alice.get_by_test_id("composer"), alice.get_by_test_id("composer-note")
    await expect(composer).to_be_enabled()
    await expect(note).to_be_hidden()

    await server.chat.room_care.change(ROOT, "lobby", "archived", True)
    await expect(composer).to_be_disabled()
    await expect(note).to_contain_text("archived")
    await expect(alice.get_by_test_id("send")).to_be_disabled()

    await server.chat.room_care.change(ROOT, "lobby", "archived", False)
    await expect(composer).to_be_enabled()
    await expect(note).to_be_hidden()
    assert not alice.js_errors


async def test_an_announcement_room_is_read_only_for_who_is_no_moderator(browser, page_url, server: Server):
    await server.chat.room_care.create(ROOT, "news", announcement=True)
    rita = await open_tab(browser, page_url, "rita", room="news")
    await expect(rita.get_by_test_id("composer")).to_be_disabled()
    await expect(rita.get_by_test_id("composer-note")).to_contain_text("Only moderators and admins post")
    await rita.get_by_test_id("room-lobby").click()
    await expect(rita.get_by_test_id("composer")).to_be_enabled()
    assert not rita.js_errors


async def test_a_deleted_room_leaves_the_page_which_says_so(browser, page_url, server: Server):
    await server.chat.room_care.create(ROOT, "games")
    alice = await open_tab(browser, page_url, "alice", room="games")
    await server.chat.room_care.delete(ROOT, "games", reason="closing")
    await expect(alice.get_by_test_id("toast").filter(has_text="was deleted")).to_be_visible()
    await expect(alice.get_by_test_id("room-games")).to_have_count(0)
    await expect(alice.get_by_test_id("room-title")).not_to_contain_text("games")
    assert not alice.js_errors

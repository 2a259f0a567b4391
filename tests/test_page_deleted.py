"""What the chat page shows of deleted accounts, in Chromium, in English and in Chinese: a
conversation with a deleted account says so and has no message box; a message refused because
an account was deleted offers to discard it, not to edit it (editing cannot help; a refusal the
text is to blame for keeps its Edit: tests.test_page); a user whose own account was deleted is
told so and offered to start again with a new name, not to reconnect."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from chatd.server import Server
from tests.adminclient import ROOT
from tests.test_page import messages, open_tab, send
from tests.test_page_refusals import LANGUAGES, user_id

WORDS = {
    "en": {"peer": "Deleted account", "note": "This account was deleted: messages no longer reach it.",
           "start_again": "Start again with a new name", "kicked": "Your account was deleted."},
    "zh-CN": {"peer": "已删除的账号", "note": "此账号已被删除：消息无法再送达。", "start_again": "用新名字重新开始",
              "kicked": "你的账号已被删除。"},
}


@pytest.mark.parametrize("lang", LANGUAGES)
async def test_a_conversation_with_a_deleted_account_says_so_and_has_no_message_box(browser, page_url,
                                                                                    server: Server, lang):
    bob = await open_tab(browser, page_url, "bob")
    gone = await user_id(bob)
    await server.chat.user_care.delete(ROOT, gone)
    alice = await open_tab(browser, page_url, "alice", locale=lang)
    await alice.goto(f"{page_url}#/u/{gone}")
    words = WORDS[lang]
    await expect(alice.get_by_test_id("room-title")).to_have_text(f"{words['peer']} #{gone}")
    await expect(alice.locator("#conversation-list")).to_contain_text(words["peer"])
    await expect(alice.get_by_test_id("composer-note")).to_have_text(words["note"])
    await expect(alice.get_by_test_id("composer")).to_be_disabled()
    assert not alice.js_errors


@pytest.mark.parametrize("lang", LANGUAGES)
async def test_a_message_to_a_deleted_account_is_offered_for_discarding_not_editing(browser, page_url,
                                                                                    server: Server, lang):
    alice = await open_tab(browser, page_url, "alice", locale=lang)
    bob = await open_tab(browser, page_url, "bob")
    await alice.get_by_test_id("member-bob").click()
    await server.chat.user_care.delete(ROOT, await user_id(bob))
    await send(alice, "are you still there?")
    failed = messages(alice).and_(alice.locator("[data-state=failed]"))
    await expect(failed.get_by_test_id("failed-reason")).to_contain_text(WORDS[lang]["note"])
    await expect(failed.get_by_test_id("edit-failed")).to_have_count(0)
    # The refusal told the page: the conversation now says the account was deleted, and takes no more.
    await expect(alice.get_by_test_id("composer")).to_be_disabled()
    await failed.get_by_test_id("delete-failed").click()
    await expect(failed).to_have_count(0)
    assert not alice.js_errors


@pytest.mark.parametrize("lang", LANGUAGES)
async def test_a_user_whose_account_was_deleted_is_offered_to_start_again_not_to_reconnect(browser, page_url,
                                                                                          server: Server, lang):
    alice = await open_tab(browser, page_url, "alice", locale=lang)
    old = await user_id(alice)
    await server.chat.user_care.delete(ROOT, old)
    words = WORDS[lang]
    await expect(alice.locator("#notice-text")).to_contain_text(words["kicked"])
    action = alice.get_by_test_id("notice-action")
    await expect(action).to_have_text(words["start_again"])
    await expect(alice.get_by_test_id("composer")).to_be_hidden()  # nothing to write to anyone any more
    await action.click()
    await alice.get_by_test_id("name-input").fill("alice2")
    await alice.get_by_test_id("name-submit").click()
    await expect(alice.get_by_test_id("conn-state")).to_have_attribute("data-state", "online")
    assert await user_id(alice) != old
    assert not alice.js_errors


@pytest.mark.parametrize("lang", LANGUAGES)
async def test_a_saved_sign_in_of_a_deleted_account_says_so_and_offers_to_start_again(browser, page_url,
                                                                                      server: Server, lang):
    alice = await open_tab(browser, page_url, "alice", locale=lang)
    await server.chat.user_care.delete(ROOT, await user_id(alice))
    await alice.reload()  # the saved token: refused, bad_token with its cause account_deleted
    words = WORDS[lang]
    await expect(alice.locator("#notice-text")).to_contain_text(words["kicked"])
    await expect(alice.get_by_test_id("notice-action")).to_have_text(words["start_again"])
    await expect(alice.get_by_test_id("composer")).to_be_hidden()
    await alice.get_by_test_id("notice-action").click()
    await expect(alice.get_by_test_id("name-input")).to_be_visible()
    assert await alice.evaluate("localStorage.getItem('chatd.token')") is None

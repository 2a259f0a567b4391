"""Limits per address as a person on the page meets them, in a real Chromium:
a refusal that lasts is shown at once with its reason, not sat out."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import expect

from tests.test_page import open_tab

# The page's words for the address's limit of new users and the wait, in each language (the same in both).
NEW_USERS = {
    "en": r"too many new users from your network address \(all its users together\); try again in \d+ seconds",
    "zh-CN": r"你的网络地址（其所有用户合计）新建的用户太多，请在 \d+秒钟?后再试",
}


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
@pytest.mark.parametrize("config_overrides", [{"address": {"guest_burst": 1, "guests_per_hour": 120}}])
async def test_a_new_user_over_the_address_s_limit_is_told_why_and_when_at_once(browser, page_url,
                                                                                 config_overrides, lang):
    await open_tab(browser, page_url, "alice")  # the address's one new user
    page = await (await browser.new_context(locale=lang)).new_page()
    await page.goto(page_url)
    await page.get_by_test_id("name-input").fill("bob")
    await page.get_by_test_id("name-submit").click()
    # About 30 s to wait: more than the page sits out by itself, so it says so (within expect's 5 s).
    await expect(page.locator("#name-error")).to_contain_text(re.compile(NEW_USERS[lang]))
    await expect(page.get_by_test_id("conn-state")).not_to_have_attribute("data-state", "online")

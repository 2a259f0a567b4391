from playwright.async_api import expect
from tests.test_page import browser, messages, open_tab, page_url, send  # noqa
from tests.test_page_attention import DESKTOP, PHONE, create_room, badge


async def test_shots(browser, page_url, seed, user):  # noqa
    for name, opts in (("desk", DESKTOP), ("phone", PHONE)):
        alice = await open_tab(browser, page_url, "alice" + name, room=None, **opts)
        await expect(alice.get_by_test_id("room-title")).to_contain_text("lobby")
        bob = await user("bob" + name, "lobby")
        await bob.say("lobby", "read before")
        await expect(messages(alice).last).to_contain_text("read before")
        if name == "desk":
            await create_room(alice, "dev" + name)
        else:
            await alice.goto(page_url + "#/r/dev" + name)
        await seed(30, "while away @alice" + name, room="lobby")
        await alice.reload()
        await expect(alice.get_by_test_id("conn-state")).to_have_attribute("data-state", "online")
        if name == "phone":
            await alice.locator("#toggle-sidebar").click()
        await alice.screenshot(path=f"/tmp/att_{name}_1.png")
        await alice.get_by_test_id("room-lobby").click()
        await bob.say("lobby", "live one @alice" + name)
        await bob.send({"type": "typing", "room": "lobby"})
        await expect(alice.get_by_test_id("typing")).not_to_have_text("")
        await alice.screenshot(path=f"/tmp/att_{name}_2.png")

"""Chromium for the page tests: one browser per test process (a pytest-xdist worker), a fresh
browser context per test, driven by Playwright on Debian's Chromium.

    async def test_x(browser, page_url):
        page = await (await browser.new_context(locale="zh-CN")).new_page()

Launching Chromium and Playwright's driver for every test cost about a second of the two cores
each; a context gives a test everything it may change (storage, cookies, permissions, clock,
routes) of its own, so the browser itself is shared. The price: a Playwright browser belongs to
the event loop that launched it, so a test that asks for ``browser`` runs on pytest-asyncio's
session loop, and so do the async function-scoped fixtures it asks for (its ``server``…): one
loop per test would need a browser per test. What a test leaves behind is undone as a loop of its
own would undo it: its contexts are closed, its tasks cancelled. A test that crashes a page only
loses its context; one that closes or crashes the browser, or its driver, gets the next test a
new browser (``Chromium.ready``).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import shutil
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Playwright, async_playwright, expect

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Flags as the machine's docs advise: no sandbox as root, nothing reaching out to the network.
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
# 20 s, not Playwright's default 5 s: assertions end as soon as they hold, and a
# loaded two-core machine can take longer than 5 s to start a page and reconnect it.
expect.set_options(timeout=20_000)
# pytest-asyncio's loop that outlives the tests (one per worker), where the shared browser lives.
BROWSER_LOOP = "session"
ON_BROWSER_LOOP = pytest.mark.asyncio(loop_scope=BROWSER_LOOP)


class Chromium:
    """The worker's Playwright driver and Chromium, launched on first use and again after either died."""

    def __init__(self) -> None:
        self.playwright: Playwright | None = None
        self.browser: Browser | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.own_tasks: set[asyncio.Task] = set()  # the driver's (its pipe's reader): the browser's lifetime

    async def ready(self) -> Browser:
        """The browser, connected: a new driver and browser if there is none or it is gone."""
        self.loop = asyncio.get_running_loop()
        if self.browser is None or not self.browser.is_connected():
            await self.close()
            before = asyncio.all_tasks()  # (a server the test started first has some)
            self.playwright = await async_playwright().start()
            self.browser = await self.playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
            self.own_tasks = asyncio.all_tasks() - before
        return self.browser

    async def clear(self) -> None:
        """Close every context a test opened (its pages, storage, permissions and routes with it)."""
        if self.browser is not None and self.browser.is_connected():
            for context in self.browser.contexts:
                with contextlib.suppress(Exception):  # a crashed page's context, or the browser going
                    await context.close()

    def cancel_leftovers(self) -> None:
        """Cancel the tasks a test left on the shared loop and let them end, as asyncio.Runner
        does when a test's own loop closes; the driver's stay."""
        if self.loop is None or self.loop.is_closed():
            return
        left = [task for task in asyncio.all_tasks(self.loop) if task not in self.own_tasks]
        for task in left:
            task.cancel()
        if left:
            self.loop.run_until_complete(asyncio.gather(*left, return_exceptions=True))

    async def close(self) -> None:
        """Let the browser and driver go; either may already be dead (hence the suppressions)."""
        if self.browser is not None:
            with contextlib.suppress(Exception):
                await self.browser.close()
        if self.playwright is not None:
            with contextlib.suppress(Exception):
                await self.playwright.stop()
        self.browser = self.playwright = None


def on_browser_loop(item: pytest.Item) -> bool:
    marker = item.get_closest_marker("asyncio")
    return marker is not None and marker.kwargs.get("loop_scope") == BROWSER_LOOP


_chromium = Chromium()


@pytest_asyncio.fixture(scope="session", loop_scope=BROWSER_LOOP)
async def chromium() -> AsyncIterator[Chromium]:
    """The worker's browser holder; closed at the end of the session."""
    yield _chromium
    await _chromium.close()


@pytest_asyncio.fixture(loop_scope=BROWSER_LOOP)
async def browser(chromium: Chromium) -> AsyncIterator[Browser]:
    """The shared Chromium; every context the test opens is closed after it."""
    yield await chromium.ready()
    await chromium.clear()


@pytest.fixture
def page_url(server) -> str:
    """The chat page of the test's ``server``."""
    return f"http://127.0.0.1:{server.port}/"


@pytest.hookimpl(tryfirst=True)
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test that asks for ``browser`` runs on the browser's loop: marked before its items are made
    (they take the function's marks) and on its definition (where pytest-asyncio reads the scope of
    a loop factory's parameter; this runs first, being registered after pytest-asyncio)."""
    if "browser" in metafunc.fixturenames and not on_browser_loop(metafunc.definition):
        ON_BROWSER_LOOP(metafunc.function)
        metafunc.definition.add_marker(ON_BROWSER_LOOP, append=False)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_fixture_setup(fixturedef: pytest.FixtureDef, request: pytest.FixtureRequest):
    """A function-scoped async fixture of a test on the browser's loop runs on that loop too: a
    server started on another loop would never answer. pytest-asyncio takes a fixture's loop from
    the ``_loop_scope`` its own decorator sets; this sets it for this one setup only (the fixture
    serves the tests on their own loops as before)."""
    func = fixturedef.func
    moved = (fixturedef.scope == "function" and on_browser_loop(request.node) and not hasattr(func, "_loop_scope")
             and (inspect.iscoroutinefunction(func) or inspect.isasyncgenfunction(func)))
    if not moved:
        return (yield)
    func._loop_scope = BROWSER_LOOP
    try:
        return (yield)
    finally:
        del func._loop_scope


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None):
    """After a test on the browser's loop and all its fixtures: cancel what it left running there."""
    try:
        return (yield)
    finally:
        if on_browser_loop(item):
            _chromium.cancel_leftovers()

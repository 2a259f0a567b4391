"""tests/browser.py: the page tests share one Chromium per test process, and nothing one test
leaves there (a context, a crashed page, a task, a closed browser) reaches the next one."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.test_page import pytestmark  # noqa: F401 - the skip

ROOT = Path(__file__).resolve().parents[1]

# Three tests run in this order in a pytest of their own, each seeing what the one before left.
IN_ORDER = '''
import asyncio
import contextlib

import pytest
from playwright.async_api import Error

left = {}


@pytest.fixture
async def fixture_loop():
    return asyncio.get_running_loop()


async def test_leaves_a_context_a_crashed_page_and_a_task(browser, fixture_loop):
    assert fixture_loop is asyncio.get_running_loop()  # a server it asked for would answer it
    await (await browser.new_context()).new_page()
    crashed = await (await browser.new_context()).new_page()
    async with crashed.expect_event("crash"):
        with contextlib.suppress(Error):
            await crashed.goto("chrome://crash")
    left["task"] = asyncio.create_task(asyncio.sleep(3600))
    left["browser"] = browser


async def test_gets_the_same_browser_without_them_and_closes_it(browser):
    assert browser is left["browser"]
    assert browser.contexts == []
    assert left["task"].cancelled()
    await browser.close()  # as a test that crashes the browser leaves it


async def test_gets_a_browser_that_works(browser):
    assert browser is not left["browser"] and browser.is_connected()
    page = await (await browser.new_context()).new_page()
    assert await page.evaluate("1 + 1") == 2
'''

SETTINGS = '''
[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
filterwarnings = error
'''


def test_what_a_test_leaves_in_the_shared_browser_is_gone_for_the_next(pytester: pytest.Pytester,
                                                                      monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    pytester.makeini(SETTINGS)
    pytester.makeconftest('pytest_plugins = ["tests.browser"]\n')
    pytester.makepyfile(test_in_order=IN_ORDER)
    # no:benchmark as in pyproject.toml: pytest-benchmark reads $PYTEST_XDIST_WORKER, inherited from this worker
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:xdist", "-p", "no:benchmark")
    result.assert_outcomes(passed=3)

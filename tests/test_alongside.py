"""chatd.alongside: gather's answer for one coroutine and futures under way, without a Task."""

from __future__ import annotations

import asyncio
import gc

import pytest

from chatd.alongside import alongside


async def test_the_coroutine_runs_in_the_callers_task_before_the_futures_are_awaited():
    loop = asyncio.get_running_loop()
    ran_in: list[asyncio.Task | None] = []
    read = loop.create_future()

    async def first() -> str:
        ran_in.append(asyncio.current_task())
        read.set_result("page")  # what a store read hands back later
        return "state"

    assert await alongside(first(), read) == ("state", "page")
    assert ran_in == [asyncio.current_task()], "gather would have run it in a Task of its own"


async def test_the_first_error_is_raised_and_the_others_are_retrieved(caplog):
    loop = asyncio.get_running_loop()
    late = loop.create_future()

    async def failing() -> None:
        raise ValueError("first")

    with pytest.raises(ValueError, match="first"):
        await alongside(failing(), late)
    late.set_exception(RuntimeError("later"))
    await asyncio.sleep(0)  # the done callback runs
    del late
    gc.collect()
    assert "exception was never retrieved" not in caplog.text

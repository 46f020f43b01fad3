"""The drivers of the helper's flows, on plain objects (no browser needed).

A flow only names what to call; the async driver awaits each call, the sync
one makes it. Both must hand the flow the same values and the same errors.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import pytest
import pytest_twisted

from scrapy_vastcaptcha.api.errors import SolveTimeoutError
from scrapy_vastcaptcha.api.tasks import Task, TurnstileTask
from scrapy_vastcaptcha.playwright.steps import (
    GRACE,
    Call,
    Flow,
    Outcome,
    Solve,
    run_async,
    run_async_until,
    run_sync,
)
from tests.browsing import aio

TASK = TurnstileTask(website_url="https://example.com/", website_key="0x4AAAAAAAexample")


class SyncPage:
    """Answers like a sync Playwright page: values, or a raised error."""

    def evaluate(self, expression: str) -> Any:
        if expression == "broken":
            raise RuntimeError("Execution context was destroyed")
        return len(expression)


class AsyncPage:
    """The same answers, awaited."""

    def __init__(self) -> None:
        self.cancelled = False

    async def evaluate(self, expression: str) -> Any:
        return SyncPage().evaluate(expression)

    async def hang(self) -> None:
        try:
            await asyncio.get_running_loop().create_future()
        except asyncio.CancelledError:
            self.cancelled = True
            raise


def visit(page: Any, solves: bool) -> Flow[list[Any]]:
    seen: list[Any] = [(yield Call(page, "evaluate", ("abc",)))]
    try:
        yield Call(page, "evaluate", ("broken",))
    except RuntimeError as exc:
        seen.append(str(exc))
    try:
        seen.append((yield Solve((TASK,), 1.0)))
    except TypeError as exc:
        seen.append(type(exc).__name__)
    if solves:
        seen.append((yield Call(page, "evaluate", ("de",))))
    return seen


def solved(tasks: Sequence[Task], timeout: float) -> list[Outcome]:
    return [ValueError(f"{len(tasks)} task(s) within {timeout:g} s")]


async def solved_async(tasks: Sequence[Task], timeout: float) -> list[Outcome]:
    return solved(tasks, timeout)


@pytest_twisted.ensureDeferred
async def test_both_drivers_give_a_flow_the_same_answers() -> None:
    sync_out = run_sync(visit(SyncPage(), True), solved)
    async_out = await aio(run_async(visit(AsyncPage(), True), solved_async))
    assert [repr(item) for item in async_out] == [repr(item) for item in sync_out]
    assert sync_out[0] == 3
    assert sync_out[1] == "Execution context was destroyed"
    assert str(sync_out[2][0]) == "1 task(s) within 1 s"
    assert sync_out[3] == 2
    # no solver: the Solve step fails inside the flow, which goes on
    unsolved = [3, "Execution context was destroyed", "TypeError"]
    assert run_sync(visit(SyncPage(), False)) == unsolved
    assert await aio(run_async(visit(AsyncPage(), False))) == unsolved


def stuck(page: AsyncPage) -> Flow[None]:
    yield Call(page, "hang")


@pytest_twisted.ensureDeferred
async def test_a_flow_stuck_in_the_page_ends_after_the_grace() -> None:
    page = AsyncPage()
    # a deadline that leaves 0.2 s of grace
    deadline = time.monotonic() - GRACE + 0.2
    started = time.monotonic()
    with pytest.raises(SolveTimeoutError, match="within the 3 s timeout: it stopped answering"):
        await aio(run_async_until(stuck(page), None, deadline, "the 3 s timeout"))
    assert time.monotonic() - started < 2
    assert page.cancelled

"""Parallel solving with one deadline, on whichever loop runs the client."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol

from scrapy_vastcaptcha.api.client import SolveResult
from scrapy_vastcaptcha.api.errors import SolveTimeoutError
from scrapy_vastcaptcha.api.tasks import Task
from scrapy_vastcaptcha.playwright.steps import Outcome


class AsyncClient(Protocol):
    """What the helper needs of a client (``VastCaptchaClient`` has it)."""

    async def solve_async(self, task: Task) -> SolveResult: ...


async def solve_all(client: AsyncClient, tasks: Sequence[Task], timeout: float) -> list[Outcome]:
    """One task per captcha, all at once; unfinished ones are cancelled at
    ``timeout`` and reported as :class:`SolveTimeoutError`."""
    if not tasks:
        return []
    running = [asyncio.ensure_future(client.solve_async(task)) for task in tasks]
    try:
        _, late = await asyncio.wait(running, timeout=max(timeout, 0.0))
    except BaseException:
        # cancelled from outside: take every solve down with us
        for future in running:
            future.cancel()
        raise
    for future in late:
        future.cancel()
    if late:
        # let the cancellations reach the client, which stops polling
        await asyncio.wait(late)
    outcomes: list[Outcome] = []
    for future in running:
        if future in late or future.cancelled():
            outcomes.append(SolveTimeoutError(f"not solved within the {timeout:.1f} s left"))
            continue
        error = future.exception()
        if error is None:
            outcomes.append(future.result())
        elif isinstance(error, Exception):
            outcomes.append(error)
        else:
            raise error
    return outcomes

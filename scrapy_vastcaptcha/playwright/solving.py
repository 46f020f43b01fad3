"""Parallel solving with one deadline, on whichever loop runs the client."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, Protocol

from scrapy_vastcaptcha.api.client import SolveResult, VastCaptchaClient
from scrapy_vastcaptcha.api.credentials import ApiKey, resolve_api_key, resolve_api_url
from scrapy_vastcaptcha.api.errors import SolveTimeoutError
from scrapy_vastcaptcha.api.tasks import Task
from scrapy_vastcaptcha.playwright.bridge import call_in
from scrapy_vastcaptcha.playwright.reactor import client_loop
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


class LoopSolver:
    """A client on the loop its reactor drives, usable from whichever loop is running.

    Make it with :meth:`open` from the loop that will use it; see
    :func:`~scrapy_vastcaptcha.playwright.reactor.client_loop`.
    """

    def __init__(
        self, loop: asyncio.AbstractEventLoop, client: AsyncClient, own: VastCaptchaClient | None
    ) -> None:
        self._loop = loop
        self._client = client
        self._own = own

    @classmethod
    async def open(
        cls,
        client: AsyncClient | None,
        api_key: str | ApiKey | None,
        api_url: str | None,
        **client_options: Any,
    ) -> LoopSolver:
        """Use ``client``, or make one (closed by :meth:`close`) with these options."""
        loop = client_loop()
        if client is not None:
            return cls(loop, client, None)
        key, url = resolve_api_key(api_key), resolve_api_url(api_url)

        async def make() -> VastCaptchaClient:
            # Twisted objects are built on the loop (thread) that will use them
            return VastCaptchaClient(key, url, **client_options)

        own = await call_in(loop, make())
        return cls(loop, own, own)

    async def solve_all(self, tasks: Sequence[Task], timeout: float) -> list[Outcome]:
        """:func:`solve_all` on the client's loop."""
        return await call_in(self._loop, solve_all(self._client, tasks, timeout))

    async def close(self) -> None:
        """Close the client if it was made here (a given one is left open)."""
        if self._own is not None:
            own, self._own = self._own, None
            await call_in(self._loop, own.close_async())

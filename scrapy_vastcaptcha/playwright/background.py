"""A VastCap client for synchronous code, on the reactor thread.

The client lives on the event loop of the Twisted reactor thread (see
:func:`~scrapy_vastcaptcha.playwright.reactor.reactor_thread_loop`); the
calling thread submits coroutines with ``asyncio.run_coroutine_threadsafe``
and blocks on the answer with a deadline. While it blocks, the sync Playwright
page is idle, which it tolerates.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Coroutine, Sequence
from types import TracebackType
from typing import Any, TypeVar

from scrapy_vastcaptcha.api.client import VastCaptchaClient
from scrapy_vastcaptcha.api.credentials import ApiKey, resolve_api_key, resolve_api_url
from scrapy_vastcaptcha.api.errors import SolveTimeoutError, VastCaptchaError
from scrapy_vastcaptcha.api.tasks import Task
from scrapy_vastcaptcha.playwright.reactor import reactor_thread_loop
from scrapy_vastcaptcha.playwright.solving import LoopSolver, solve_all
from scrapy_vastcaptcha.playwright.steps import Outcome

T = TypeVar("T")

# time for a result to cross from the reactor thread, beyond the solve deadline
_HANDOVER = 5.0


class BackgroundSolver:
    """A :class:`VastCaptchaClient` usable from synchronous code.

    :param api_key: the key; default ``$VASTCAPTCHA_API_KEY``.
    :param api_url: the API base URL; default ``$VASTCAPTCHA_API_URL`` or the service.
    :param client_options: further :class:`VastCaptchaClient` arguments
        (``solve_timeout``, ``poll_interval``, ...).

    Use it as a context manager (or call :meth:`close`) and pass it as
    ``client=`` to :func:`scrapy_vastcaptcha.playwright.sync_api.solve_captchas`
    to share one connection pool between calls.
    """

    def __init__(
        self, api_key: str | ApiKey | None = None, api_url: str | None = None, **client_options: Any
    ) -> None:
        key, url = resolve_api_key(api_key), resolve_api_url(api_url)
        self._loop = reactor_thread_loop()
        self._closed = False

        async def make() -> VastCaptchaClient:
            # Twisted objects are built on the thread that will use them
            return VastCaptchaClient(key, url, **client_options)

        self._client = self._call(make(), _HANDOVER)

    def _call(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise SolveTimeoutError(
                f"no answer from the reactor thread within {timeout:.1f} s"
            ) from None
        except BaseException:
            # e.g. KeyboardInterrupt in the caller: stop spending
            future.cancel()
            raise

    def solve_all(self, tasks: Sequence[Task], timeout: float) -> list[Outcome]:
        """Solve ``tasks`` in parallel; blocks for at most about ``timeout`` seconds."""
        if self._closed:
            raise VastCaptchaError("the background solver is closed")
        return self._call(solve_all(self._client, tasks, timeout), max(timeout, 0.0) + _HANDOVER)

    def loop_solver(self) -> LoopSolver:
        """This solver's client for coroutines of another loop (it stays open)."""
        if self._closed:
            raise VastCaptchaError("the background solver is closed")
        return LoopSolver(self._loop, self._client, None)

    def close(self) -> None:
        """Cancel the calls in flight and close the client's connections."""
        if not self._closed:
            self._closed = True
            self._call(self._client.close_async(), _HANDOVER)

    def __enter__(self) -> BackgroundSolver:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

"""A VastCap client on its own thread, for the synchronous helper.

Sync Playwright code has no event loop the caller controls, and a Twisted
reactor cannot be started and stopped again in one process. So a
:class:`BackgroundSolver` owns a daemon thread that runs a private asyncio
loop with a private (not globally installed) Twisted asyncio reactor, and the
client lives there. The caller's thread hands it coroutines with
``asyncio.run_coroutine_threadsafe`` and blocks on the answer with a deadline;
closing stops the reactor (and its thread pool) and joins the thread. Nothing
global is installed, so Scrapy or asyncio code later in the process is free
to pick its own reactor.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Sequence
from types import TracebackType
from typing import Any

from scrapy_vastcaptcha.client import VastCaptchaClient
from scrapy_vastcaptcha.credentials import ApiKey, resolve_api_key, resolve_api_url
from scrapy_vastcaptcha.errors import SolveTimeoutError, VastCaptchaError
from scrapy_vastcaptcha.playwright.solving import solve_all
from scrapy_vastcaptcha.playwright.steps import Outcome
from scrapy_vastcaptcha.tasks import Task

# time for a result to cross from the solver thread, beyond the solve deadline
_HANDOVER = 5.0
_START_TIMEOUT = 10.0


class BackgroundSolver:
    """A :class:`VastCaptchaClient` running on a background thread.

    :param api_key: the key; default ``$VASTCAPTCHA_API_KEY``.
    :param api_url: the API base URL; default ``$VASTCAPTCHA_API_URL`` or the service.
    :param client_options: further :class:`VastCaptchaClient` arguments
        (``solve_timeout``, ``poll_interval``, ...).

    Use it as a context manager (or call :meth:`close`) and pass it as
    ``client=`` to :func:`scrapy_vastcaptcha.playwright.sync_api.solve_captchas`
    to share one connection pool between many calls.
    """

    def __init__(
        self, api_key: str | ApiKey | None = None, api_url: str | None = None, **client_options: Any
    ) -> None:
        # resolved here so that a missing key fails in the caller's thread
        self._api_key = resolve_api_key(api_key)
        self._api_url = resolve_api_url(api_url)
        self._options = client_options
        self._loop = asyncio.new_event_loop()
        self._reactor: Any = None
        self._client: VastCaptchaClient | None = None
        self._startup_error: BaseException | None = None
        self._ready = threading.Event()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="vastcaptcha-solver", daemon=True)
        self._thread.start()
        if not self._ready.wait(_START_TIMEOUT):
            raise VastCaptchaError("the background solver thread did not start")
        if self._startup_error is not None:
            self._thread.join(_START_TIMEOUT)
            raise self._startup_error

    def _run(self) -> None:
        from twisted.internet.asyncioreactor import AsyncioSelectorReactor

        asyncio.set_event_loop(self._loop)
        try:
            self._reactor = AsyncioSelectorReactor(eventloop=self._loop)
            self._client = VastCaptchaClient(
                self._api_key, self._api_url, reactor=self._reactor, **self._options
            )
        except BaseException as exc:
            self._startup_error = exc
            self._ready.set()
            self._loop.close()
            return
        self._reactor.callWhenRunning(self._ready.set)
        self._reactor.run(installSignalHandlers=False)
        self._loop.close()

    @property
    def client(self) -> VastCaptchaClient:
        """The client; only touch it from coroutines run on the solver thread."""
        if self._client is None:
            raise VastCaptchaError("the background solver is not running")
        return self._client

    def solve_all(self, tasks: Sequence[Task], timeout: float) -> list[Outcome]:
        """Solve ``tasks`` in parallel; blocks for at most about ``timeout`` seconds."""
        if self._closed:
            raise VastCaptchaError("the background solver is closed")
        future = asyncio.run_coroutine_threadsafe(
            solve_all(self.client, tasks, timeout), self._loop
        )
        try:
            return future.result(max(timeout, 0.0) + _HANDOVER)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise SolveTimeoutError(f"no answer within {timeout:.1f} s") from None
        except BaseException:
            # e.g. KeyboardInterrupt in the caller: stop spending
            future.cancel()
            raise

    def close(self) -> None:
        """Cancel what is in flight, stop the reactor and join the thread."""
        if self._closed:
            return
        self._closed = True
        closing = asyncio.run_coroutine_threadsafe(self.client.close_async(), self._loop)
        try:
            closing.result(_HANDOVER)
        except Exception:
            closing.cancel()  # closing is best effort; the reactor stops anyway
        self._reactor.callFromThread(self._reactor.stop)
        self._thread.join(_HANDOVER)

    def __enter__(self) -> BackgroundSolver:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

"""Run an asyncio coroutine on Twisted's asyncio reactor (what Scrapy crawls need)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

ASYNCIO_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"


def run(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Install the asyncio reactor, run ``main()`` on it, stop, and return its result."""
    from scrapy.utils.reactor import install_reactor

    # Crawls run with CrawlerRunner, which configures no logging: show errors only.
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")

    install_reactor(ASYNCIO_REACTOR)
    from twisted.internet import reactor as installed

    reactor: Any = installed
    outcome: list[Any] = []

    def start() -> None:
        future = asyncio.ensure_future(main())

        def done(f: asyncio.Future[T]) -> None:
            outcome.append(f)
            reactor.stop()

        future.add_done_callback(done)

    reactor.callWhenRunning(start)
    reactor.run(installSignalHandlers=True)
    if not outcome:
        raise RuntimeError("the reactor stopped before the benchmark finished")
    future: asyncio.Future[T] = outcome[0]
    if future.cancelled():
        raise RuntimeError("the benchmark was cancelled")
    error = future.exception()
    if error is not None:
        raise error
    return future.result()

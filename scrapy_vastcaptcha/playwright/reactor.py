"""Twisted on the running asyncio loop, for the async helper.

The VastCap client runs on Twisted (treq). In Scrapy, and under pytest-twisted,
Twisted's asyncio reactor already drives the running loop: it is used as is.
In a plain ``asyncio.run(...)`` script nothing is installed: the asyncio
reactor is installed on the running loop and started without blocking
(``startRunning``; the loop itself keeps running as before), and its thread
pool (name resolution) is stopped when the loop's tasks are cancelled at the
end of ``asyncio.run``. A later ``asyncio.run`` in the same process gets a
private reactor on its own loop, since the global one cannot move. Any other
reactor (epoll, select, an asyncio reactor serving another loop) is refused
with :class:`ReactorMismatchError`.
"""

from __future__ import annotations

import asyncio
import sys
import weakref
from typing import Any

from scrapy_vastcaptcha.playwright.errors import ReactorMismatchError

# reactors this module started, by the loop they serve; the task is kept
# referenced so that it is not collected before the loop ends
_STARTED: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, tuple[Any, asyncio.Task[None]]] = (
    weakref.WeakKeyDictionary()
)
_OWNED: weakref.WeakSet[Any] = weakref.WeakSet()


def running_loop_reactor() -> Any:
    """The Twisted reactor driving the running asyncio loop, set up if needed."""
    from twisted.internet.asyncioreactor import AsyncioSelectorReactor

    loop = asyncio.get_running_loop()
    if loop in _STARTED:
        return _STARTED[loop][0]
    if "twisted.internet.reactor" not in sys.modules:
        from twisted.internet import asyncioreactor

        asyncioreactor.install(eventloop=loop)
        from twisted.internet import reactor as installed

        return _start(installed, loop)
    from twisted.internet import reactor as global_reactor

    if not isinstance(global_reactor, AsyncioSelectorReactor):
        raise ReactorMismatchError(
            f"the installed Twisted reactor is {type(global_reactor).__name__}, which cannot "
            "run on asyncio; install twisted.internet.asyncioreactor (Scrapy: TWISTED_REACTOR = "
            '"twisted.internet.asyncioreactor.AsyncioSelectorReactor") or use '
            "scrapy_vastcaptcha.playwright.sync_api"
        )
    bound = global_reactor._asyncioEventloop
    if bound is loop:
        return global_reactor if global_reactor.running else _start(global_reactor, loop)
    if global_reactor in _OWNED and bound.is_closed():
        return _start(AsyncioSelectorReactor(eventloop=loop), loop)
    raise ReactorMismatchError(
        "the installed Twisted asyncio reactor serves another event loop than the running "
        "one; call the helper from the loop the reactor runs on"
    )


def _start(reactor: Any, loop: asyncio.AbstractEventLoop) -> Any:
    # startRunning fires the startup triggers (thread pool included) without
    # blocking: the asyncio loop, already running, does the actual work.
    reactor.startRunning(installSignalHandlers=False)
    _OWNED.add(reactor)
    _STARTED[loop] = (reactor, loop.create_task(_release_at_loop_end(reactor)))
    return reactor


async def _release_at_loop_end(reactor: Any) -> None:
    try:
        await asyncio.get_running_loop().create_future()
    finally:
        # its threads are not daemons: left running they would keep the
        # process alive after asyncio.run returns
        reactor.getThreadPool().stop()

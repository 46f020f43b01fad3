"""Where the VastCap client's Twisted reactor runs, for both helpers.

The client's connections, timeouts and polling waits are Twisted objects
driven by a reactor, and the helper awaits them from asyncio as futures of
the running loop (``Deferred.asFuture``). Only Twisted's asyncio reactor runs
its sockets and timers on an asyncio loop, and only on the one it was
installed with: a reactor on any other loop (or none running) would never
service them and the await would hang. That reactor is the process-wide
*global* one: Twisted supports one installed reactor per process, Scrapy and
pytest-twisted drive their work with it, and a client shared with a crawl
must use it too. It is installed once, started once and cannot move between
event loops. Hence:

* Async helper, :func:`running_loop_reactor`: in Scrapy, scrapy-playwright or
  pytest-twisted the asyncio reactor already drives the running loop and is
  used as is. In a plain ``asyncio.run`` script nothing is installed yet: the
  asyncio reactor is installed on the running loop and started without
  blocking (``startRunning``; the loop keeps running as before). Its thread
  pool (used for DNS) is stopped when ``asyncio.run`` cancels the remaining
  tasks, so the process can exit. Any other reactor, or an asyncio reactor
  serving another loop (e.g. a second ``asyncio.run`` in one process), is
  refused with :class:`ReactorMismatchError`.
* Sync helper, :func:`reactor_thread_loop`: the asyncio reactor is installed
  on a fresh loop and run by a daemon thread for the rest of the process; the
  caller's thread submits coroutines to that loop and blocks on them. If an
  asyncio reactor already runs in another thread (Scrapy in a thread, say),
  that one is used.
"""

from __future__ import annotations

import asyncio
import functools
import sys
import threading
import weakref
from typing import Any

from scrapy_vastcaptcha.playwright.errors import ReactorMismatchError

# the tasks that release reactors this module started, per loop; referenced so
# that they are not collected before their loop ends
_RELEASERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Task[None]] = (
    weakref.WeakKeyDictionary()
)
_THREAD_LOCK = threading.Lock()
# ident of the thread this module runs the reactor in, if it does
_reactor_thread: int | None = None
_START_TIMEOUT = 10.0
_ASYNCIO_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"


def _installed() -> Any:
    """The installed global reactor, or ``None`` (importing it would install one)."""
    if "twisted.internet.reactor" not in sys.modules:
        return None
    from twisted.internet import reactor

    return reactor


def _require_asyncio(reactor: Any) -> None:
    from twisted.internet.asyncioreactor import AsyncioSelectorReactor

    if not isinstance(reactor, AsyncioSelectorReactor):
        raise ReactorMismatchError(
            f"the installed Twisted reactor is {type(reactor).__name__}, but the VastCap "
            f"helper needs {_ASYNCIO_REACTOR} (twisted.internet.asyncioreactor; Scrapy's "
            "default TWISTED_REACTOR). Install that one, or none and let the helper do it"
        )


def running_loop_reactor() -> Any:
    """The global reactor, driving the running asyncio loop; installed and started if needed."""
    loop = asyncio.get_running_loop()
    reactor = _installed()
    if reactor is None:
        from twisted.internet import asyncioreactor

        asyncioreactor.install(eventloop=loop)
        reactor = _installed()
    _require_asyncio(reactor)
    if reactor._asyncioEventloop is not loop:
        raise ReactorMismatchError(
            "the Twisted reactor is bound to another asyncio event loop than the running one "
            "(a reactor cannot move between loops, e.g. across two asyncio.run calls in one "
            "process): solve from the loop it was first used on, or use "
            "scrapy_vastcaptcha.playwright.sync_api"
        )
    if not reactor.running:
        # fires the startup triggers (thread pool included) without blocking:
        # the already running asyncio loop does the actual work
        reactor.startRunning(installSignalHandlers=False)
        _RELEASERS[loop] = loop.create_task(_release_at_loop_end(reactor))
    return reactor


async def _release_at_loop_end(reactor: Any) -> None:
    try:
        await asyncio.get_running_loop().create_future()
    finally:
        # pool threads are not daemons: left running they would keep the
        # process alive after asyncio.run returns
        reactor.getThreadPool().stop()


def reactor_thread_loop() -> asyncio.AbstractEventLoop:
    """The loop of a global asyncio reactor running in another thread, started if needed.

    Coroutines go to it with ``asyncio.run_coroutine_threadsafe``.
    """
    with _THREAD_LOCK:
        reactor = _installed()
        if reactor is None:
            from twisted.internet import asyncioreactor

            asyncioreactor.install(eventloop=asyncio.new_event_loop())
            reactor = _installed()
        _require_asyncio(reactor)
        loop: asyncio.AbstractEventLoop = reactor._asyncioEventloop
        if not reactor.running and not loop.is_closed() and not loop.is_running():
            _run_in_thread(reactor, loop)
        elif not reactor.running or not loop.is_running():
            raise ReactorMismatchError(
                "the installed Twisted reactor is not running and cannot be started here"
            )
    if _reactor_thread == threading.get_ident() or _in_loop(loop):
        raise ReactorMismatchError(
            "the sync helper was called from the thread that runs the Twisted reactor; "
            "it would block it: use the async API (scrapy_vastcaptcha.playwright) there"
        )
    return loop


def _in_loop(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


def _run_in_thread(reactor: Any, loop: asyncio.AbstractEventLoop) -> None:
    # pool threads (DNS) must not keep the process alive; the reactor thread
    # itself is a daemon for the same reason
    reactor.getThreadPool().threadFactory = functools.partial(threading.Thread, daemon=True)
    started = threading.Event()
    reactor.callWhenRunning(started.set)

    def run() -> None:
        global _reactor_thread
        _reactor_thread = threading.get_ident()
        asyncio.set_event_loop(loop)
        reactor.run(installSignalHandlers=False)

    threading.Thread(target=run, name="vastcaptcha-reactor", daemon=True).start()
    if not started.wait(_START_TIMEOUT):
        raise ReactorMismatchError("the Twisted reactor thread did not start")

"""Where the VastCap client's Twisted reactor runs, for both helpers.

The client's connections, timeouts and polling waits are Twisted objects
driven by a reactor. Only Twisted's asyncio reactor runs them on an asyncio
loop, and only on the one it was installed with; it is the process-wide
*global* reactor (Twisted supports one per process, Scrapy and pytest-twisted
drive their work with it, a client shared with a crawl must use it too), it is
installed once, started once and cannot move between event loops. Hence the
client runs on one of two loops, chosen by :func:`client_loop`:

* **Scrapy's loop**: in a Scrapy callback, scrapy-playwright or pytest-twisted
  the asyncio reactor already drives the running loop; the client runs there,
  directly, as part of the crawl.
* **The reactor thread**: anywhere else (a plain ``asyncio.run`` script, the
  second or tenth ``asyncio.run`` of one process, pytest-asyncio's loop per
  test, Jupyter, a framework that owns its loop, the sync API) the asyncio
  reactor is installed on a fresh loop that a daemon thread runs for the rest
  of the process (:func:`reactor_thread_loop`); the calling loop hands it
  coroutines and awaits their results (:mod:`.bridge`). If an asyncio reactor
  already runs in another thread (Scrapy in a thread, say), that one is used.

Any other installed reactor is refused with :class:`ReactorMismatchError`.
"""

from __future__ import annotations

import asyncio
import functools
import sys
import threading
import weakref
from typing import Any

from scrapy_vastcaptcha.api.errors import ReactorMismatchError

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


def client_loop() -> asyncio.AbstractEventLoop:
    """The loop the VastCap client must run on, for a call made from the running loop.

    The running loop itself when the installed asyncio reactor drives it (a
    reactor installed on it but not started yet is started without blocking,
    and released when the loop ends); otherwise the reactor thread's loop.
    """
    loop = asyncio.get_running_loop()
    reactor = _installed()
    if reactor is not None and _loop_of(reactor) is loop:
        if not reactor.running:
            # fires the startup triggers (thread pool included) without
            # blocking: the already running asyncio loop does the actual work
            reactor.startRunning(installSignalHandlers=False)
            _RELEASERS[loop] = loop.create_task(_release_at_loop_end(reactor))
        return loop
    return reactor_thread_loop()


def _loop_of(reactor: Any) -> object:
    """The asyncio loop an asyncio reactor is bound to (``None`` for other reactors)."""
    return getattr(reactor, "_asyncioEventloop", None)


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

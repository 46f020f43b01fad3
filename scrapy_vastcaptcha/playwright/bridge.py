"""Await a coroutine that must run on another event loop (the reactor thread's).

The caller's loop keeps running while the coroutine runs on its own loop;
results, errors and cancellation cross between the two threads. Cancelling
the caller cancels the coroutine and waits (briefly) until it has ended, so
that a stopped helper leaves nothing running on the other loop.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

# how long a cancelled caller waits for the other loop to finish cancelling
_CANCEL_GRACE = 5.0


async def call_in(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on ``loop`` and await its outcome from the running loop."""
    here = asyncio.get_running_loop()
    if loop is here:
        return await coro
    ended: asyncio.Future[T] = here.create_future()
    # nobody may be left to read it once the caller was cancelled
    ended.add_done_callback(_retrieve)
    remote: list[asyncio.Task[T]] = []

    def settle(task: asyncio.Task[T]) -> None:  # on ``loop``
        with contextlib.suppress(RuntimeError):  # the caller's loop is closed
            here.call_soon_threadsafe(_copy, task, ended)

    def start() -> None:  # on ``loop``
        task = loop.create_task(coro)
        task.add_done_callback(settle)
        remote.append(task)

    def cancel() -> None:  # on ``loop``, after start(): call_soon is FIFO
        for task in remote:
            task.cancel()

    try:
        loop.call_soon_threadsafe(start)
    except RuntimeError:  # that loop is closed
        coro.close()
        raise
    try:
        return await asyncio.shield(ended)
    except asyncio.CancelledError:
        loop.call_soon_threadsafe(cancel)
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(asyncio.shield(ended), _CANCEL_GRACE)
        raise


def _copy(source: asyncio.Task[T], target: asyncio.Future[T]) -> None:
    if target.done():
        return
    if source.cancelled():
        target.cancel()
        return
    error = source.exception()
    if error is not None:
        target.set_exception(error)
    else:
        target.set_result(source.result())


def _retrieve(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()

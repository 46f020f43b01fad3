"""Driving the async Playwright API from the Twisted coroutines of pytest-twisted tests."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from twisted.internet import defer

T = TypeVar("T")


def aio(coro: Coroutine[Any, Any, T]) -> defer.Deferred[T]:
    """Run an asyncio coroutine from a Twisted coroutine."""
    return defer.Deferred.fromFuture(asyncio.ensure_future(coro))

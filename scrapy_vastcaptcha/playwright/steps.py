"""The drivers that run a helper flow: one awaits, one blocks.

A flow (see :mod:`.flow`) is a generator that yields :class:`Call` and
:class:`Solve` steps and receives their results. Playwright's async and sync
APIs have the same method names, so one generic :class:`Call` covers every
browser interaction; the drivers differ only in ``await``. Exceptions of a
step are thrown back into the flow, which decides what they mean.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from scrapy_vastcaptcha.api.client import SolveResult
from scrapy_vastcaptcha.api.errors import SolveTimeoutError
from scrapy_vastcaptcha.api.tasks import Task

T = TypeVar("T")


@dataclass(frozen=True)
class Call:
    """``target.method(*args, **kwargs)`` on a Playwright object."""

    target: Any
    method: str
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Solve:
    """Solve ``tasks`` in parallel within ``timeout`` seconds; the result is one
    :class:`SolveResult` or exception per task, in order."""

    tasks: tuple[Task, ...]
    timeout: float


Step = Call | Solve
Flow = Generator[Step, Any, T]
Outcome = SolveResult | Exception
#: What performs :class:`Solve` steps under the async API.
SolveAll = Callable[[Sequence[Task], float], Awaitable[list[Outcome]]]

#: Beyond a flow's deadline: time for its last browser calls to return.
GRACE = 5.0


async def run_async(flow: Flow[T], solve: SolveAll | None = None) -> T:
    """Run ``flow`` with the async Playwright API; ``solve`` performs :class:`Solve` steps."""
    driver = _Driver(flow)
    step = driver.advance()
    while step is not None:
        try:
            value = await _begin(step, solve)
        except Exception as exc:
            step = driver.advance(error=exc)
        else:
            step = driver.advance(value)
    return driver.result


async def run_async_until(flow: Flow[T], solve: SolveAll | None, deadline: float, limit: str) -> T:
    """:func:`run_async` for at most :data:`GRACE` seconds past ``deadline``
    (on ``time.monotonic()``).

    A flow's own waits and solves end by its deadline; one still running after
    the grace is stuck in a page that stopped answering, and is cancelled with
    a :class:`SolveTimeoutError` that names ``limit`` (what set the deadline).
    """
    seconds = deadline + GRACE - time.monotonic()
    try:
        return await asyncio.wait_for(run_async(flow, solve), seconds)
    except asyncio.TimeoutError:
        raise SolveTimeoutError(
            f"the page was not done within {limit}: it stopped answering"
        ) from None


def run_sync(
    flow: Flow[T], solve: Callable[[Sequence[Task], float], list[Outcome]] | None = None
) -> T:
    """Run ``flow`` with the sync Playwright API; ``solve`` performs :class:`Solve` steps."""
    driver = _Driver(flow)
    step = driver.advance()
    while step is not None:
        try:
            value = _begin(step, solve)
        except Exception as exc:
            step = driver.advance(error=exc)
        else:
            step = driver.advance(value)
    return driver.result


def _begin(step: Step, solve: Callable[[Sequence[Task], float], Any] | None) -> Any:
    """Perform ``step``: its outcome, or under the async API the awaitable of it."""
    if isinstance(step, Solve):
        if solve is None:
            raise TypeError("this flow cannot solve")
        return solve(step.tasks, step.timeout)
    return getattr(step.target, step.method)(*step.args, **step.kwargs)


class _Driver(Generic[T]):
    """Steps a flow: hands it the outcome of its last step, takes its next one."""

    def __init__(self, flow: Flow[T]) -> None:
        self._flow = flow
        self.result: T

    def advance(self, value: Any = None, error: Exception | None = None) -> Step | None:
        """The next step, or ``None`` once the flow has returned :attr:`result`.

        ``error`` (an exception of the last step) is thrown into the flow,
        which decides what it means."""
        try:
            return self._flow.send(value) if error is None else self._flow.throw(error)
        except StopIteration as stop:
            self.result = stop.value
            return None

"""The two drivers that run a helper flow: one awaits, one blocks.

A flow (see :mod:`.flow`) is a generator that yields :class:`Call` and
:class:`Solve` steps and receives their results. Playwright's async and sync
APIs have the same method names, so one generic :class:`Call` covers every
browser interaction; the drivers differ only in ``await``. Exceptions of a
step are thrown back into the flow, which decides what they mean.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from scrapy_vastcaptcha.api.client import SolveResult
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


async def run_async(
    flow: Flow[T], solve: Callable[[Sequence[Task], float], Awaitable[list[Outcome]]] | None = None
) -> T:
    """Run ``flow`` with the async Playwright API; ``solve`` performs :class:`Solve` steps."""
    value: Any = None
    error: Exception | None = None
    while True:
        try:
            step = flow.send(value) if error is None else flow.throw(error)
        except StopIteration as stop:
            result: T = stop.value
            return result
        value, error = None, None
        try:
            if isinstance(step, Solve):
                if solve is None:
                    raise TypeError("this flow cannot solve")
                value = await solve(step.tasks, step.timeout)
            else:
                value = await getattr(step.target, step.method)(*step.args, **step.kwargs)
        except Exception as exc:
            error = exc


def run_sync(
    flow: Flow[T], solve: Callable[[Sequence[Task], float], list[Outcome]] | None = None
) -> T:
    """Run ``flow`` with the sync Playwright API; ``solve`` performs :class:`Solve` steps."""
    value: Any = None
    error: Exception | None = None
    while True:
        try:
            step = flow.send(value) if error is None else flow.throw(error)
        except StopIteration as stop:
            result: T = stop.value
            return result
        value, error = None, None
        try:
            if isinstance(step, Solve):
                if solve is None:
                    raise TypeError("this flow cannot solve")
                value = solve(step.tasks, step.timeout)
            else:
                value = getattr(step.target, step.method)(*step.args, **step.kwargs)
        except Exception as exc:
            error = exc

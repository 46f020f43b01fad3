"""Polling simulated on a fake clock: how many calls and how much delay a
:class:`~scrapy_vastcaptcha.api._learning.SolveTimeModel` costs for given
solve times. Pure (no sleeps, no network); used by tests/test_learning.py.

Each solve runs as the client runs it: ask the plan for a wait, "call"
``getTaskResult`` when it is over, which answers "processing" until the
drawn solve time and "ready" from then on, tell the plan each answer, and
close it when the task ends. Solves run one after the other, or at once
from given start times (events in time order on one fake clock).
"""

from __future__ import annotations

import heapq
import itertools
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from scrapy_vastcaptcha.api._learning import PollPlan, SolveTimeModel
from scrapy_vastcaptcha.api._schedule import TOKEN_SCHEDULE, PollSchedule


@dataclass(frozen=True)
class SimulatedSolve:
    """One simulated task."""

    #: When the token became ready, seconds after ``createTask``.
    solve_time: float
    #: When each ``getTaskResult`` call was made, seconds after ``createTask``.
    calls: tuple[float, ...]
    #: Whether the last call found the token ready (else the deadline passed).
    solved: bool
    #: Whether the plan was a learned one.
    learned: bool

    @property
    def delay(self) -> float:
        """Seconds between "ready" and the call that noticed it (of a solved task)."""
        return self.calls[-1] - self.solve_time


def simulate(
    model: SolveTimeModel,
    solve_times: Sequence[float],
    *,
    starts: Sequence[float] | None = None,
    task_type: str = "recaptcha-v2",
    sitekey: str | None = None,
    default: PollSchedule = TOKEN_SCHEDULE,
    deadline: float = 180.0,
    learn: bool = True,
) -> list[SimulatedSolve]:
    """One solve per entry of ``solve_times``, each planned by ``model``
    from what it has seen so far: one after the other, or if ``starts`` is
    given, each created at its start time (seconds), all running at once."""
    if starts is not None and len(starts) != len(solve_times):
        raise ValueError("one start per solve time")
    # (when, order, solve index, plan or None to create it); order breaks ties.
    events: list[tuple[float, int, int, PollPlan | None]] = []
    order = itertools.count()
    calls: list[list[float]] = [[] for _ in solve_times]
    created = [0.0] * len(solve_times)
    plans: list[PollPlan | None] = [None] * len(solve_times)
    for n, at in enumerate(starts or [0.0]):
        heapq.heappush(events, (at, next(order), n, None))
    while events:
        now, _, n, plan = heapq.heappop(events)
        if plan is None:
            plan = plans[n] = model.planner(task_type, sitekey, default, deadline, learn=learn)
            created[n] = now
        else:
            elapsed = now - created[n]
            calls[n].append(elapsed)
            plan.sent(elapsed)
            plan.answered(ready=elapsed >= solve_times[n])
        elapsed = now - created[n]
        wait = None if calls[n] and elapsed >= solve_times[n] else plan.next_wait(elapsed)
        if wait is not None:
            heapq.heappush(events, (now + wait, next(order), n, plan))
            continue
        plan.close()
        if starts is None and n + 1 < len(solve_times):
            heapq.heappush(events, (now, next(order), n + 1, None))
    return [
        SimulatedSolve(
            solve_time, tuple(made), bool(made) and made[-1] >= solve_time, bool(p and p.learned)
        )
        for solve_time, made, p in zip(solve_times, calls, plans, strict=True)
    ]


def report_solve(
    model: SolveTimeModel, task_type: str, sitekey: str | None, low: float, high: float
) -> None:
    """Tell ``model``, through a plan as the client does, of one task found
    still processing at ``low`` (none if 0) and ready at ``high``."""
    plan = model.planner(task_type, sitekey, TOKEN_SCHEDULE, 180.0)
    if low > 0:
        plan.sent(low)
        plan.answered(ready=False)
    plan.sent(high)
    plan.answered(ready=True)
    plan.close()


@dataclass(frozen=True)
class Summary:
    """Figures over the solved tasks of a simulation."""

    solves: int
    calls_per_solve: float
    median_delay: float
    p90_delay: float

    @classmethod
    def of(cls, solves: Iterable[SimulatedSolve]) -> Summary:
        solved = [s for s in solves if s.solved]
        delays = sorted(s.delay for s in solved)
        return cls(
            solves=len(solved),
            calls_per_solve=statistics.fmean(len(s.calls) for s in solved),
            median_delay=statistics.median(delays),
            p90_delay=delays[min(len(delays) - 1, int(0.9 * len(delays)))],
        )

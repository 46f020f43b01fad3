"""Polling simulated on a fake clock: how many calls and how much delay a
:class:`~scrapy_vastcaptcha.api._learning.SolveTimeModel` costs for given
solve times. Pure (no sleeps, no network); used by tests/test_learning.py.

Each solve runs as the client runs it: ask the plan for a wait, "call"
``getTaskResult`` when it is over, which answers "processing" until the
drawn solve time and "ready" from then on, and report the ready interval
to the model.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass

from scrapy_vastcaptcha.api._learning import SolveTimeModel
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
    solve_times: Iterable[float],
    *,
    task_type: str = "recaptcha-v2",
    sitekey: str | None = None,
    default: PollSchedule = TOKEN_SCHEDULE,
    deadline: float = 180.0,
    learn: bool = True,
) -> list[SimulatedSolve]:
    """One solve per entry of ``solve_times``, in order, each planned by
    ``model`` from the solves before it."""
    solves = []
    for solve_time in solve_times:
        plan = model.planner(task_type, sitekey, default, deadline, learn=learn)
        elapsed, last_processing = 0.0, 0.0
        calls: list[float] = []
        while (wait := plan.next_wait(elapsed)) is not None:
            elapsed += wait
            calls.append(elapsed)
            if elapsed >= solve_time:
                model.observe(task_type, sitekey, last_processing, elapsed)
                break
            last_processing = elapsed
        solves.append(
            SimulatedSolve(
                solve_time, tuple(calls), bool(calls) and elapsed >= solve_time, plan.learned
            )
        )
    return solves


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

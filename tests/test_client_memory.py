"""The client in memory: the emulator's resource tree behind treq's
``RequestTraversalAgent`` (no socket), on a fake clock (no sleeps).

What a crawl sees of learned polling: fixed schedule first, then fewer polls
and quicker notice; the 2 s floor between polls of a task and the solve
deadline; plans that follow solve times when they change; pinned schedules
that learn nothing; failures that teach nothing; bounded memory.
"""

from __future__ import annotations

import itertools
import json
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import pytest
from treq.testing import RequestTraversalAgent
from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.python.failure import Failure
from twisted.web.iweb import IAgent
from zope.interface import implementer

from scrapy_vastcaptcha.api import (
    PollSchedule,
    RecaptchaV2Task,
    SolveTimeoutError,
    TaskFailedError,
    TurnstileTask,
    VastCaptchaClient,
)
from scrapy_vastcaptcha.api._learning import MIN_GAP, MIN_SAMPLES
from scrapy_vastcaptcha.api.client import POLL_TICK, SolveResult
from scrapy_vastcaptcha.emulator import EmulatorConfig, EmulatorState
from scrapy_vastcaptcha.emulator.server import PendingAnswers, build_site_root
from scrapy_vastcaptcha.testing import EmulatorHandle

API_URL = "https://vastcap.test/api/solver"
WARM_UP = 20


@dataclass(frozen=True)
class Poll:
    at: float
    task_id: str


@implementer(IAgent)
class RecordingAgent:
    """An IAgent that notes when each getTaskResult call was made, for which task."""

    def __init__(self, agent: RequestTraversalAgent, clock: Clock) -> None:
        self.agent = agent
        self.clock = clock
        self.polls: list[Poll] = []

    def request(
        self, method: bytes, uri: bytes, headers: Any = None, bodyProducer: Any = None
    ) -> defer.Deferred[Any]:
        if uri.endswith(b"/getTaskResult"):
            body = json.loads(bodyProducer.body)
            self.polls.append(Poll(self.clock.seconds(), body["taskId"]))
        return self.agent.request(method, uri, headers, bodyProducer)  # type: ignore[no-any-return]


class MemoryApi:
    """The emulator serving from memory on a fake clock."""

    def __init__(self, solve_time: tuple[float, float], **config: Any) -> None:
        self.clock = Clock()
        self.clock.advance(1_000.0)
        self.state = EmulatorState(
            EmulatorConfig(solve_time=solve_time, seed=1, **config), clock=self.clock.seconds
        )
        # Clock is a scheduler; its callLater's parameter names differ from the protocol's.
        root = build_site_root(self.state, PendingAnswers(cast(Any, self.clock)))
        self.agent = RecordingAgent(RequestTraversalAgent(root), self.clock)

    def client(self, **options: Any) -> VastCaptchaClient:
        return VastCaptchaClient(
            EmulatorHandle.api_key, API_URL, agent=self.agent, reactor=self.clock, **options
        )

    def run(self, *calls: defer.Deferred[Any], limit: float = 3_600.0) -> list[Any]:
        """Move the fake clock from one scheduled call to the next until every
        call has ended; their results (or Failures)."""
        results: dict[int, Any] = {}
        for n, d in enumerate(calls):
            d.addBoth(_store(results, n))
        end = self.clock.seconds() + limit
        while True:
            self.agent.agent.flush()
            if len(results) == len(calls):
                return [results[n] for n in range(len(calls))]
            pending: Sequence[Any] = self.clock.getDelayedCalls()
            assert pending, "nothing scheduled and calls still running"
            at = min(call.getTime() for call in pending)
            assert at <= end, f"still running after {limit:g} s"
            self.clock.advance(max(0.0, at - self.clock.seconds()))

    def solve(self, client: VastCaptchaClient, n: int = 0, **options: Any) -> Any:
        return self.run(client.solve(task(n), **options))[0]

    def solve_each(self, client: VastCaptchaClient, count: int) -> list[SolveResult]:
        """``count`` solves one after the other (each learns from those before)."""
        results = [self.solve(client, n) for n in range(count)]
        assert all(isinstance(r, SolveResult) for r in results)
        return results

    def polls_of(self, task_id: str) -> list[float]:
        """When each poll of a task was sent, seconds after its createTask."""
        created = next(t["created_at"] for t in self.state.tasks() if t["task_id"] == task_id)
        return [p.at - created for p in self.agent.polls if p.task_id == task_id]

    def figures(self, results: Sequence[SolveResult]) -> tuple[float, float]:
        """Polls per solve and the median delay between ready and noticed."""
        records = {t["task_id"]: t for t in self.state.tasks()}
        solved = [records[r.task_id] for r in results]
        return (
            statistics.fmean(t["polls"] for t in solved),
            statistics.median(t["delivered_at"] - t["ready_at"] for t in solved),
        )


def _store(results: dict[int, Any], n: int) -> Any:
    def store(result: Any) -> None:
        results[n] = result

    return store


def task(n: int = 0, sitekey: str = "sitekey-demo-1") -> RecaptchaV2Task:
    return RecaptchaV2Task(website_url=f"https://shop.example/p/{n}", website_key=sitekey)


def gaps(times: Sequence[float]) -> list[float]:
    return [later - earlier for earlier, later in itertools.pairwise(times)]


def test_a_solve_runs_in_memory_with_no_socket() -> None:
    api = MemoryApi((12.0, 18.0))
    # The client's reactor is a bare Clock: it could not open a socket if it tried.
    client = api.client()
    result = api.solve(client)
    balance = api.run(client.get_balance())[0]
    api.run(client.close())
    assert isinstance(result, SolveResult)
    (record,) = api.state.tasks()
    assert record["status"] == "ready"
    assert result.token
    assert result.polls == record["polls"] == len(api.agent.polls)
    assert 12.0 <= result.elapsed <= 18.0 + 3.0
    assert balance < 10.0


def test_fixed_schedule_until_a_kind_has_enough_solves() -> None:
    api = MemoryApi((20.0, 20.0))
    client = api.client()
    first = api.solve_each(client, MIN_SAMPLES)
    for result in first:
        polls = api.polls_of(result.task_id)
        assert polls[0] == pytest.approx(5.0)
        assert gaps(polls) == pytest.approx([3.0] * (len(polls) - 1))
    assert [r.polls for r in first] == [6] * MIN_SAMPLES
    # Eight solves seen: the next polls where 20 s solves end.
    learned = api.solve(client)
    assert learned.polls <= 3
    assert api.polls_of(learned.task_id)[0] > 15.0


def test_fewer_polls_and_quicker_notice_on_12_to_18_s_solves() -> None:
    figures = {}
    for name, options in (("learned", {}), ("fixed", {"poll_interval": 3.0})):
        api = MemoryApi((12.0, 18.0))
        results = api.solve_each(api.client(**options), WARM_UP + 60)[WARM_UP:]
        figures[name] = api.figures(results)
        if name == "learned":
            for result in results:
                polls = api.polls_of(result.task_id)
                assert min(gaps(polls), default=MIN_GAP) >= MIN_GAP - 1e-6
    (learned_polls, learned_delay), (fixed_polls, fixed_delay) = figures.values()
    assert learned_polls <= 3.0 < fixed_polls
    # About 1.0 s is the floor for polls 2 s apart on uniform 12-18 s solves.
    assert learned_delay <= 1.2
    assert learned_delay < fixed_delay - 0.3


def test_plan_follows_solve_times_that_change() -> None:
    api = MemoryApi((9.0, 11.0))
    client = api.client()
    api.solve_each(client, 30)
    api.state.configure({"solve_time": [24.0, 26.0]})
    slower = api.solve_each(client, 50)
    # The old fast solves fade out of the plan within about 33 solves.
    for result in slower[35:]:
        assert result.polls <= 3
        assert api.polls_of(result.task_id)[0] >= 20.0
    api.state.configure({"solve_time": [9.0, 11.0]})
    faster = api.solve_each(client, 20)
    for result in faster[8:]:
        assert api.polls_of(result.task_id)[0] <= 11.0
    assert api.figures(faster[8:])[1] <= 1.5


def test_no_poll_past_the_deadline_and_none_within_2_s() -> None:
    api = MemoryApi((12.0, 18.0))
    client = api.client()
    api.solve_each(client, WARM_UP)
    api.state.configure({"solve_time": [100.0, 100.0]})
    for timeout in (13.0, 17.5, 21.0):
        started = api.clock.seconds()
        failure = api.solve(client, timeout=timeout)
        assert isinstance(failure, Failure)
        assert failure.check(SolveTimeoutError)
        polls = [p.at - started for p in api.agent.polls if p.at >= started]
        assert polls, "a poll was made"
        assert max(polls) <= timeout + 1e-6
        assert min(gaps(polls), default=MIN_GAP) >= MIN_GAP - 1e-6
    # Each timeout is kept as "longer than its last processing answer" (for
    # the type and the site key), and does not pull the plan past 18 s solves.
    assert client.solve_times.stored_samples == 2 * (WARM_UP + 3)
    api.state.configure({"solve_time": [12.0, 18.0]})
    assert api.solve(client).polls <= 4


def test_failed_tasks_give_no_plan_of_their_own() -> None:
    api = MemoryApi((12.0, 18.0), faults={"unsolvable": 1.0})
    client = api.client(max_task_attempts=2)
    failure = api.solve(client)
    assert isinstance(failure, Failure)
    assert failure.check(TaskFailedError)
    # Both tasks are kept as "longer than their last processing answer",
    # for the type and the site key; no solve was seen, so no plan is learned.
    model = client.solve_times
    assert model.stored_samples == 2 * 2
    api.state.configure({"faults": {"unsolvable": 0.0}})
    for result in api.solve_each(client, MIN_SAMPLES):
        polls = api.polls_of(result.task_id)
        assert polls[0] == pytest.approx(5.0)


def test_solves_started_together_are_not_learned_as_quick() -> None:
    # 60 solves of 10-30 s started at once: the first to end are the quick
    # ones. Counting those still pending as "longer than so far" keeps the
    # next plans' first polls near the true early quantile (13 s).
    api = MemoryApi((10.0, 30.0))
    client = api.client(max_connections=64)
    burst = api.run(*(client.solve(task(n)) for n in range(60)))
    assert all(isinstance(r, SolveResult) for r in burst)
    later = api.solve_each(client, 10)
    first_polls = [api.polls_of(r.task_id)[0] for r in later]
    assert 11.0 <= statistics.median(first_polls) <= 15.0


def test_poll_interval_pins_every_kind_and_learns_nothing() -> None:
    api = MemoryApi((12.0, 18.0))
    client = api.client(poll_interval=3.0)
    results = api.solve_each(client, 12)
    assert client.solve_times.stored_samples == 0
    for result in results:
        polls = api.polls_of(result.task_id)
        assert polls[0] == pytest.approx(5.0)
        assert gaps(polls) == pytest.approx([3.0] * (len(polls) - 1))


def test_schedules_pin_the_kinds_they_name_only() -> None:
    api = MemoryApi((12.0, 18.0))
    pinned = PollSchedule(first_wait=1.0, interval=1.0)
    client = api.client(schedules={"recaptcha-v2": pinned})
    turnstile = TurnstileTask(website_url="https://shop.example/", website_key="0x4AAAAAAAB")
    for n in range(MIN_SAMPLES):
        assert isinstance(api.solve(client, n), SolveResult)
        assert isinstance(api.run(client.solve(turnstile))[0], SolveResult)
    recaptcha = api.solve(client)
    polls = api.polls_of(recaptcha.task_id)
    assert gaps(polls) == pytest.approx([1.0] * (len(polls) - 1))
    model = client.solve_times
    assert not model.planner("recaptcha-v2", None, pinned, 180.0).learned
    assert model.planner("turnstile", None, pinned, 180.0).learned


def test_memory_stays_bounded_over_many_site_keys() -> None:
    api = MemoryApi((12.0, 18.0))
    client = api.client(max_connections=64)
    keys = 300
    results = api.run(*(client.solve(task(n, f"sitekey-{n:04d}")) for n in range(keys)))
    assert all(isinstance(r, SolveResult) for r in results)
    model = client.solve_times
    # One sample for each of the last max_keys site keys, a window for the type.
    assert model.stored_samples == model.max_keys + model.window


def test_polls_of_many_solves_share_ticks() -> None:
    # Solves started at odd times poll on the same POLL_TICK ticks, so a crawl's
    # polls share reactor turns; the 2 s floor still holds.
    api = MemoryApi((12.0, 18.0))
    client = api.client(max_connections=64)
    solves = []
    for n in range(20):
        api.clock.advance(0.013)
        solves.append(client.solve(task(n)))
    results = api.run(*solves)
    assert all(isinstance(r, SolveResult) for r in results)
    polls = [p.at for p in api.agent.polls]
    assert len(polls) >= 20
    assert all(abs(at / POLL_TICK - round(at / POLL_TICK)) < 1e-6 for at in polls)
    for result in results:
        assert min(gaps(api.polls_of(result.task_id)), default=MIN_GAP) >= MIN_GAP - 1e-6

"""The spend guard in one process: settings, the spend book, the guard driven
by a fake account on a ``Clock`` (the VastCap service is the only mock), and
the guard as a real client's gate against the emulator."""

from __future__ import annotations

import logging
from collections.abc import Coroutine
from typing import Any

import pytest
import pytest_twisted
from scrapy.settings import Settings
from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.python.failure import Failure

from scrapy_vastcaptcha.api.client import VastCaptchaClient
from scrapy_vastcaptcha.api.errors import (
    BudgetExhaustedError,
    ConfigurationError,
    TransportError,
)
from scrapy_vastcaptcha.api.gate import TaskGate
from scrapy_vastcaptcha.api.tasks import ImageToTextTask, RecaptchaV2Task
from scrapy_vastcaptcha.budget import (
    REASON_BUDGET,
    REASON_MIN_BALANCE,
    WAIT_POLL,
    BudgetConfig,
    BudgetGuard,
    SpendBook,
    projected_spend,
    spend_admission,
)
from scrapy_vastcaptcha.testing import EmulatorHandle

TASK = ImageToTextTask(image="aGVsbG8=")


class FakeAccount:
    """The VastCap account: charged when a task is solved, as the service does.
    ``hold`` makes getBalance answers wait until ``answer()``."""

    def __init__(self, balance: float = 10.0, price: float = 0.002) -> None:
        self.balance = balance
        self.price = price
        self.calls = 0
        self.hold = False
        self.fail = False
        self.pending: list[defer.Deferred[float]] = []

    def get_balance(self) -> defer.Deferred[float]:
        self.calls += 1
        if self.fail:
            return defer.fail(TransportError("connection refused", method="getBalance"))
        if self.hold:
            d: defer.Deferred[float] = defer.Deferred()
            self.pending.append(d)
            return d
        return defer.succeed(self.balance)

    def answer(self) -> None:
        pending, self.pending = self.pending, []
        for d in pending:
            d.callback(self.balance)

    def solve(self) -> None:
        self.balance -= self.price


def config(**settings: Any) -> BudgetConfig:
    return BudgetConfig.from_settings(Settings(settings), "shop")


def now(coro: Coroutine[Any, Any, Any]) -> Any:
    """The result of a coroutine that must finish without the clock moving."""
    outcome: list[Any] = []
    defer.Deferred.fromCoroutine(coro).addBoth(outcome.append)
    assert outcome, "still waiting"
    if isinstance(outcome[0], Failure):
        outcome[0].raiseException()
    return outcome[0]


def guard_for(
    account: FakeAccount, clock: Clock, stops: list[str] | None = None, **settings: Any
) -> BudgetGuard:
    on_stop = stops.append if stops is not None else None
    guard = BudgetGuard(
        config(**settings),
        account.get_balance,
        reactor=clock,
        wall_clock=clock.seconds,
        on_stop=on_stop,
    )
    now(guard.open())
    return guard


# -- settings ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("VASTCAPTCHA_MAX_TASKS", -1, "not below 0"),
        ("VASTCAPTCHA_MAX_TASKS", "ten", "must be a number"),
        ("VASTCAPTCHA_MAX_SPEND", "-0.5", "not below 0"),
        ("VASTCAPTCHA_MAX_SPEND", "5 USD", "must be a number"),
        ("VASTCAPTCHA_MAX_SPEND", "nan", "not below 0"),
        ("VASTCAPTCHA_MIN_BALANCE", "low", "must be a number"),
        ("VASTCAPTCHA_MIN_BALANCE", -1, "not below 0"),
        ("VASTCAPTCHA_MAX_CONCURRENT", True, "must be a number"),
        ("VASTCAPTCHA_BALANCE_CHECK_TASKS", 0, "must be positive"),
        ("VASTCAPTCHA_BALANCE_CHECK_INTERVAL", "-3", "not below 0"),
        ("VASTCAPTCHA_LEASE_TIME", 0, "must be positive"),
        ("VASTCAPTCHA_STOP_AT_MIN_BALANCE", "maybe", "cannot use"),
    ],
)
def test_bad_setting_is_named(name: str, value: object, message: str) -> None:
    with pytest.raises(ConfigurationError, match=name) as info:
        config(**{name: value})
    assert message in str(info.value)


def test_stop_at_min_balance_needs_a_min_balance() -> None:
    with pytest.raises(ConfigurationError, match="VASTCAPTCHA_MIN_BALANCE is not"):
        config(VASTCAPTCHA_STOP_AT_MIN_BALANCE=True)


def test_crawl_name_that_cannot_name_keys() -> None:
    with pytest.raises(ConfigurationError, match="VASTCAPTCHA_CRAWL_NAME"):
        config(VASTCAPTCHA_CRAWL_NAME="a{b}")


def test_settings_as_strings_and_defaults() -> None:
    parsed = config(
        VASTCAPTCHA_MAX_TASKS="100",
        VASTCAPTCHA_MAX_SPEND="2.5",
        VASTCAPTCHA_MIN_BALANCE="1",
        VASTCAPTCHA_STOP_AT_MIN_BALANCE="true",
    )
    assert (parsed.max_tasks, parsed.max_spend, parsed.min_balance) == (100, 2.5, 1.0)
    assert parsed.stop_at_min_balance
    assert parsed.crawl_name == "shop"
    assert parsed.redis_url is None
    assert parsed.active
    assert not config().active
    assert config(VASTCAPTCHA_REDIS_URL="redis://own/1").active
    assert config().needs_balance is False


def test_redis_url_follows_the_scrapy_redis_scheduler() -> None:
    scheduler = {"SCHEDULER": "scrapy_redis.scheduler.Scheduler"}
    inherited = config(**scheduler, REDIS_URL="redis://:secret@cache:6380/2")
    assert inherited.redis_url == "redis://:secret@cache:6380/2"
    assert inherited.redis_url_setting == "REDIS_URL"
    by_host = config(**scheduler, REDIS_HOST="cache")
    assert by_host.redis_url == "redis://cache:6379/0"
    # Another scheduler: REDIS_URL belongs to something else.
    assert config(REDIS_URL="redis://cache/0").redis_url is None
    # An empty URL keeps the limits per process even with scrapy-redis.
    assert config(**scheduler, REDIS_URL="redis://x/0", VASTCAPTCHA_REDIS_URL="").redis_url is None
    own = config(VASTCAPTCHA_REDIS_URL="redis://own/1", VASTCAPTCHA_CRAWL_NAME="fleet-7")
    assert (own.redis_url, own.crawl_name) == ("redis://own/1", "fleet-7")


# -- the spend book --------------------------------------------------------------


def test_spend_book_counts_drops_not_top_ups_nor_stale_readings() -> None:
    book = SpendBook()
    assert book.record(10.0, taken_at=1, finished=0).spent == 0
    assert book.record(9.5, taken_at=2, finished=50).spent == pytest.approx(0.5)
    # A top-up is not negative spending, and what is spent after it counts.
    assert book.record(20.0, taken_at=3, finished=60).spent == pytest.approx(0.5)
    assert book.record(19.0, taken_at=4, finished=150).spent == pytest.approx(1.5)
    # A reading taken before the last one recorded arrives late: ignored.
    spend = book.record(19.8, taken_at=3.5, finished=70)
    assert (spend.start, spend.balance, book.finished) == (10.0, 19.0, 150)
    assert spend.spent == pytest.approx(1.5)


@pytest.mark.parametrize(
    ("spent", "seen", "tasks", "finished", "decision"),
    [
        (0.0, 0, 2, 0, "ok"),  # no cost seen yet: up to `every` (3) unfinished
        (0.0, 0, 3, 0, "wait"),
        (0.0, 0, 3, 1, "ok"),
        (0.40, 40, 45, 42, "ok"),  # projected 0.40 + 6 * 0.01 * 1.32 = 0.48
        (0.40, 40, 50, 42, "wait"),  # projected 0.54: wait for tasks to finish
        (0.40, 40, 50, 43, "read"),  # 3 finished since the reading: read again
        (0.40, 40, 50, 50, "read"),  # all over: read again
        (0.48, 48, 48, 48, "ok"),  # all over and measured: one more fits
        (0.495, 49, 49, 49, "stop"),  # all over and measured: one more would pass
    ],
)
def test_spend_admission(spent: float, seen: int, tasks: int, finished: int, decision: str) -> None:
    assert spend_admission(0.5, 3, spent, seen, tasks, finished) == decision
    assert spend_admission(0, 3, spent, seen, tasks, finished) == "ok"


def test_projected_spend_prices_unfinished_tasks_at_the_average() -> None:
    # 40 tasks over cost 0.20: the 10 unfinished ones are expected to cost
    # 0.05, plus 2/sqrt(40) = 32 % for the uncertainty of that average.
    assert projected_spend(0.2, tasks=50, finished=40) == pytest.approx(0.2 + 0.05 * 1.3162, 1e-4)
    # Nothing measured yet: nothing to project from.
    assert projected_spend(0.0, tasks=50, finished=40) == 0.0
    assert projected_spend(0.3, tasks=50, finished=0) == 0.3


# -- the guard ------------------------------------------------------------------


def test_max_tasks_refuses_the_next_task_and_closes_with_the_reason() -> None:
    clock, account, stops = Clock(), FakeAccount(), list[str]()
    guard = guard_for(account, clock, stops, VASTCAPTCHA_MAX_TASKS=3)
    for _ in range(3):
        lease = now(guard.acquire(TASK))
        guard.created(lease, "task-id")
        guard.release(lease)
    with pytest.raises(BudgetExhaustedError) as info:
        now(guard.acquire(TASK))
    assert info.value.reason == REASON_BUDGET
    assert info.value.code == "BUDGET_EXHAUSTED"
    clock.advance(0)
    assert stops == [REASON_BUDGET]
    # Every later acquire is refused too, and on_stop is not called again.
    with pytest.raises(BudgetExhaustedError):
        now(guard.acquire(TASK))
    clock.advance(0)
    assert stops == [REASON_BUDGET]
    assert guard.stats()["vastcaptcha/budget/tasks"] == 3
    assert "3/3 tasks" in guard.summary()
    assert "stopped: vastcaptcha_budget_exhausted" in guard.summary()


def test_at_the_cap_a_task_waits_until_the_last_admitted_one_is_created() -> None:
    """Stopping the run cancels every solve: a stop while the last admitted
    task is still on its way to the service would cancel a task it counted."""
    clock, account, stops = Clock(), FakeAccount(), list[str]()
    guard = guard_for(account, clock, stops, VASTCAPTCHA_MAX_TASKS=2)
    first = now(guard.acquire(TASK))
    guard.created(first, "task-1")
    second = now(guard.acquire(TASK))
    third: list[Any] = []
    defer.Deferred.fromCoroutine(guard.acquire(TASK)).addBoth(third.append)
    clock.advance(WAIT_POLL * 10)
    assert third == []
    assert stops == []
    guard.created(second, "task-2")
    assert isinstance(third[0], Failure)
    assert third[0].check(BudgetExhaustedError)
    clock.advance(0)
    assert stops == [REASON_BUDGET]
    assert guard.stats()["vastcaptcha/budget/tasks"] == 2


def test_a_task_never_sent_is_given_back() -> None:
    clock, account, stops = Clock(), FakeAccount(), list[str]()
    guard = guard_for(account, clock, stops, VASTCAPTCHA_MAX_TASKS=2)
    first = now(guard.acquire(TASK))
    guard.created(first, "task-1")
    cancelled = now(guard.acquire(TASK))
    waiting = defer.Deferred.fromCoroutine(guard.acquire(TASK))
    # The client cancels the second solve before its createTask goes out.
    guard.unsent(cancelled)
    guard.release(cancelled)
    # The task waiting at the cap takes the place given back.
    assert waiting.called
    guard.created(waiting.result, "task-2")
    with pytest.raises(BudgetExhaustedError):
        now(guard.acquire(TASK))
    stats = guard.stats()
    assert stats["vastcaptcha/budget/tasks"] == stats["vastcaptcha/budget/tasks_here"] == 2
    # Told about a task that exists, or about a lease not its own: ignored.
    guard.unsent(first)
    guard.release(first)
    guard.unsent("not-a-lease")
    assert guard.stats()["vastcaptcha/budget/tasks"] == 2


def test_tasks_wait_for_the_reading_due_every_k_tasks() -> None:
    clock, account = Clock(), FakeAccount()
    guard = guard_for(account, clock, VASTCAPTCHA_BALANCE_CHECK_TASKS=4)
    assert account.calls == 1  # the starting balance
    account.hold = True
    for _ in range(4):
        now(guard.acquire(TASK))
    assert account.calls == 2  # the 4th task made a reading due
    fifth = defer.Deferred.fromCoroutine(guard.acquire(TASK))
    clock.advance(5)
    assert not fifth.called, "a task was created while the due reading was pending"
    account.answer()
    assert fifth.called


def test_a_failed_reading_does_not_block_tasks(caplog: pytest.LogCaptureFixture) -> None:
    clock, account = Clock(), FakeAccount()
    guard = guard_for(account, clock, VASTCAPTCHA_BALANCE_CHECK_TASKS=2)
    account.fail = True
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            now(guard.acquire(TASK))
    assert "balance reading failed" in caplog.text


def crawl_until_refused(
    guard: BudgetGuard, account: FakeAccount, clock: Clock, in_flight: int, fails: int = 0
) -> tuple[int, int, str]:
    """A crawl that keeps up to ``in_flight`` tasks pending, finishing the
    oldest when the guard makes a task wait; every ``fails``-th task fails
    (free), the others are charged when solved. Ends once every task is over:
    (tasks created, most pending at once, the reason of the refusal)."""
    pending: list[tuple[int, object]] = []
    created = most = 0

    def finish() -> None:
        number, lease = pending.pop(0)
        if not fails or number % fails:
            account.solve()
        guard.release(lease)

    for _ in range(10_000):  # far more than any cap in these tests allows
        if len(pending) >= in_flight:
            finish()
        outcome: list[Any] = []
        defer.Deferred.fromCoroutine(guard.acquire(TASK)).addBoth(outcome.append)
        for _ in range(1000):
            if outcome:
                break
            if pending:
                finish()
            clock.advance(WAIT_POLL)
        assert outcome, "a task waits for ever"
        if isinstance(outcome[0], Failure):
            refusal = outcome[0].value
            assert isinstance(refusal, BudgetExhaustedError)
            break
        guard.created(outcome[0], f"task-{created}")
        created += 1
        pending.append((created, outcome[0]))
        most = max(most, len(pending))
    else:
        raise AssertionError("the budget never stopped the crawl")
    while pending:
        finish()
    return created, most, refusal.reason


@pytest.mark.parametrize(("in_flight", "fails"), [(1, 0), (8, 0), (200, 0), (50, 3)])
def test_max_spend_stops_within_the_stated_overshoot(in_flight: int, fails: int) -> None:
    """Whatever the tasks in flight, the spend stays within the stated worst
    case, (BALANCE_CHECK_TASKS + tasks in flight) tasks past the cap, and,
    with one price and no failures, within a task of the cap."""
    clock, account, stops = Clock(), FakeAccount(balance=10.0, price=0.01), list[str]()
    k, cap = 5, 0.5
    guard = guard_for(
        account, clock, stops, VASTCAPTCHA_MAX_SPEND=cap, VASTCAPTCHA_BALANCE_CHECK_TASKS=k
    )
    created, most, reason = crawl_until_refused(guard, account, clock, in_flight, fails)
    assert reason == REASON_BUDGET
    spent = 10.0 - account.balance
    assert spent - cap <= (k + most) * account.price + 1e-9
    # Free failures leave room, which is used: no early stop.
    assert spent > cap - account.price - 1e-9
    if not fails:
        assert spent <= cap + 1e-9
    # Far fewer readings than tasks.
    assert account.calls <= created // 2
    clock.advance(0)
    assert stops == [REASON_BUDGET]
    now(guard.close())
    stats = guard.stats()
    assert stats["vastcaptcha/balance/start"] == 10.0
    assert stats["vastcaptcha/balance/end"] == pytest.approx(account.balance)
    assert stats["vastcaptcha/budget/spent"] == pytest.approx(spent)


def test_before_any_cost_is_seen_few_tasks_are_in_flight() -> None:
    clock, account = Clock(), FakeAccount()
    guard = guard_for(account, clock, VASTCAPTCHA_MAX_SPEND=1, VASTCAPTCHA_BALANCE_CHECK_TASKS=3)
    leases = [now(guard.acquire(TASK)) for _ in range(3)]
    fourth = defer.Deferred.fromCoroutine(guard.acquire(TASK))
    clock.advance(5)
    assert not fourth.called
    account.solve()
    guard.release(leases[0])
    assert fourth.called


def test_spend_is_read_on_a_timer_too() -> None:
    clock, account, stops = Clock(), FakeAccount(balance=1.0), list[str]()
    guard = guard_for(
        account, clock, stops, VASTCAPTCHA_MAX_SPEND=0.3, VASTCAPTCHA_BALANCE_CHECK_INTERVAL=10
    )
    account.balance = 0.6  # spent by tasks charged after the last count-triggered reading
    clock.advance(9)
    assert stops == []
    clock.advance(1)
    clock.advance(0)
    assert stops == [REASON_BUDGET]
    with pytest.raises(BudgetExhaustedError):
        now(guard.acquire(TASK))
    assert "spent 0.4000/0.3" in guard.summary()


def test_min_balance_warns_once_and_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    clock, account = Clock(), FakeAccount(balance=5.0)
    guard = guard_for(
        account,
        clock,
        VASTCAPTCHA_MIN_BALANCE=4,
        VASTCAPTCHA_BALANCE_CHECK_INTERVAL=1,
    )
    account.balance = 3.5
    with caplog.at_level(logging.WARNING):
        clock.advance(1)
        clock.advance(1)
    warnings = [r.getMessage() for r in caplog.records if "MIN_BALANCE" in r.getMessage()]
    assert warnings == [
        "VastCap balance 3.5000 is below VASTCAPTCHA_MIN_BALANCE=4; "
        "going on (see STOP_AT_MIN_BALANCE)"
    ]
    now(guard.acquire(TASK))


def test_min_balance_stops_when_asked() -> None:
    clock, account, stops = Clock(), FakeAccount(balance=3.0), list[str]()
    guard = guard_for(
        account, clock, stops, VASTCAPTCHA_MIN_BALANCE=4, VASTCAPTCHA_STOP_AT_MIN_BALANCE=True
    )
    clock.advance(0)
    assert stops == [REASON_MIN_BALANCE]
    with pytest.raises(BudgetExhaustedError) as info:
        now(guard.acquire(TASK))
    assert (info.value.reason, info.value.code) == (REASON_MIN_BALANCE, "MIN_BALANCE")


def test_stop_requested_by_the_middleware() -> None:
    clock, account, stops = Clock(), FakeAccount(), list[str]()
    guard = guard_for(account, clock, stops)
    lease = now(guard.acquire(TASK))
    now_result = guard.stop("vastcaptcha_fatal_error")
    assert now_result.called
    with pytest.raises(BudgetExhaustedError) as info:
        now(guard.acquire(TASK))
    assert info.value.reason == "vastcaptcha_fatal_error"
    guard.release(lease)
    guard.release(lease)  # a second release of the same lease is ignored
    clock.advance(0)
    assert stops == []  # the middleware knows already


def test_starting_balance_is_required_only_by_balance_limits(
    caplog: pytest.LogCaptureFixture,
) -> None:
    account = FakeAccount()
    account.fail = True
    guard = BudgetGuard(config(VASTCAPTCHA_MAX_SPEND=1), account.get_balance, reactor=Clock())
    with pytest.raises(TransportError):
        now(guard.open())
    plain = BudgetGuard(config(VASTCAPTCHA_MAX_TASKS=5), account.get_balance, reactor=Clock())
    with caplog.at_level(logging.WARNING):
        now(plain.open())
    assert "cannot read the starting balance" in caplog.text
    now(plain.acquire(TASK))
    assert "vastcaptcha/balance/start" not in plain.stats()


# -- the guard as the client's gate, against the emulator ---------------------------


def task(n: int) -> RecaptchaV2Task:
    return RecaptchaV2Task(website_url=f"https://shop.example/{n}", website_key="sitekey-1")


async def solve_until_refused(client: VastCaptchaClient) -> tuple[int, BudgetExhaustedError]:
    for solved in range(100):
        try:
            await client.solve(task(solved))
        except BudgetExhaustedError as exc:
            return solved, exc
    raise AssertionError("the budget never stopped the solves")


@pytest_twisted.ensureDeferred
async def test_guard_gates_a_real_client(vastcaptcha_emulator: EmulatorHandle) -> None:
    """Solves through the client stop at MAX_SPEND, measured from the
    emulator's getBalance (it charges each task when solved)."""
    vastcaptcha_emulator.configure(solve_time=0.05, token_price=0.01)
    k, cap = 2, 0.05
    client: VastCaptchaClient | None = None

    def get_balance() -> defer.Deferred[float]:
        assert client is not None
        return client.get_balance()

    guard = BudgetGuard(
        config(VASTCAPTCHA_MAX_SPEND=cap, VASTCAPTCHA_BALANCE_CHECK_TASKS=k), get_balance
    )
    client = VastCaptchaClient(
        vastcaptcha_emulator.api_key,
        vastcaptcha_emulator.api_url,
        poll_interval=0.05,
        gate=guard,
    )
    gate: TaskGate = guard  # the guard is what the client expects
    assert gate is guard
    try:
        await guard.open()
        solved, refusal = await solve_until_refused(client)
        await guard.close()
    finally:
        await client.close()
    assert refusal.reason == REASON_BUDGET
    balance = vastcaptcha_emulator.call("getBalance")["balance"]
    spent = 10.0 - balance
    # Sequential solves: at most one task pending at a reading.
    assert spent - cap <= (k + 1) * 0.01 + 1e-9
    assert abs(spent - cap) <= 0.01 + 1e-9
    stats = guard.stats()
    assert stats["vastcaptcha/budget/spent"] == pytest.approx(spent)
    assert stats["vastcaptcha/balance/end"] == pytest.approx(balance)
    assert stats["vastcaptcha/budget/tasks"] == len(vastcaptcha_emulator.tasks()) == solved

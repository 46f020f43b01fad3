"""Fleet-wide budgets against a real redis-server on 127.0.0.1: guards in this
process stand for workers, and some tests run workers as OS processes."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from scrapy.settings import Settings
from twisted.internet import defer, reactor, threads
from twisted.internet.task import deferLater
from twisted.python.failure import Failure

from scrapy_vastcaptcha.api.errors import BudgetExhaustedError, ConfigurationError
from scrapy_vastcaptcha.budget import (
    REASON_BUDGET,
    REASON_REDIS_LOST,
    BudgetConfig,
    BudgetGuard,
)
from scrapy_vastcaptcha.budget_redis import connect, fleet_state
from tests.redis_server import RedisServer, free_port

pytestmark = pytest.mark.redis

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def crawl() -> str:
    """A crawl name of the test's own: fleets of different tests never meet."""
    return f"crawl-{uuid.uuid4().hex[:8]}"


class Account:
    """The VastCap account every worker of a fleet reads; charged on solve."""

    def __init__(self, balance: float = 10.0, price: float = 0.01) -> None:
        self.balance = balance
        self.price = price

    def get_balance(self) -> defer.Deferred[float]:
        return defer.succeed(self.balance)


class Worker:
    """A guard as one worker of the fleet."""

    def __init__(self, url: str, crawl: str, account: Account | None = None, **settings: Any):
        self.stops: list[str] = []
        values = {"VASTCAPTCHA_REDIS_URL": url, **settings}
        self.config = BudgetConfig.from_settings(Settings(values), crawl)
        self.guard = BudgetGuard.from_config(
            self.config, (account or Account()).get_balance, on_stop=self.stops.append
        )


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait for a condition, failing at the deadline."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met before the deadline")
        await deferLater(reactor, 0.02, lambda: None)


async def settled(d: defer.Deferred[Any], timeout: float) -> bool:
    """Whether ``d`` fires within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not d.called and time.monotonic() < deadline:
        await deferLater(reactor, 0.02, lambda: None)
    return d.called


async def state(url: str, crawl: str) -> Any:
    """The fleet's counters as the CLI reads them."""
    import asyncio

    client = connect(url)
    try:
        return await defer.Deferred.fromFuture(asyncio.ensure_future(fleet_state(client, crawl)))
    finally:
        await defer.Deferred.fromFuture(asyncio.ensure_future(client.aclose()))


def start_worker(url: str, crawl: str, mode: str, *settings: str) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.budget_worker", url, crawl, mode, *settings],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ready"
    return process


def go(process: subprocess.Popen[str]) -> None:
    assert process.stdin is not None
    process.stdin.write("go\n")
    process.stdin.flush()


# -- limits across workers ---------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_max_tasks_is_atomic_across_workers(redis_url: str, crawl: str) -> None:
    workers = [Worker(redis_url, crawl, VASTCAPTCHA_MAX_TASKS=10) for _ in range(4)]
    for worker in workers:
        await worker.guard.open()
    attempts = [
        defer.Deferred.fromCoroutine(worker.guard.acquire(None))
        for worker in workers
        for _ in range(5)
    ]
    outcomes = await defer.DeferredList(attempts, consumeErrors=True)
    admitted = [value for ok, value in outcomes if ok]
    refused = [value.value for ok, value in outcomes if not ok and isinstance(value, Failure)]
    assert len(admitted) == 10
    assert len(set(admitted)) == 10  # each its own lease
    assert len(refused) == 10
    assert {getattr(exc, "reason", exc) for exc in refused} == {REASON_BUDGET}
    assert (await state(redis_url, crawl)).tasks == 10
    # Every worker closes with the reason, the ones that never hit the limit too.
    await until(lambda: all(worker.stops == [REASON_BUDGET] for worker in workers))
    for worker in workers:
        await worker.guard.close()
    assert (await state(redis_url, crawl)).leases == 0


@pytest_twisted.ensureDeferred
async def test_a_task_never_sent_is_given_back_to_the_fleet(redis_url: str, crawl: str) -> None:
    worker = Worker(redis_url, crawl, VASTCAPTCHA_MAX_TASKS=2)
    await worker.guard.open()
    kept = await worker.guard.acquire(None)
    worker.guard.created(kept, "task-1")
    cancelled = await worker.guard.acquire(None)
    worker.guard.unsent(cancelled)
    worker.guard.release(cancelled)
    await worker.guard.close()
    fleet = await state(redis_url, crawl)
    assert (fleet.tasks, fleet.finished, fleet.leases) == (1, 1, 0)
    # The place given back is the next worker's.
    other = Worker(redis_url, crawl, VASTCAPTCHA_MAX_TASKS=2)
    await other.guard.open()
    other.guard.created(await other.guard.acquire(None), "task-2")
    with pytest.raises(BudgetExhaustedError):
        await other.guard.acquire(None)
    await other.guard.close()
    assert (await state(redis_url, crawl)).tasks == 2


def test_max_tasks_is_atomic_across_processes(redis_url: str, crawl: str) -> None:
    settings = ("VASTCAPTCHA_MAX_TASKS=60", "VASTCAPTCHA_MAX_CONCURRENT=4")
    processes: list[subprocess.Popen[str]] = []
    results = []
    try:
        processes.extend(start_worker(redis_url, crawl, "drain", *settings) for _ in range(3))
        for process in processes:
            go(process)
        for process in processes:
            out, _ = process.communicate(timeout=60)
            assert process.returncode == 0
            results.append(out.split())
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.communicate()
    assert sum(int(created) for _, created, _ in results) == 60
    assert {reason for _, _, reason in results} == {REASON_BUDGET}


@pytest_twisted.ensureDeferred
async def test_concurrency_leases_expire_when_a_worker_dies(redis_url: str, crawl: str) -> None:
    lease_time = 1.0
    settings: dict[str, Any] = {
        "VASTCAPTCHA_MAX_CONCURRENT": 2,
        "VASTCAPTCHA_LEASE_TIME": lease_time,
    }
    alive = Worker(redis_url, crawl, **settings)
    other = Worker(redis_url, crawl, **settings)
    await alive.guard.open()
    await other.guard.open()
    # A live worker's lease is renewed while its task is pending.
    kept = await alive.guard.acquire(None)
    # Blocking reads in a thread: the reactor must keep renewing the live lease.
    dying = await threads.deferToThread(
        start_worker,
        redis_url,
        crawl,
        "hold",
        *(f"{name}={value}" for name, value in settings.items()),
    )
    try:
        go(dying)
        assert dying.stdout is not None
        assert (await threads.deferToThread(dying.stdout.readline)).startswith("held ")
    finally:
        dying.send_signal(signal.SIGKILL)
        dying.communicate(timeout=10)
    assert (await state(redis_url, crawl)).leases == 2

    killed_at = time.monotonic()
    waiting = defer.Deferred.fromCoroutine(other.guard.acquire(None))
    await until(lambda: waiting.called, timeout=lease_time + 3)
    # The dead worker's slot came back within the lease time (plus a poll).
    assert time.monotonic() - killed_at < lease_time + 1
    # The live worker's lease, taken before the dead one's, outlived the lease time.
    client_state = await state(redis_url, crawl)
    assert client_state.leases == 2
    # The dead worker's task counts as over: MAX_SPEND's projection and its
    # "every task is over" stop do not wait for it forever.
    assert client_state.finished == 1
    assert not any(alive.stops + other.stops)

    # Another worker's release is seen within one poll (WAIT_POLL); a release in
    # the same process wakes its waiting task at once (tests/test_budget.py).
    third = defer.Deferred.fromCoroutine(other.guard.acquire(None))
    alive.guard.release(kept)
    await until(lambda: third.called, timeout=WAIT_BOUND)
    for worker in (alive, other):
        await worker.guard.close()
    assert (await state(redis_url, crawl)).leases == 0


#: A waiting task notices a released slot within one poll (0.2 s) or at once.
WAIT_BOUND = 2.0


# -- stopping -------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_a_stop_reaches_every_worker(redis_url: str, crawl: str) -> None:
    workers = [Worker(redis_url, crawl) for _ in range(3)]
    for worker in workers:
        await worker.guard.open()
    started = time.monotonic()
    await workers[0].guard.stop("vastcaptcha_account_error")
    # The others find the stop key on their timer, with no task to create.
    await until(lambda: all(w.stops == ["vastcaptcha_account_error"] for w in workers[1:]))
    assert time.monotonic() - started < workers[0].config.heartbeat + 1
    for worker in workers:
        with pytest.raises(BudgetExhaustedError) as info:
            await worker.guard.acquire(None)
        assert info.value.reason == "vastcaptcha_account_error"
    # A worker that joins later stops at once, with the same reason.
    late = Worker(redis_url, crawl)
    await late.guard.open()
    await until(lambda: late.stops == ["vastcaptcha_account_error"])
    for worker in [*workers, late]:
        await worker.guard.close()


@pytest_twisted.ensureDeferred
async def test_fleet_spend_cap(redis_url: str, crawl: str) -> None:
    """Two workers spend from one account, each task charged when solved,
    with up to 12 in flight. The fleet stops near the cap, within the stated
    worst case: (BALANCE_CHECK_TASKS + tasks in flight) tasks' price."""
    account = Account(balance=5.0, price=0.01)
    k, cap = 4, 0.3
    workers = [
        Worker(
            redis_url,
            crawl,
            account,
            VASTCAPTCHA_MAX_SPEND=cap,
            VASTCAPTCHA_BALANCE_CHECK_TASKS=k,
        )
        for _ in range(2)
    ]
    for worker in workers:
        await worker.guard.open()
    pending: list[tuple[Worker, object]] = []
    most_in_flight = 0
    refused: dict[int, str] = {}

    def finish() -> None:
        account.balance -= account.price
        done_by, lease = pending.pop(0)
        done_by.guard.release(lease)

    for turn in range(1000):  # far more than the cap allows
        if len(refused) == len(workers):
            break
        worker = workers[turn % 2]
        if len(pending) >= 12:
            finish()
        attempt = defer.Deferred.fromCoroutine(worker.guard.acquire(None))
        deadline = time.monotonic() + 10
        while not await settled(attempt, 0.3):
            # It waits for tasks to finish, or for a balance reading.
            assert time.monotonic() < deadline, "a task waited for 10 s"
            if pending:
                finish()
        outcome: list[Any] = []
        attempt.addBoth(outcome.append)
        if isinstance(outcome[0], Failure):
            refusal = outcome[0].value
            assert isinstance(refusal, BudgetExhaustedError)
            refused[turn % 2] = refusal.reason
            continue
        pending.append((worker, outcome[0]))
        most_in_flight = max(most_in_flight, len(pending))
    while pending:
        finish()
    assert len(refused) == len(workers), "the fleet never stopped"
    assert set(refused.values()) == {REASON_BUDGET}
    await until(lambda: all(w.stops == [REASON_BUDGET] for w in workers))
    spent = 5.0 - account.balance
    assert spent - cap <= (k + most_in_flight) * account.price + 1e-9
    assert abs(spent - cap) <= 2 * account.price + 1e-9
    for worker in workers:
        await worker.guard.close()
    fleet = await state(redis_url, crawl)
    assert fleet.spent == pytest.approx(spent)
    assert fleet.stop == REASON_BUDGET
    assert workers[0].guard.stats()["vastcaptcha/budget/spent"] == pytest.approx(spent)


# -- Redis trouble ------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_redis_lost_mid_run_stops_task_creation(tmp_path: Path, crawl: str) -> None:
    server = RedisServer(tmp_path)
    worker = Worker(server.url, crawl)
    try:
        await worker.guard.open()
        worker.guard.release(await worker.guard.acquire(None))
    finally:
        server.stop()
    with pytest.raises(BudgetExhaustedError) as info:
        await worker.guard.acquire(None)
    assert info.value.reason == REASON_REDIS_LOST
    assert "127.0.0.1" in str(info.value)
    await until(lambda: worker.stops == [REASON_REDIS_LOST])
    await worker.guard.close()


@pytest_twisted.ensureDeferred
async def test_unreachable_redis_at_open_names_the_setting(crawl: str) -> None:
    url = f"redis://:hunter2@127.0.0.1:{free_port()}/0"
    worker = Worker(url, crawl)
    with pytest.raises(ConfigurationError, match="VASTCAPTCHA_REDIS_URL: cannot reach") as info:
        await worker.guard.open()
    assert "hunter2" not in str(info.value)
    inherited = BudgetConfig.from_settings(
        Settings({"SCHEDULER": "scrapy_redis.scheduler.Scheduler", "REDIS_URL": url}), crawl
    )
    guard = BudgetGuard.from_config(inherited, Account().get_balance)
    with pytest.raises(ConfigurationError, match=r"^REDIS_URL: cannot reach"):
        await guard.open()


# -- the CLI ----------------------------------------------------------------------------


def budget_command(*args: str) -> subprocess.CompletedProcess[str]:
    code = "import sys; from scrapy_vastcaptcha.cli import budget\n"
    code += "import argparse; p = argparse.ArgumentParser(); budget.configure(p)\n"
    code += "sys.exit(budget.run(p.parse_args(sys.argv[1:])))"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )


@pytest_twisted.ensureDeferred
async def test_cli_shows_and_resets_a_fleet(redis_url: str, crawl: str) -> None:
    worker = Worker(redis_url, crawl, VASTCAPTCHA_MAX_TASKS=2)
    await worker.guard.open()
    for number in range(2):
        worker.guard.created(await worker.guard.acquire(None), f"task-{number}")
    with pytest.raises(BudgetExhaustedError):
        await worker.guard.acquire(None)
    shown = budget_command("--redis-url", redis_url, "--crawl", crawl)
    assert shown.returncode == 0, shown.stderr
    assert f"fleet {crawl!r} on {redis_url}" in shown.stdout
    assert "tasks:   2 (0 finished)" in shown.stdout
    assert "leases:  2 live" in shown.stdout
    assert "spent:   0.0000 (balance 10.0000 -> 10.0000)" in shown.stdout
    assert "state:   stopped: vastcaptcha_budget_exhausted" in shown.stdout
    await worker.guard.close()
    reset = budget_command("--redis-url", redis_url, "--crawl", crawl, "--reset")
    assert reset.returncode == 0, reset.stderr
    assert "reset:" in reset.stdout
    fresh = await state(redis_url, crawl)
    assert (fresh.tasks, fresh.leases, fresh.stop, fresh.start) == (0, 0, None, None)


def test_cli_unreachable_redis() -> None:
    done = budget_command("--redis-url", f"redis://127.0.0.1:{free_port()}/0", "--crawl", "x")
    assert done.returncode == 1
    assert done.stderr.startswith("error: cannot reach Redis at redis://127.0.0.1:")

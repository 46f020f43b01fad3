"""The client against the real emulator over HTTP, on the asyncio reactor."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
import pytest_twisted
from twisted.internet import defer
from twisted.python.failure import Failure

from scrapy_vastcaptcha import (
    AccountError,
    ImageToTextTask,
    RecaptchaV2Task,
    RecaptchaV3Task,
    RetryPolicy,
    SolveEvent,
    SolveTimeoutError,
    TaskFailedError,
    TransportError,
    TurnstileTask,
    VastCaptchaClient,
)
from scrapy_vastcaptcha.emulator.tokens import image_answer
from scrapy_vastcaptcha.testing import EmulatorHandle

FAST_RETRY = RetryPolicy(max_retries=8, base=0.02, cap=0.1)


def task(n: int = 0) -> RecaptchaV2Task:
    return RecaptchaV2Task(website_url=f"https://shop.example/p/{n}", website_key="sitekey-demo-1")


def make_client(emulator: EmulatorHandle, **kwargs: Any) -> VastCaptchaClient:
    options: dict[str, Any] = {"poll_interval": 0.05, "retry": FAST_RETRY, "http_timeout": 5.0}
    options.update(kwargs)
    return VastCaptchaClient(emulator.api_key, emulator.api_url, **options)


class Events:
    """Records client events and lets a test wait for one, with a deadline."""

    def __init__(self) -> None:
        self.seen: list[SolveEvent] = []
        self._waiters: list[tuple[Callable[[SolveEvent], bool], defer.Deferred[SolveEvent]]] = []

    def __call__(self, event: SolveEvent) -> None:
        self.seen.append(event)
        for item in list(self._waiters):
            if item[0](event):
                self._waiters.remove(item)
                item[1].callback(event)

    def wait(self, predicate: Callable[[SolveEvent], bool], timeout: float = 10.0) -> Any:
        from twisted.internet import reactor

        d: defer.Deferred[SolveEvent] = defer.Deferred()
        self._waiters.append((predicate, d))
        return d.addTimeout(timeout, reactor)


@pytest_twisted.ensureDeferred
async def test_solve_returns_token_and_site_binding(vastcaptcha_emulator: EmulatorHandle) -> None:
    vastcaptcha_emulator.configure(solve_time=0.1)
    client = make_client(vastcaptcha_emulator)
    try:
        result = await client.solve(task(1))
    finally:
        await client.close()
    assert result.token
    assert result.attempts == 1
    assert result.polls >= 1
    (record,) = vastcaptcha_emulator.tasks()
    assert record["fields"]["type"] == "RecaptchaV2Task"
    assert record["fields"]["websiteURL"] == "https://shop.example/p/1"
    assert record["polls"] == result.polls


@pytest_twisted.ensureDeferred
async def test_every_token_kind_and_image_text(vastcaptcha_emulator: EmulatorHandle) -> None:
    vastcaptcha_emulator.configure(solve_time=0.05)
    client = make_client(vastcaptcha_emulator)
    image = b"\x89PNG\r\n\x1a\n some image bytes"
    try:
        v3, turnstile, img = await defer.gatherResults(
            [
                client.solve(
                    RecaptchaV3Task(
                        website_url="https://a.example/",
                        website_key="v3-key-123",
                        page_action="checkout",
                        min_score=0.7,
                    )
                ),
                client.solve(
                    TurnstileTask(website_url="https://a.example/", website_key="0x4AAAAAAAB")
                ),
                client.solve(ImageToTextTask(image=image)),
            ]
        )
    finally:
        await client.close()
    assert v3.token
    assert v3.solution.score is not None
    assert turnstile.token
    assert img.solution.text == image_answer(image)


@pytest_twisted.ensureDeferred
async def test_many_solves_run_concurrently(vastcaptcha_emulator: EmulatorHandle) -> None:
    vastcaptcha_emulator.configure(solve_time=0.5)
    client = make_client(vastcaptcha_emulator, max_connections=8, poll_interval=0.2)
    try:
        results = await defer.gatherResults([client.solve(task(n)) for n in range(60)])
    finally:
        await client.close()
    assert len({r.token for r in results}) == 60
    records = vastcaptcha_emulator.tasks()
    # All 60 tasks existed before the first one was ready: they overlapped
    # instead of running one after another, so they finish in about one solve time.
    assert max(r["created_at"] for r in records) < min(r["ready_at"] for r in records)
    assert all(r["polls"] <= 4 for r in records)


@pytest_twisted.ensureDeferred
async def test_transient_fault_burst_is_survived(vastcaptcha_emulator: EmulatorHandle) -> None:
    vastcaptcha_emulator.configure(
        solve_time=0.05, seed=7, faults={"http_5xx": 0.3, "malformed": 0.1, "drop": 0.1}
    )
    # 43% of calls fail; 15 retries make giving up on one call a 1-in-600,000 event.
    # A createTask dropped or garbled after it went out may have created a
    # task: it is never resent, but counted and replaced by a new task, so
    # the task budget covers those (20% each time; 8 tasks: 1 in 390,000).
    client = make_client(
        vastcaptcha_emulator,
        retry=RetryPolicy(max_retries=15, base=0.01, cap=0.05),
        max_task_attempts=8,
    )
    try:
        results = await defer.gatherResults([client.solve(task(n)) for n in range(20)])
    finally:
        await client.close()
    assert all(r.token for r in results)
    faults = vastcaptcha_emulator.stats()["faults"]
    assert faults.get("http_5xx", 0) > 0
    assert faults.get("malformed", 0) > 0
    assert faults.get("drop", 0) > 0


@pytest_twisted.ensureDeferred
async def test_slow_answers_time_out_and_are_retried(vastcaptcha_emulator: EmulatorHandle) -> None:
    vastcaptcha_emulator.configure(solve_time=0.05, seed=3, faults={"slow": 0.4}, slow_delay=5)
    client = make_client(vastcaptcha_emulator, http_timeout=0.3)
    try:
        results = await defer.gatherResults([client.solve(task(n)) for n in range(5)])
    finally:
        await client.close()
    assert all(r.token for r in results)
    assert vastcaptcha_emulator.stats()["faults"].get("slow", 0) > 0


@pytest_twisted.ensureDeferred
async def test_persistent_transport_failure_gives_up(vastcaptcha_emulator: EmulatorHandle) -> None:
    vastcaptcha_emulator.configure(faults={"http_5xx": 1.0})
    client = make_client(vastcaptcha_emulator, retry=RetryPolicy(max_retries=2, base=0.01))
    try:
        with pytest.raises(TransportError, match="HTTP 50"):
            await client.solve(task())
    finally:
        await client.close()
    assert vastcaptcha_emulator.stats()["calls"]["createTask"] == 3


@pytest.mark.parametrize(
    ("account", "code"),
    [
        ({"disabled": True}, "ERROR_ACCOUNT_DISABLED"),
        ({"balance": 0}, "ERROR_INSUFFICIENT_BALANCE"),
        ({"ip_allowed": False}, "ERROR_IP_NOT_ALLOWED"),
        ({"banned": True}, "ERROR_IP_BANNED"),
    ],
)
@pytest_twisted.ensureDeferred
async def test_fatal_error_stops_at_once_and_spends_nothing_more(
    vastcaptcha_emulator: EmulatorHandle, account: dict[str, Any], code: str
) -> None:
    vastcaptcha_emulator.set_account(vastcaptcha_emulator.api_key, **account)
    client = make_client(vastcaptcha_emulator)
    try:
        with pytest.raises(AccountError) as info:
            await client.solve(task())
        assert info.value.code == code
        # Later solves fail without another createTask.
        with pytest.raises(AccountError):
            await client.solve(task(2))
    finally:
        await client.close()
    assert vastcaptcha_emulator.stats()["calls"]["createTask"] == 1


@pytest_twisted.ensureDeferred
async def test_unknown_key_is_fatal_and_not_shown(vastcaptcha_emulator: EmulatorHandle) -> None:
    secret = "not_a_vastcap_key_SECRETSECRET"
    client = VastCaptchaClient(secret, vastcaptcha_emulator.api_url)
    try:
        with pytest.raises(AccountError) as info:
            await client.get_balance()
    finally:
        await client.close()
    assert info.value.code == "ERROR_KEY_DOES_NOT_EXIST"
    assert "SECRETSECRET" not in str(info.value)
    assert "SECRETSECRET" not in repr(info.value)


@pytest_twisted.ensureDeferred
async def test_deadline_is_honoured(vastcaptcha_emulator: EmulatorHandle) -> None:
    vastcaptcha_emulator.configure(solve_time=30)
    client = make_client(vastcaptcha_emulator, solve_timeout=0.6, poll_interval=0.1)
    try:
        with pytest.raises(SolveTimeoutError, match="solve timeout"):
            await client.solve(task())
    finally:
        await client.close()
    (record,) = vastcaptcha_emulator.tasks()
    assert 1 <= record["polls"] <= 7


@pytest_twisted.ensureDeferred
async def test_poll_cap_is_honoured(vastcaptcha_emulator: EmulatorHandle) -> None:
    vastcaptcha_emulator.configure(solve_time=30)
    client = make_client(vastcaptcha_emulator, max_polls=3, poll_interval=0.02)
    try:
        with pytest.raises(SolveTimeoutError, match="3 polls"):
            await client.solve(task())
    finally:
        await client.close()
    assert vastcaptcha_emulator.tasks()[0]["polls"] == 3


@pytest_twisted.ensureDeferred
async def test_cancellation_stops_polling(vastcaptcha_emulator: EmulatorHandle) -> None:
    vastcaptcha_emulator.configure(solve_time=30)
    events = Events()
    client = make_client(vastcaptcha_emulator, on_event=events)
    try:
        doomed = client.solve(task(1))
        first_poll = await events.wait(lambda e: e.name == "polled")
        doomed.cancel()
        with pytest.raises(defer.CancelledError):
            await doomed
        polls_at_cancel = _polls(vastcaptcha_emulator, first_poll.task_id)
        # Let another task go through several polls: the cancelled one must not move.
        vastcaptcha_emulator.configure(solve_time=0.3)
        await client.solve(task(2))
    finally:
        await client.close()
    assert _polls(vastcaptcha_emulator, first_poll.task_id) == polls_at_cancel


def _polls(emulator: EmulatorHandle, task_id: str | None) -> int:
    (record,) = [t for t in emulator.tasks() if t["task_id"] == task_id]
    return int(record["polls"])


@pytest_twisted.ensureDeferred
async def test_unsolvable_gets_fresh_tasks_up_to_the_limit(
    vastcaptcha_emulator: EmulatorHandle,
) -> None:
    vastcaptcha_emulator.configure(solve_time=0.05, faults={"unsolvable": 1.0})
    client = make_client(vastcaptcha_emulator, max_task_attempts=3)
    try:
        with pytest.raises(TaskFailedError) as info:
            await client.solve(task())
    finally:
        await client.close()
    assert info.value.code == "ERROR_CAPTCHA_UNSOLVABLE"
    assert vastcaptcha_emulator.stats()["calls"]["createTask"] == 3


@pytest_twisted.ensureDeferred
async def test_no_slot_available_is_retried(vastcaptcha_emulator: EmulatorHandle) -> None:
    vastcaptcha_emulator.configure(solve_time=0.1, capacity=1)
    client = make_client(
        vastcaptcha_emulator, retry=RetryPolicy(max_retries=30, base=0.05, cap=0.2)
    )
    try:
        results = await defer.gatherResults([client.solve(task(n)) for n in range(4)])
    finally:
        await client.close()
    assert all(r.token for r in results)
    assert vastcaptcha_emulator.stats()["errors"].get("ERROR_NO_SLOT_AVAILABLE", 0) > 0


@pytest_twisted.ensureDeferred
async def test_validation_failure_is_not_retried(vastcaptcha_emulator: EmulatorHandle) -> None:
    bad = RecaptchaV3Task(
        website_url="https://a.example/", website_key="v3-key-123", extra={"minScore": 5}
    )
    client = make_client(vastcaptcha_emulator)
    try:
        with pytest.raises(TaskFailedError) as info:
            await client.solve(bad)
    finally:
        await client.close()
    assert info.value.code == "ERROR_VALIDATION_FAILED"
    assert vastcaptcha_emulator.stats()["calls"]["createTask"] == 1


@pytest_twisted.ensureDeferred
async def test_single_calls_and_balance(vastcaptcha_emulator: EmulatorHandle) -> None:
    vastcaptcha_emulator.configure(solve_time=0.05)
    client = make_client(vastcaptcha_emulator)
    try:
        before = await client.get_balance()
        task_id = await client.create_task(task())
        with pytest.raises(TaskFailedError) as info:
            await client.get_task_result("00000000-0000-4000-8000-000000000000")
        assert info.value.code == "ERROR_TASK_NOT_FOUND"
        result = await client.solve(task(2))
        after = await client.get_balance()
    finally:
        await client.close()
    assert task_id
    assert result.token
    assert after < before


@pytest_twisted.ensureDeferred
async def test_coroutine_twins_on_the_asyncio_reactor(
    vastcaptcha_emulator: EmulatorHandle,
) -> None:
    vastcaptcha_emulator.configure(solve_time=0.05)
    client = make_client(vastcaptcha_emulator)

    async def asyncio_code() -> tuple[float, str]:
        balance = await client.get_balance_async()
        result = await client.solve_async(task())
        await client.close_async()
        return balance, result.token

    balance, token = await defer.Deferred.fromFuture(asyncio.ensure_future(asyncio_code()))
    assert balance > 0
    assert token


@pytest_twisted.ensureDeferred
async def test_a_wrong_api_url_stops_the_run_at_the_first_call(
    vastcaptcha_emulator: EmulatorHandle,
) -> None:
    # The emulator answers 404 with ERROR_NO_SUCH_METHOD for a path that
    # names no method, as the peers do: every call would fail alike.
    client = VastCaptchaClient(
        vastcaptcha_emulator.api_key,
        vastcaptcha_emulator.api_url + "/v2",
        poll_interval=0.05,
        retry=FAST_RETRY,
    )
    try:
        results = await defer.DeferredList(
            [client.solve(task(n)) for n in range(5)], consumeErrors=True
        )
    finally:
        await client.close()
    errors = [result.value for _, result in results if isinstance(result, Failure)]
    assert len(errors) == 5
    assert all(isinstance(e, AccountError) for e in errors)
    assert client.fatal_error is not None
    assert client.fatal_error.code == "ERROR_NO_SUCH_METHOD"
    assert vastcaptcha_emulator.stats()["tasks"]["created"] == 0

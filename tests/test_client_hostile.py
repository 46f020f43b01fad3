"""The client against a hostile stand-in of the API: cancellation at every
stage, answers built to leak the key, exhaust memory or multiply spending,
redirects, TLS and refused connections, and the task gate."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from twisted.internet import defer
from twisted.internet.task import Clock, deferLater
from twisted.python.failure import Failure

from scrapy_vastcaptcha.api import (
    AccountError,
    ApiRedirectError,
    BudgetExhaustedError,
    PollSchedule,
    ProtocolError,
    RecaptchaV2Task,
    RetryPolicy,
    Scope,
    SolveTimeoutError,
    Task,
    TaskFailedError,
    TlsError,
    TransportError,
    VastCaptchaClient,
    VastCaptchaError,
)
from scrapy_vastcaptcha.api.client import LAST_CALL_GRACE, MAX_ANSWER_BYTES
from tests import client_reads, hostile_api
from tests.hostile_api import (
    HostileApi,
    huge,
    json_answer,
    raw_answer,
    raw_bytes,
    redirect,
    stall,
)
from tests.test_client import Events

KEY = "vastCap_hostile_0123456789SECRETSECRET"
FAST_RETRY = RetryPolicy(max_retries=3, base=0.01, cap=0.02, connect_retries=2)
#: Polls at once and then every 10 ms: tests that need a sleeping client set their own.
QUICK = {"recaptcha-v2": PollSchedule(first_wait=0.0, interval=0.01)}
#: A client that, once it has polled, sleeps for a minute.
SLEEPY = {"recaptcha-v2": PollSchedule(first_wait=0.0, interval=60.0)}


@pytest.fixture
def api() -> Iterator[HostileApi]:
    yield from hostile_api.serve()


@pytest.fixture
def tls_api() -> Iterator[HostileApi]:
    yield from hostile_api.serve(tls=True)


def task(n: int = 0) -> RecaptchaV2Task:
    return RecaptchaV2Task(website_url=f"https://shop.example/p/{n}", website_key="sitekey-demo-1")


def client_for(url: str, **kwargs: Any) -> VastCaptchaClient:
    options: dict[str, Any] = {"schedules": QUICK, "retry": FAST_RETRY, "http_timeout": 5.0}
    options.update(kwargs)
    return VastCaptchaClient(KEY, url, **options)


def escaped_key() -> str:
    """The key as a JSON string body would carry it with its first letter escaped."""
    return f"\\u{ord(KEY[0]):04x}{KEY[1:]}"


def failure_of(d: defer.Deferred[Any]) -> BaseException:
    """The exception ``d`` has already failed with."""
    assert d.called, "the Deferred has not fired"
    caught: list[BaseException] = []

    def catch(failure: Failure) -> None:
        caught.append(failure.value or Exception("no exception"))

    d.addErrback(catch)
    assert caught, "the Deferred did not fail"
    return caught[0]


def turn() -> defer.Deferred[None]:
    """One pass of the reactor (not a sleep: nothing is waited for)."""
    from twisted.internet import reactor

    return deferLater(reactor, 0, lambda: None)


# -- 1. cancellation ----------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_cancel_while_connecting_fails_with_cancelled_at_once() -> None:
    with hostile_api.stalled_port() as port:
        client = client_for(f"http://127.0.0.1:{port}/api")
        doomed = client.solve(task())
        for _ in range(3):
            await turn()
        assert not doomed.called  # still connecting: the kernel drops the SYN
        doomed.cancel()
        assert type(failure_of(doomed)) is defer.CancelledError
        await client.close()
        assert not client._runs


@pytest_twisted.ensureDeferred
async def test_cancel_before_the_first_call_sends_nothing(api: HostileApi) -> None:
    client = client_for(api.url)
    doomed = client.solve(task())
    doomed.cancel()
    assert type(failure_of(doomed)) is defer.CancelledError
    await client.close()
    assert api.calls == []


@pytest_twisted.ensureDeferred
async def test_cancel_while_the_call_is_in_flight(api: HostileApi) -> None:
    api.on("getTaskResult", stall())
    client = client_for(api.url)
    doomed = client.solve(task())
    await api.wait_calls(1, "getTaskResult")
    doomed.cancel()
    assert type(failure_of(doomed)) is defer.CancelledError
    await api.wait(lambda: api.calls[-1].aborted)  # the connection was dropped
    await client.close()
    assert api.methods() == ["createTask", "getTaskResult"]


@pytest_twisted.ensureDeferred
async def test_cancel_while_reading_a_slow_answer(
    api: HostileApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A body the stand-in writes part of, then holds.
    def half(request: Any, call: hostile_api.Call) -> None:
        request.setHeader(b"content-length", b"100")
        request.write(b'{"status": "proc')

    api.on("getTaskResult", half)
    arrivals = client_reads.watch(monkeypatch)
    client = client_for(api.url)
    doomed = client.solve(task())
    # Cancelled while reading: the part of the body has reached the client.
    await arrivals.wait_for(b'{"status": "proc')
    assert not doomed.called
    doomed.cancel()
    assert type(failure_of(doomed)) is defer.CancelledError
    await client.close()
    assert api.methods() == ["createTask", "getTaskResult"]


@pytest_twisted.ensureDeferred
async def test_cancel_while_sleeping_between_polls(api: HostileApi) -> None:
    events = Events()
    client = client_for(api.url, schedules=SLEEPY, on_event=events)
    doomed = client.solve(task())
    await events.wait(lambda e: e.name == "polled")
    doomed.cancel()
    assert type(failure_of(doomed)) is defer.CancelledError
    await client.close()
    assert api.methods() == ["createTask", "getTaskResult"]


@pytest_twisted.ensureDeferred
async def test_cancel_during_backoff(api: HostileApi) -> None:
    api.on("getTaskResult", raw_answer(b"busy", 503))
    events = Events()
    client = client_for(api.url, retry=RetryPolicy(base=60, cap=60), on_event=events)
    doomed = client.solve(task())
    await events.wait(lambda e: e.name == "retrying")
    doomed.cancel()
    assert type(failure_of(doomed)) is defer.CancelledError
    await client.close()
    assert api.methods() == ["createTask", "getTaskResult"]


@pytest_twisted.ensureDeferred
async def test_single_calls_cancel_the_same_way(api: HostileApi) -> None:
    api.on("getBalance", stall())
    api.on("createTask", stall())
    client = client_for(api.url)
    balance, created = client.get_balance(), client.create_task(task())
    await api.wait_calls(2)
    balance.cancel()
    created.cancel()
    assert type(failure_of(balance)) is defer.CancelledError
    assert type(failure_of(created)) is defer.CancelledError
    await client.close()
    assert sorted(api.methods()) == ["createTask", "getBalance"]


@pytest_twisted.ensureDeferred
async def test_close_cancels_every_solve_and_returns_when_none_runs(api: HostileApi) -> None:
    # Three solves at three stages: in flight, sleeping, in backoff.
    answers = {"t-flight": stall(), "t-sleep": json_answer({"status": "processing"})}
    ids = iter(["t-flight", "t-sleep", "t-backoff"])

    def create(request: Any, call: hostile_api.Call) -> None:
        json_answer({"taskId": next(ids)})(request, call)

    def result(request: Any, call: hostile_api.Call) -> None:
        answers.get(call.body["taskId"], raw_answer(b"", 502))(request, call)

    api.on("createTask", create)
    api.on("getTaskResult", result)
    events = Events()
    client = client_for(
        api.url, schedules=SLEEPY, retry=RetryPolicy(base=60, cap=60), on_event=events
    )
    solves = [client.solve(task(n)) for n in range(3)]
    await api.wait_calls(3, "getTaskResult")
    await events.wait(lambda e: e.name == "retrying")
    calls_at_close = len(api.calls)
    await client.close()
    assert [type(failure_of(d)) for d in solves] == [defer.CancelledError] * 3
    assert not client._runs
    await turn()
    assert len(api.calls) == calls_at_close == 6


# -- 2. the key never leaves the client ----------------------------------------


@pytest_twisted.ensureDeferred
async def test_json_escaped_key_echo_is_scrubbed_everywhere(
    api: HostileApi, caplog: pytest.LogCaptureFixture
) -> None:
    body = (
        '{"errorId": 1, "errorCode": "ERROR_KEY_DOES_NOT_EXIST", '
        f'"errorDescription": "no such key {escaped_key()}"}}'
    )
    api.on("createTask", raw_answer(body.encode()))
    events = Events()
    client = client_for(api.url, on_event=events)
    with caplog.at_level(logging.DEBUG):
        with pytest.raises(AccountError) as info:
            await client.solve(task())
        await events.wait(lambda e: e.name == "failed")
        await client.close()
    shown = [str(info.value), repr(info.value), info.value.description, caplog.text]
    shown += [repr(e) for e in events.seen]
    assert all("SECRETSECRET" not in text for text in shown)
    assert "vastCap_ho…" in info.value.description


@pytest_twisted.ensureDeferred
async def test_key_echoed_in_status_location_or_garbage_is_scrubbed(api: HostileApi) -> None:
    api.on("getTaskResult", raw_answer(f'{{"status": "{escaped_key()}"}}'.encode()))
    events = Events()
    client = client_for(api.url, on_event=events, max_polls=1)
    with pytest.raises(SolveTimeoutError):
        await client.solve(task())
    (polled,) = [e for e in events.seen if e.name == "polled"] or [
        await events.wait(lambda e: e.name == "polled")
    ]
    assert polled.status is not None
    assert "SECRET" not in polled.status

    percent_encoded = KEY.replace("S", "%53", 1)
    api.on("getBalance", redirect(f"https://elsewhere.example/?k={percent_encoded}".encode()))
    with pytest.raises(ApiRedirectError) as moved:
        await client.get_balance()
    api.on("getBalance", raw_answer(f'{{"balance": {escaped_key()}'.encode()))
    with pytest.raises(ProtocolError) as garbled:
        await client.get_balance()
    await client.close()
    for exc in (moved.value, garbled.value):
        assert "SECRET" not in str(exc)


# -- 3. answer size cap ----------------------------------------------------------


def _rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


@pytest.mark.parametrize("declare_length", [True, False])
@pytest_twisted.ensureDeferred
async def test_a_50_mb_answer_is_refused_without_reading_it(
    api: HostileApi, declare_length: bool
) -> None:
    size = 50 * 1024 * 1024
    api.on("getBalance", huge(size, declare_length=declare_length))
    client = client_for(api.url, retry=RetryPolicy(max_retries=0, base=0.01, cap=0.01))
    before = _rss()
    with pytest.raises(ProtocolError, match="larger than"):
        await client.get_balance()
    grown = _rss() - before
    await client.close()
    (call,) = api.calls
    await api.wait(lambda: call.aborted or call.sent >= size)
    # The client stopped reading: the stand-in could not write much more
    # than the cap plus socket buffers.
    assert call.sent < 8 * 1024 * 1024
    assert grown < 16 * 1024 * 1024


@pytest_twisted.ensureDeferred
async def test_an_answer_just_under_the_cap_is_read(api: HostileApi) -> None:
    token = "t" * (MAX_ANSWER_BYTES - 100)
    api.on("getTaskResult", json_answer({"status": "ready", "solution": {"token": token}}))
    client = client_for(api.url)
    result = await client.solve(task())
    await client.close()
    assert result.token == token


# -- 4. broken answers do not multiply spending -----------------------------------


@pytest.mark.parametrize(
    "answer",
    [{"errorId": 0}, {}, {"taskId": ""}, {"taskId": None}, {"taskId": 1.5}],
    ids=["errorId0", "empty", "empty-id", "null-id", "float-id"],
)
@pytest_twisted.ensureDeferred
async def test_create_task_without_an_id_counts_as_a_task(
    api: HostileApi, answer: dict[str, Any]
) -> None:
    api.on("createTask", json_answer(answer))
    client = client_for(api.url, max_task_attempts=3)
    with pytest.raises(ProtocolError, match="taskId") as info:
        await client.solve(task())
    await client.close()
    assert api.methods() == ["createTask"] * 3
    assert info.value.tasks_created == 3


@pytest_twisted.ensureDeferred
async def test_garbled_create_task_answer_counts_as_a_task(api: HostileApi) -> None:
    api.on("createTask", raw_answer(b'{"taskId": "abc'), json_answer({"taskId": "t-2"}))
    api.on("getTaskResult", json_answer({"status": "ready", "solution": {"token": "tok"}}))
    client = client_for(api.url)
    result = await client.solve(task())
    await client.close()
    assert api.methods() == ["createTask", "createTask", "getTaskResult"]
    assert result.attempts == result.tasks_created == 2
    assert result.task_ids == ("t-2",)


@pytest.mark.parametrize(
    "answer",
    [
        {"status": "ready"},
        {"status": "ready", "solution": {"gRecaptchaResponse": ""}},
        {"status": "ready", "solution": "03AG"},
    ],
)
@pytest_twisted.ensureDeferred
async def test_ready_without_a_token_is_bounded_by_the_task_budget(
    api: HostileApi, answer: dict[str, Any]
) -> None:
    api.on("getTaskResult", json_answer(answer))
    client = client_for(api.url)
    with pytest.raises(TaskFailedError) as info:
        await client.solve(task(), max_tasks=2)
    await client.close()
    assert info.value.code == "ERROR_EMPTY_SOLUTION"
    assert api.methods() == ["createTask", "getTaskResult"] * 2
    assert info.value.tasks_created == 2


@pytest.mark.parametrize("status", ["queued", None, 42, {"x": 1}])
@pytest_twisted.ensureDeferred
async def test_undocumented_statuses_poll_until_the_deadline(api: HostileApi, status: Any) -> None:
    api.on("getTaskResult", json_answer({"status": status}))
    client = client_for(
        api.url, schedules={"recaptcha-v2": PollSchedule(first_wait=0.0, interval=0.1)}
    )
    started = time.monotonic()
    with pytest.raises(SolveTimeoutError):
        await client.solve(task(), timeout=0.5)
    took = time.monotonic() - started
    await client.close()
    assert 0.4 <= took <= 0.5 + 1.0
    assert api.methods()[0] == "createTask"
    assert 3 <= api.methods().count("getTaskResult") <= 8


@pytest.mark.parametrize("error_id", ["1", 1.0, True, " 2 "])
@pytest_twisted.ensureDeferred
async def test_fatal_code_is_recognised_whatever_the_error_id_type(
    api: HostileApi, error_id: Any
) -> None:
    api.on("createTask", json_answer({"errorId": error_id, "errorCode": "ERROR_ZERO_BALANCE"}))
    client = client_for(api.url)
    with pytest.raises(AccountError):
        await client.solve(task())
    with pytest.raises(AccountError):
        await client.solve(task(2))
    await client.close()
    assert api.methods() == ["createTask"]


@pytest_twisted.ensureDeferred
async def test_deep_json_and_nan_balances_are_protocol_errors(api: HostileApi) -> None:
    client = client_for(api.url, retry=RetryPolicy(max_retries=0, base=0.01, cap=0.01))
    for body in (b"[" * 100_000, b'{"balance": NaN}', b'{"balance": "inf"}', b'{"balance": 1e400}'):
        api.on("getBalance", raw_answer(body))
        with pytest.raises(ProtocolError):
            await client.get_balance()
    await client.close()


@pytest_twisted.ensureDeferred
async def test_create_task_refused_with_a_new_task_code_does_not_loop(api: HostileApi) -> None:
    refused = {"errorId": 1, "errorCode": "ERROR_PROXY_CONNECTION_FAILED"}
    api.on("createTask", json_answer(refused))
    client = client_for(api.url)
    with pytest.raises(TaskFailedError) as info:
        await client.solve(task(), max_tasks=2)
    await client.close()
    assert api.methods() == ["createTask"] * 2
    assert info.value.tasks_created == 0


@pytest_twisted.ensureDeferred
async def test_garbled_poll_answers_do_not_buy_a_new_task(api: HostileApi) -> None:
    api.on("getTaskResult", raw_answer(b"<html>oops</html>"))
    client = client_for(api.url)
    with pytest.raises(ProtocolError, match="malformed") as info:
        await client.solve(task())
    await client.close()
    retries = FAST_RETRY.max_retries
    assert api.methods() == ["createTask"] + ["getTaskResult"] * (1 + retries)
    assert info.value.tasks_created == 1


# -- 5. per-solve bounds ------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_max_tasks_per_solve_overrides_the_client(api: HostileApi) -> None:
    failed = {"status": "failed", "error": {"errorCode": "ERROR_CAPTCHA_UNSOLVABLE"}}
    api.on("getTaskResult", json_answer(failed))
    client = client_for(api.url, max_task_attempts=5)
    with pytest.raises(TaskFailedError) as info:
        await client.solve(task(), max_tasks=2)
    await client.close()
    assert api.methods().count("createTask") == 2
    assert info.value.tasks_created == 2
    assert info.value.scope is Scope.NEW_TASK


@pytest_twisted.ensureDeferred
async def test_task_ids_of_every_created_task_are_reported(api: HostileApi) -> None:
    failed = {"status": "failed", "error": {"errorCode": "ERROR_CAPTCHA_UNSOLVABLE"}}
    ready = {"status": "ready", "solution": {"token": "tok"}}
    api.on("createTask", json_answer({"taskId": "a"}), json_answer({"taskId": "b"}))
    api.on("getTaskResult", json_answer(failed), json_answer(ready))
    client = client_for(api.url)
    result = await client.solve(task())
    await client.close()
    assert result.task_ids == ("a", "b")
    assert result.task_id == "b"
    assert result.attempts == 2


@pytest_twisted.ensureDeferred
async def test_a_stalled_call_ends_by_the_deadline_plus_grace(api: HostileApi) -> None:
    api.on("getTaskResult", stall())
    client = client_for(api.url, http_timeout=30.0)
    started = time.monotonic()
    with pytest.raises(SolveTimeoutError) as info:
        await client.solve(task(), timeout=0.3)
    took = time.monotonic() - started
    await client.close()
    assert took <= 0.3 + 1.0 + 0.2
    assert info.value.tasks_created == 1


@pytest_twisted.ensureDeferred
async def test_waiting_for_a_connection_slot_counts_against_the_deadline(
    api: HostileApi,
) -> None:
    api.on("getBalance", stall())
    client = client_for(api.url, max_connections=1)
    hog = client.get_balance()
    await api.wait_calls(1, "getBalance")
    started = time.monotonic()
    with pytest.raises(SolveTimeoutError, match="hard limit") as info:
        await client.solve(task(), timeout=0.2)
    took = time.monotonic() - started
    hog.cancel()
    assert type(failure_of(hog)) is defer.CancelledError
    await client.close()
    assert took <= 0.2 + 1.0 + 0.2
    assert info.value.tasks_created == 0
    assert api.methods() == ["getBalance"]


def test_the_hard_limit_is_exact_on_a_fake_clock() -> None:
    """A solve stuck anywhere (here: at a gate that never admits) fails at
    exactly ``timeout + LAST_CALL_GRACE``, and releases nothing it never took."""
    clock = Clock()
    gate = RecordingGate(hold=defer.Deferred())
    client = VastCaptchaClient(KEY, "http://127.0.0.1:9/api", gate=gate, reactor=clock)
    stuck = client.solve(task(), timeout=30)
    clock.advance(30 + LAST_CALL_GRACE - 0.001)
    assert not stuck.called
    clock.advance(0.001)
    error = failure_of(stuck)
    assert isinstance(error, SolveTimeoutError)
    assert error.tasks_created == 0
    assert gate.log == []
    assert not client._runs


@pytest.mark.parametrize(
    ("option", "value"),
    [("timeout", float("nan")), ("timeout", 0), ("max_tasks", 0), ("max_tasks", 1.5)],
)
def test_per_solve_overrides_are_checked(option: str, value: Any) -> None:
    client = client_for("http://127.0.0.1:9/api")
    with pytest.raises(ValueError, match=option):
        client.solve(task(), **{option: value})


# -- 7. transport errors ----------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_untrusted_certificate_fails_at_once_naming_the_host(tls_api: HostileApi) -> None:
    client = client_for(tls_api.url)
    with pytest.raises(TlsError) as info:
        await client.solve(task())
    await client.close()
    host = tls_api.url.split("/")[2]
    assert info.value.code == "TLS_ERROR"
    assert host in str(info.value)
    assert info.value.scope is Scope.RUN
    assert tls_api.connections == 1
    assert tls_api.calls == []


@pytest_twisted.ensureDeferred
async def test_refused_connection_is_retried_briefly_and_named() -> None:
    events = Events()
    with hostile_api.closed_port() as port:
        client = client_for(f"http://127.0.0.1:{port}/api", on_event=events)
        started = time.monotonic()
        with pytest.raises(TransportError, match=f"connection refused by 127.0.0.1:{port}") as info:
            await client.solve(task())
        took = time.monotonic() - started
        await client.close()
    await turn()
    assert info.value.code == "CONNECTION_FAILED"
    assert [e.name for e in events.seen].count("retrying") == FAST_RETRY.connect_retries
    assert took < 2.0


@pytest_twisted.ensureDeferred
async def test_connect_that_never_completes_is_retried_briefly_and_named() -> None:
    events = Events()
    with hostile_api.stalled_port() as port:
        client = client_for(f"http://127.0.0.1:{port}/api", http_timeout=0.2, on_event=events)
        with pytest.raises(TransportError, match=f"cannot connect to 127.0.0.1:{port}") as info:
            await client.get_balance()
        await client.close()
    await turn()
    assert info.value.code == "CONNECTION_FAILED"
    assert [e.name for e in events.seen].count("retrying") == FAST_RETRY.connect_retries


@pytest.mark.parametrize("status", [301, 302, 307, 308])
@pytest_twisted.ensureDeferred
async def test_redirect_is_reported_not_followed(api: HostileApi, status: int) -> None:
    api.on("createTask", redirect(b"https://new.example/api/solver/createTask", status))
    client = client_for(api.url)
    with pytest.raises(ApiRedirectError, match=r"redirected to https://new\.example") as info:
        await client.solve(task())
    await client.close()
    assert info.value.location == "https://new.example/api/solver/createTask"
    assert info.value.scope is Scope.RUN
    assert api.methods() == ["createTask"]


@pytest.mark.parametrize(
    ("status", "error", "billable"),
    [(204, ProtocolError, True), (418, TaskFailedError, False), (451, TaskFailedError, False)],
)
@pytest_twisted.ensureDeferred
async def test_odd_statuses_spend_at_most_the_task_budget(
    api: HostileApi, status: int, error: type[VastCaptchaError], billable: bool
) -> None:
    # A 2xx without a task id may have created (and billed) a task: each is
    # counted and a fresh one tried until the budget is spent. A 4xx created
    # none, and a status the API does not document is not worth a retry.
    api.on("createTask", raw_answer(b"", status))
    budget = 3
    client = client_for(api.url, max_task_attempts=budget)
    with pytest.raises(error) as info:
        await client.solve(task())
    await client.close()
    calls = budget if billable else 1
    assert api.methods() == ["createTask"] * calls
    assert info.value.tasks_created == (calls if billable else 0)


# -- 7b. the keep-alive connections ------------------------------------------------

READY = json_answer({"status": "ready", "solution": {"gRecaptchaResponse": "tok"}})
PROCESSING = json_answer({"status": "processing"})


@pytest_twisted.ensureDeferred
async def test_calls_share_one_kept_alive_connection(api: HostileApi) -> None:
    api.on("getTaskResult", *[PROCESSING] * 5, READY)
    client = client_for(api.url)
    result = await client.solve(task())
    balance = await client.get_balance()
    await client.close()
    assert result.polls == 6
    assert balance == 5.0
    assert api.connections == 1


@pytest_twisted.ensureDeferred
async def test_a_connection_the_server_closes_is_replaced(api: HostileApi) -> None:
    closing = raw_answer(b'{"status":"processing"}', headers={b"connection": b"close"})
    api.on("getTaskResult", closing, closing, READY)
    client = client_for(api.url)
    result = await client.solve(task())
    await client.close()
    assert result.token == "tok"
    # createTask and the first poll share one; each closing answer ends its own.
    assert api.connections == 3


@pytest.mark.parametrize(
    "data",
    [
        b"NOT HTTP AT ALL\r\n\r\n",
        b'HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n{"status":',
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ],
    ids=["garbage", "cut-short", "bad-chunk"],
)
@pytest_twisted.ensureDeferred
async def test_broken_http_is_a_transport_error_and_retried(api: HostileApi, data: bytes) -> None:
    api.on("getTaskResult", raw_bytes(data), raw_bytes(data), READY)
    events = Events()
    client = client_for(api.url, on_event=events)
    result = await client.solve(task())
    await client.close()
    await turn()
    assert result.token == "tok"
    retries = [e for e in events.seen if e.name == "retrying"]
    assert len(retries) == 2
    assert all(isinstance(e.error, TransportError) for e in retries)


# -- 8. the task gate ------------------------------------------------------------


class RecordingGate:
    """Admits tasks (or refuses them once ``budget`` is spent) and records the calls."""

    def __init__(self, budget: int = 100, hold: defer.Deferred[None] | None = None) -> None:
        self.log: list[tuple[str, object, str | None]] = []
        self.budget = budget
        self.hold = hold
        self.leases = 0

    async def acquire(self, task: Task) -> object:
        if self.hold is not None:
            await self.hold
        if self.budget <= 0:
            raise BudgetExhaustedError("no budget left")
        self.budget -= 1
        self.leases += 1
        lease = f"lease-{self.leases}"
        self.log.append(("acquire", lease, None))
        return lease

    def created(self, lease: object, task_id: str | None) -> None:
        self.log.append(("created", lease, task_id))

    def release(self, lease: object) -> None:
        self.log.append(("release", lease, None))


@pytest_twisted.ensureDeferred
async def test_gate_sees_every_task_and_releases_each_once(api: HostileApi) -> None:
    failed = {"status": "failed", "error": {"errorCode": "ERROR_CAPTCHA_UNSOLVABLE"}}
    ready = {"status": "ready", "solution": {"token": "tok"}}
    api.on(
        "createTask", json_answer({}), json_answer({"taskId": "b"}), json_answer({"taskId": "c"})
    )
    api.on("getTaskResult", json_answer(failed), json_answer(ready))
    gate = RecordingGate()
    client = client_for(api.url, gate=gate)
    result = await client.solve(task())
    await client.close()
    assert result.attempts == 3
    assert gate.log == [
        ("acquire", "lease-1", None),
        ("created", "lease-1", None),
        ("release", "lease-1", None),
        ("acquire", "lease-2", None),
        ("created", "lease-2", "b"),
        ("release", "lease-2", None),
        ("acquire", "lease-3", None),
        ("created", "lease-3", "c"),
        ("release", "lease-3", None),
    ]


@pytest_twisted.ensureDeferred
async def test_gate_refusal_stops_the_solve_before_spending(api: HostileApi) -> None:
    failed = {"status": "failed", "error": {"errorCode": "ERROR_CAPTCHA_UNSOLVABLE"}}
    api.on("getTaskResult", json_answer(failed))
    gate = RecordingGate(budget=1)
    client = client_for(api.url, gate=gate)
    with pytest.raises(BudgetExhaustedError) as info:
        await client.solve(task())
    await client.close()
    assert api.methods() == ["createTask", "getTaskResult"]
    assert info.value.tasks_created == 1
    assert info.value.scope is Scope.RUN
    assert info.value.reason == "vastcaptcha_budget_exhausted"
    assert [entry[0] for entry in gate.log] == ["acquire", "created", "release"]


@pytest_twisted.ensureDeferred
async def test_cancelling_releases_the_lease_or_never_takes_it(api: HostileApi) -> None:
    events = Events()
    gate = RecordingGate()
    client = client_for(api.url, gate=gate, schedules=SLEEPY, on_event=events)
    polling = client.solve(task())
    await events.wait(lambda e: e.name == "polled")
    polling.cancel()
    assert type(failure_of(polling)) is defer.CancelledError
    assert gate.log[-1] == ("release", "lease-1", None)

    held = RecordingGate(hold=defer.Deferred())
    other = client_for(api.url, gate=held)
    waiting = other.solve(task())
    waiting.cancel()
    assert type(failure_of(waiting)) is defer.CancelledError
    await other.close()
    await client.close()
    assert held.log == []
    assert api.methods() == ["createTask", "getTaskResult"]


class UnsentGate(RecordingGate):
    """A gate that also hears of tasks whose createTask never went out."""

    def unsent(self, lease: object) -> None:
        self.log.append(("unsent", lease, None))


@pytest_twisted.ensureDeferred
async def test_a_task_cancelled_before_its_create_task_went_out_is_given_back(
    api: HostileApi,
) -> None:
    # One connection: the first createTask stalls on it, the second solve's
    # waits for it and is cancelled there, never sent.
    api.on("createTask", stall())
    gate = UnsentGate()
    client = client_for(api.url, gate=gate, max_connections=1)
    first = client.solve(task())
    await api.wait_calls(1, "createTask")
    second = client.solve(task())
    # Its lease was taken at once; it now waits for the connection.
    assert gate.log[-1] == ("acquire", "lease-2", None)
    second.cancel()
    first.cancel()
    assert type(failure_of(second)) is defer.CancelledError
    assert type(failure_of(first)) is defer.CancelledError
    await client.close()
    assert api.methods() == ["createTask"]
    # The sent one may have been billed: it is not given back.
    assert sorted(gate.log) == [
        ("acquire", "lease-1", None),
        ("acquire", "lease-2", None),
        ("release", "lease-1", None),
        ("release", "lease-2", None),
        ("unsent", "lease-2", None),
    ]
    assert gate.log.index(("unsent", "lease-2", None)) < gate.log.index(
        ("release", "lease-2", None)
    )


# -- 9. user agent -----------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_calls_say_who_makes_them(api: HostileApi) -> None:
    client = client_for(api.url)
    await client.get_balance()
    await client.close()
    version = metadata.version("scrapy-vastcaptcha")
    assert api.calls[0].headers["user-agent"] == f"scrapy-vastcaptcha/{version}"
    assert json.loads(json.dumps(api.calls[0].body)) == {"clientKey": KEY}

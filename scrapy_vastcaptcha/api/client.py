"""The VastCap client on treq: never blocks the reactor.

Every method returns a Twisted ``Deferred``; each has an ``*_async`` twin, a
coroutine for asyncio code running on Twisted's asyncio reactor (Scrapy's
default). Cancelling the Deferred (or the asyncio task) stops the solve at
once: the pending HTTP call or wait is cancelled and no further call is made.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import treq
from twisted.internet import defer
from twisted.internet.error import ConnectError, ConnectionDone, ConnectionLost
from twisted.internet.task import deferLater
from twisted.web.client import (
    Agent,
    HTTPConnectionPool,
    RequestTransmissionFailed,
    ResponseFailed,
    ResponseNeverReceived,
)
from twisted.web.http_headers import Headers
from twisted.web.iweb import IBodyProducer
from zope.interface import implementer

from scrapy_vastcaptcha.api import _protocol as protocol
from scrapy_vastcaptcha.api._protocol import Pending, Solution
from scrapy_vastcaptcha.api._schedule import (
    DEFAULT_SCHEDULES,
    PollSchedule,
    RetryPolicy,
    schedules_with_interval,
)
from scrapy_vastcaptcha.api.credentials import ApiKey, resolve_api_key, resolve_api_url
from scrapy_vastcaptcha.api.errors import (
    AccountError,
    ApiError,
    Scope,
    ServiceBusyError,
    SolveTimeoutError,
    TransportError,
    VastCaptchaError,
    api_error,
)
from scrapy_vastcaptcha.api.tasks import Task

T = TypeVar("T")

_TRANSIENT = (
    ConnectError,
    ConnectionLost,
    ConnectionDone,
    ResponseFailed,
    ResponseNeverReceived,
    RequestTransmissionFailed,
    defer.TimeoutError,
    OSError,
)

USER_AGENT = b"scrapy-vastcaptcha"
#: Seconds the call made at a solve's deadline may take (the deadline is
#: exceeded by at most this much).
_LAST_CALL_GRACE = 1.0
_HEADERS = Headers({b"Content-Type": [b"application/json"], b"User-Agent": [USER_AGENT]})


@dataclass(frozen=True)
class SolveResult:
    """A solved captcha and how it went."""

    task_id: str
    solution: Solution
    kind: str
    #: Tasks created for this solve (more than 1 after unsolvable answers).
    attempts: int
    #: ``getTaskResult`` calls made for the last task.
    polls: int
    #: Seconds from the first ``createTask`` to the ready answer.
    elapsed: float
    #: Wall-clock time (``time.time()``) the token was received; tokens expire
    #: from about then.
    solved_at: float

    @property
    def token(self) -> str:
        return self.solution.value


@dataclass(frozen=True)
class SolveEvent:
    """Progress of a solve, for logs, stats and progress displays."""

    #: ``created``, ``polled``, ``retrying``, ``new_task``, ``solved`` or ``failed``.
    name: str
    kind: str
    task_id: str | None = None
    status: str | None = None
    elapsed: float = 0.0
    error: BaseException | None = None
    #: For ``retrying``: the API method that failed, and the backoff before the retry.
    method: str = ""
    delay: float = 0.0


class VastCaptchaClient:
    """A client for one API key.

    :param api_key: the key; default ``$VASTCAPTCHA_API_KEY``.
    :param api_url: the API base URL; default ``$VASTCAPTCHA_API_URL`` or the
        real service. Plain http is refused unless the host is loopback.
    :param http_timeout: seconds one HTTP call may take (then it is retried).
    :param solve_timeout: overall deadline of one :meth:`solve`, in seconds.
    :param max_polls: ``getTaskResult`` calls per task before giving up.
    :param max_task_attempts: tasks one solve may create (a fresh task after
        ``ERROR_CAPTCHA_UNSOLVABLE`` and similar).
    :param poll_interval: overrides every kind's interval (first waits scale
        with it, see :func:`~scrapy_vastcaptcha.api._schedule.schedules_with_interval`).
    :param schedules: per-kind :class:`PollSchedule` overrides.
    :param retry: backoff policy for transient failures of one call.
    :param max_connections: HTTP calls in flight at once; further calls queue.
    :param on_event: called with a :class:`SolveEvent` after each step (on the
        next reactor turn).
    :param reactor: the Twisted reactor; default the global one.
    """

    def __init__(
        self,
        api_key: str | ApiKey | None = None,
        api_url: str | None = None,
        *,
        http_timeout: float = 30.0,
        solve_timeout: float = 180.0,
        max_polls: int = 120,
        max_task_attempts: int = 3,
        poll_interval: float | None = None,
        schedules: Mapping[str, PollSchedule] | None = None,
        retry: RetryPolicy | None = None,
        max_connections: int = 32,
        on_event: Callable[[SolveEvent], None] | None = None,
        reactor: Any = None,
    ) -> None:
        self.api_key = resolve_api_key(api_key)
        self.api_url = resolve_api_url(api_url)
        for name, value in (
            ("http_timeout", http_timeout),
            ("solve_timeout", solve_timeout),
            ("max_polls", max_polls),
            ("max_task_attempts", max_task_attempts),
            ("max_connections", max_connections),
        ):
            if value <= 0:
                raise ValueError(f"{name} must be positive, got {value!r}")
        self.http_timeout = http_timeout
        self.solve_timeout = solve_timeout
        self.max_polls = max_polls
        self.max_task_attempts = max_task_attempts
        base = schedules_with_interval(poll_interval) if poll_interval else dict(DEFAULT_SCHEDULES)
        self.schedules: dict[str, PollSchedule] = {**base, **(schedules or {})}
        self.retry = retry or RetryPolicy()
        self.on_event = on_event
        if reactor is None:
            from twisted.internet import reactor as global_reactor

            reactor = global_reactor
        # Typed loosely: the reactor provides several interfaces at once.
        self._reactor: Any = reactor
        self._pool = HTTPConnectionPool(reactor, persistent=True)
        self._pool.maxPersistentPerHost = max_connections
        self._agent: Any = Agent(reactor, pool=self._pool)
        # Method URLs are parsed once: re-parsing a URL on every poll (as a
        # str URL handed to treq would be) costs more CPU than the rest of the call.
        self._urls = {
            method: f"{self.api_url}/{method}".encode("ascii")
            for method in (protocol.CREATE_TASK, protocol.GET_TASK_RESULT, protocol.GET_BALANCE)
        }
        self._slots = defer.DeferredSemaphore(max_connections)
        self._in_flight: set[defer.Deferred[Any]] = set()
        #: The first run-fatal error seen; once set, no task is created.
        self.fatal_error: AccountError | None = None

    def __repr__(self) -> str:
        return f"VastCaptchaClient(api_url={self.api_url!r}, api_key={self.api_key.prefix!r})"

    # -- public Deferred API -------------------------------------------------

    def solve(self, task: Task) -> defer.Deferred[SolveResult]:
        """Create a task, poll until it is solved, and fire with the result.

        Retries transient failures with backoff, creates a fresh task after an
        unsolvable answer (up to ``max_task_attempts``), and fails with
        :class:`SolveTimeoutError` at ``solve_timeout`` or ``max_polls``.
        """
        return self._track(self._solve(task))

    def create_task(self, task: Task) -> defer.Deferred[str]:
        """Create one task and fire with its id."""
        return self._track(self._create_task(task, None))

    def get_task_result(self, task_id: str, task: Task | None = None) -> defer.Deferred[Any]:
        """One ``getTaskResult`` call: fires with a :class:`Solution` or a
        :class:`Pending`; raises the task's error if it failed."""
        return self._track(
            self._call(
                protocol.GET_TASK_RESULT,
                protocol.task_result_body(self.api_key, task_id),
                lambda body: protocol.parse_task_result(body, task),
                None,
            )
        )

    def get_balance(self) -> defer.Deferred[float]:
        """The account balance in USD."""
        return self._track(
            self._call(
                protocol.GET_BALANCE,
                protocol.balance_body(self.api_key),
                protocol.parse_balance,
                None,
            )
        )

    def close(self) -> defer.Deferred[None]:
        """Cancel every call in flight and close pooled connections."""
        for d in list(self._in_flight):
            d.cancel()
        result: defer.Deferred[None] = self._pool.closeCachedConnections()
        return result

    # -- asyncio twins -------------------------------------------------------

    async def solve_async(self, task: Task) -> SolveResult:
        return await _as_future(self.solve(task))

    async def create_task_async(self, task: Task) -> str:
        return await _as_future(self.create_task(task))

    async def get_task_result_async(self, task_id: str, task: Task | None = None) -> Any:
        return await _as_future(self.get_task_result(task_id, task))

    async def get_balance_async(self) -> float:
        return await _as_future(self.get_balance())

    async def close_async(self) -> None:
        await _as_future(self.close())

    # -- internals -----------------------------------------------------------

    def _track(self, coro: Any) -> defer.Deferred[Any]:
        d: defer.Deferred[Any] = defer.Deferred.fromCoroutine(coro)
        if not d.called:
            self._in_flight.add(d)

            def forget(result: Any) -> Any:
                self._in_flight.discard(d)
                return result

            d.addBoth(forget)
        return d

    def _emit(self, event: SolveEvent) -> None:
        # Called on the next reactor turn, not inline: a listener that cancels
        # the solve must find it suspended (a running coroutine cannot be
        # cancelled), and a listener's exception must not break the solve.
        if self.on_event is not None:
            self._reactor.callLater(0, self.on_event, event)

    def _now(self) -> float:
        return float(self._reactor.seconds())

    async def _sleep(self, seconds: float) -> None:
        await deferLater(self._reactor, max(0.0, seconds), lambda: None)

    async def _solve(self, task: Task) -> SolveResult:
        kind = task.KIND
        schedule = self.schedules.get(kind, DEFAULT_SCHEDULES["recaptcha-v2"])
        started = self._now()
        deadline = started + self.solve_timeout
        attempt = 0
        while True:
            attempt += 1
            try:
                task_id = await self._create_task(task, deadline)
                self._emit(SolveEvent("created", kind, task_id, elapsed=self._now() - started))
                solution, polls = await self._poll(task, task_id, schedule, deadline, started)
            except ApiError as exc:
                if exc.scope is Scope.NEW_TASK and attempt < self.max_task_attempts:
                    self._emit(SolveEvent("new_task", kind, error=exc))
                    continue
                self._emit(SolveEvent("failed", kind, error=exc, elapsed=self._now() - started))
                raise
            except VastCaptchaError as exc:
                self._emit(SolveEvent("failed", kind, error=exc, elapsed=self._now() - started))
                raise
            elapsed = self._now() - started
            self._emit(SolveEvent("solved", kind, task_id, "ready", elapsed=elapsed))
            return SolveResult(
                task_id=task_id,
                solution=solution,
                kind=kind,
                attempts=attempt,
                polls=polls,
                elapsed=elapsed,
                solved_at=time.time(),
            )

    async def _create_task(self, task: Task, deadline: float | None) -> str:
        if self.fatal_error is not None:
            # Spend nothing once the account is known to be unusable.
            raise self.fatal_error
        return await self._call(
            protocol.CREATE_TASK,
            protocol.create_task_body(self.api_key, task),
            protocol.parse_create_task,
            deadline,
        )

    async def _poll(
        self,
        task: Task,
        task_id: str,
        schedule: PollSchedule,
        deadline: float,
        started: float,
    ) -> tuple[Solution, int]:
        wait = schedule.first_wait
        body = protocol.task_result_body(self.api_key, task_id)
        for polls in range(1, self.max_polls + 1):
            remaining = deadline - self._now()
            if remaining <= 0:
                break
            # Poll once more at the deadline rather than give up early.
            await self._sleep(min(wait, remaining))
            answer = await self._call(
                protocol.GET_TASK_RESULT,
                body,
                lambda raw: protocol.parse_task_result(raw, task),
                deadline,
            )
            status = answer.status if isinstance(answer, Pending) else "ready"
            self._emit(SolveEvent("polled", task.KIND, task_id, status, self._now() - started))
            if isinstance(answer, Solution):
                return answer, polls
            wait = schedule.interval
        else:
            raise SolveTimeoutError(f"task {task_id} not ready after {self.max_polls} polls")
        raise SolveTimeoutError(
            f"task {task_id} not ready within the {self.solve_timeout:g} s solve timeout"
        )

    async def _call(
        self,
        method: str,
        body: bytes,
        parse: Callable[[bytes], T],
        deadline: float | None,
    ) -> T:
        """POST ``body`` to ``method`` and parse the answer, retrying transient
        failures (transport errors, garbled bodies, no free slot) with backoff."""
        failures = 0
        while True:
            timeout = self.http_timeout
            if deadline is not None:
                remaining = deadline - self._now()
                if remaining <= 0 and failures:
                    raise SolveTimeoutError(f"{method}: solve timeout reached")
                # The poll due at the deadline still gets a moment to answer.
                timeout = min(timeout, max(remaining, _LAST_CALL_GRACE))
            try:
                raw = await self._post(method, body, timeout)
                return parse(raw)
            except AccountError as exc:
                self.fatal_error = self.fatal_error or exc
                raise
            except (TransportError, ServiceBusyError) as exc:
                error: VastCaptchaError = exc
            except _TRANSIENT as exc:
                error = TransportError(_describe(exc), method=method)
            if failures >= self.retry.max_retries:
                raise error
            delay = self.retry.delay(failures)
            failures += 1
            self._emit(SolveEvent("retrying", "", error=error, method=method, delay=delay))
            if deadline is not None and self._now() + delay >= deadline:
                raise SolveTimeoutError(f"{method}: solve timeout reached while retrying ({error})")
            await self._sleep(delay)

    async def _post(self, method: str, body: bytes, timeout: float) -> bytes:
        await self._slots.acquire()
        try:
            d = defer.Deferred.fromCoroutine(self._exchange(method, body))
            d.addTimeout(timeout, self._reactor)
            raw: bytes = await d
        finally:
            self._slots.release()
        return raw

    async def _exchange(self, method: str, body: bytes) -> bytes:
        response = await self._agent.request(
            b"POST", self._urls[method], _HEADERS.copy(), _BytesProducer(body)
        )
        # Some services echo the request in error descriptions: never let the
        # key travel further than this line.
        content = self.api_key.scrub_bytes(await treq.content(response))
        if response.code >= 500 or response.code in (408, 429):
            raise TransportError(f"HTTP {response.code}", method=method)
        if response.code >= 400:
            # A 4xx may still carry an API error; if not, say which status it was.
            try:
                data = protocol.decode(content, method)
            except TransportError:
                data = {}
            error = protocol.find_error(data, method)
            raise error or api_error(f"HTTP_{response.code}", method=method)
        return content


@implementer(IBodyProducer)
class _BytesProducer:
    """Writes a request body in one go. The default (``FileBodyProducer``)
    schedules its writes on the *global* reactor, which must not be assumed
    (or installed as a side effect) when the client was given its own."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.length = len(body)

    def startProducing(self, consumer: Any) -> defer.Deferred[None]:
        consumer.write(self.body)
        return defer.succeed(None)

    def pauseProducing(self) -> None:
        pass

    def resumeProducing(self) -> None:
        pass

    def stopProducing(self) -> None:
        pass


def _describe(exc: BaseException) -> str:
    if isinstance(exc, defer.TimeoutError):
        return "HTTP call timed out"
    reasons = getattr(exc, "reasons", None)
    if reasons:
        return f"{type(exc).__name__}: {reasons[0].getErrorMessage()}"
    return f"{type(exc).__name__}: {exc}"


async def _as_future(d: defer.Deferred[T]) -> T:
    """Await a Deferred from asyncio code; cancelling the awaiting task cancels it."""
    return await d.asFuture(asyncio.get_running_loop())

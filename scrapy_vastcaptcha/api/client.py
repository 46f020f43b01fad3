"""The VastCap client on Twisted: never blocks the reactor.

Every method returns a Twisted ``Deferred``; each has an ``*_async`` twin, a
coroutine for asyncio code running on Twisted's asyncio reactor (Scrapy's
default). Cancelling the Deferred (or the asyncio task) fails it with
``twisted.internet.defer.CancelledError`` at once, whatever the call is
doing (connecting, waiting for an answer, reading it, sleeping between polls
or in backoff, waiting at the gate): the pending HTTP call is aborted and no
further call is made for it.

Bounds of one :meth:`VastCaptchaClient.solve` call, whatever the service
answers:

* it creates at most ``max_tasks`` tasks (``max_task_attempts``), counting
  every ``createTask`` that got an HTTP 2xx answer that was not an API error,
  usable or not, or no answer once sent (either may still have been billed);
  a ``createTask`` is never sent again as it is once it may have arrived;
* it ends (solved, failed or timed out) at most ``timeout + 1`` seconds
  (``solve_timeout``; :data:`LAST_CALL_GRACE`) after it started: the poll
  due at the deadline may take that second to answer, and a watchdog stops
  anything still running then (a wait for a connection slot or at the gate
  included);
* it reads at most :data:`MAX_ANSWER_BYTES` of any answer.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import math
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

from twisted.internet import defer
from twisted.internet.error import (
    ConnectError,
    ConnectingCancelledError,
    ConnectionDone,
    ConnectionLost,
)
from twisted.internet.task import deferLater
from twisted.python.failure import Failure
from twisted.web.client import (
    RequestTransmissionFailed,
    ResponseFailed,
    ResponseNeverReceived,
)

from scrapy_vastcaptcha import __version__
from scrapy_vastcaptcha.api import _protocol as protocol
from scrapy_vastcaptcha.api._http import (
    AgentHttp,
    HttpAnswer,
    LeanHttp,
    Transport,
    is_redirect,
    is_try_later,
)
from scrapy_vastcaptcha.api._learning import SolveTimeModel
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
    ApiRedirectError,
    ProtocolError,
    Scope,
    ServiceBusyError,
    SolveTimeoutError,
    TlsError,
    TransportError,
    VastCaptchaError,
    api_error,
)
from scrapy_vastcaptcha.api.gate import TaskGate
from scrapy_vastcaptcha.api.tasks import Task
from scrapy_vastcaptcha.api.validation import check_positive_finite, check_positive_int

T = TypeVar("T")

logger = logging.getLogger(__name__)

#: Largest answer read, in bytes; a longer one is a :class:`ProtocolError` and
#: its connection is aborted without reading the rest. The largest legitimate
#: answer is a ready hCaptcha Enterprise or Arkose token (up to about 20 KB,
#: JSON-escaped) with a user agent and a few cookies: 256 KiB leaves a
#: tenfold margin while a hostile or broken peer costs at most that much memory
#: per call in flight.
MAX_ANSWER_BYTES = 256 * 1024
#: Seconds the call made at a solve's deadline may take: the deadline is
#: exceeded by at most this much.
LAST_CALL_GRACE = 1.0
#: Seconds: polls are sent on multiples of this (see _on_tick).
POLL_TICK = 0.02
#: Longest wait for a TCP connection (less if ``http_timeout`` is shorter):
#: with ``RetryPolicy.connect_retries`` = 2, an unreachable API is reported
#: within about 3 x 10 s plus 3 s of backoff.
CONNECT_TIMEOUT = 10.0

# Failures of one HTTP exchange that a retry may get past.
_TRANSIENT = (
    ConnectionLost,
    ConnectionDone,
    ResponseFailed,
    ResponseNeverReceived,
    RequestTransmissionFailed,
    defer.TimeoutError,
    OSError,
)


USER_AGENT = f"scrapy-vastcaptcha/{__version__}".encode("ascii")
_METHODS = (protocol.CREATE_TASK, protocol.GET_TASK_RESULT, protocol.GET_BALANCE)


@dataclass(frozen=True)
class SolveResult:
    """A solved captcha and how it went."""

    task_id: str
    solution: Solution
    kind: str
    #: Tasks this solve may have been billed for: every ``createTask`` that got
    #: an HTTP 2xx answer that was not an API error, or no answer once sent
    #: (more than 1 after unsolvable, unusable or lost answers).
    attempts: int
    #: ``getTaskResult`` calls made for the last task.
    polls: int
    #: Seconds from the first ``createTask`` to the ready answer.
    elapsed: float
    #: Wall-clock time (``time.time()``) the token was received; tokens expire
    #: from about then.
    solved_at: float
    #: Ids of every task this solve created, in order (the last one solved);
    #: answers without a usable id count in ``attempts`` but have none here.
    task_ids: tuple[str, ...] = ()

    @property
    def token(self) -> str:
        return self.solution.value

    @property
    def tasks_created(self) -> int:
        """Same as ``attempts``, named like the attribute errors carry."""
        return self.attempts


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


class _Run:
    """One public call in progress: what cancelling or closing must stop."""

    def __init__(self) -> None:
        self.cancelled = False
        #: Tasks this call may have been billed for.
        self.tasks_created = 0
        self.outer: defer.Deferred[Any] | None = None
        self.inner: defer.Deferred[Any] | None = None
        #: Fires (with None) once the work has ended, whatever the outcome.
        self.finished: defer.Deferred[None] = defer.Deferred()

    def check(self) -> None:
        """Raise ``CancelledError`` if the call was cancelled: called after
        every wait, so that no HTTP call starts once it has been."""
        if self.cancelled:
            raise defer.CancelledError()

    def stop(self) -> None:
        self.cancelled = True
        if self.inner is not None and not self.inner.called:
            self.inner.cancel()


class VastCaptchaClient:
    """A client for one API key.

    :param api_key: the key; default ``$VASTCAPTCHA_API_KEY``.
    :param api_url: the API base URL; default ``$VASTCAPTCHA_API_URL`` or the
        real service. Plain http is refused unless the host is loopback; see
        :func:`~scrapy_vastcaptcha.api.credentials.resolve_api_url` for the
        other checks.
    :param http_timeout: seconds one HTTP call may take (then it is retried).
    :param solve_timeout: overall deadline of one :meth:`solve`, in seconds.
    :param max_polls: ``getTaskResult`` calls per task before giving up.
    :param max_task_attempts: tasks one solve may create (a fresh task after
        ``ERROR_CAPTCHA_UNSOLVABLE``, an unusable answer and similar).
    :param poll_interval: pins every kind's schedule to this interval (first
        waits scale with it, see
        :func:`~scrapy_vastcaptcha.api._schedule.schedules_with_interval`):
        polls follow it exactly and nothing is learned.
    :param schedules: per-kind :class:`PollSchedule` overrides, pinned the same way.
    :param retry: backoff policy for transient failures of one call.
    :param max_connections: HTTP calls in flight at once; further calls queue.
    :param on_event: called with a :class:`SolveEvent` after each step (on the
        next reactor turn).
    :param gate: told of every task before it is created and after it ends
        (spending limits); see :class:`~scrapy_vastcaptcha.api.gate.TaskGate`.
    :param reactor: the Twisted reactor; default the global one.
    :param agent: a Twisted ``IAgent`` to make the HTTP calls with instead of
        the client's own keep-alive connections; e.g. treq's
        ``RequestTraversalAgent`` over the emulator's resource tree runs the
        client in memory, with no socket. Its connections are the caller's
        to close.

    Kinds not pinned poll on a schedule learned from the solves this client
    has seen (:attr:`solve_times`, see :mod:`scrapy_vastcaptcha.api._learning`):
    the fixed schedule until a kind has 8 solves, then polls placed where its
    tokens usually become ready, never two polls of a task less than 2 s apart,
    never more than one per 3 s on average, never past the deadline.

    Every numeric option must be a positive finite number (whole for counts);
    anything else raises :class:`~scrapy_vastcaptcha.api.errors.ConfigurationError`
    naming it.
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
        gate: TaskGate | None = None,
        reactor: Any = None,
        agent: Any = None,
    ) -> None:
        self.api_key = resolve_api_key(api_key)
        self.api_url = resolve_api_url(api_url)
        self.http_timeout = check_positive_finite("http_timeout", http_timeout)
        self.solve_timeout = check_positive_finite("solve_timeout", solve_timeout)
        self.max_polls = check_positive_int("max_polls", max_polls)
        self.max_task_attempts = check_positive_int("max_task_attempts", max_task_attempts)
        max_connections = check_positive_int("max_connections", max_connections)
        base = (
            schedules_with_interval(check_positive_finite("poll_interval", poll_interval))
            if poll_interval is not None
            else dict(DEFAULT_SCHEDULES)
        )
        self.schedules: dict[str, PollSchedule] = {**base, **(schedules or {})}
        # Kinds polled exactly on their schedule, learning nothing (every
        # kind once poll_interval is given).
        self._pinned: frozenset[str] | None = (
            None if poll_interval is not None else frozenset(schedules or {})
        )
        #: Solve times seen, by kind and site key: what unpinned polls are planned from.
        self.solve_times = SolveTimeModel()
        self.retry = retry or RetryPolicy()
        self.on_event = on_event
        self.gate = gate
        if reactor is None:
            from twisted.internet import reactor as global_reactor

            reactor = global_reactor
        # Typed loosely: the reactor provides several interfaces at once.
        self._reactor: Any = reactor
        self._host = urlsplit(self.api_url).netloc
        self._http: Transport = (
            LeanHttp(
                reactor,
                self.api_url,
                methods=_METHODS,
                cap=MAX_ANSWER_BYTES,
                connect_timeout=min(self.http_timeout, CONNECT_TIMEOUT),
                user_agent=USER_AGENT,
            )
            if agent is None
            else AgentHttp(
                agent, self.api_url, methods=_METHODS, cap=MAX_ANSWER_BYTES, user_agent=USER_AGENT
            )
        )
        self._slots = defer.DeferredSemaphore(max_connections)
        self._runs: set[_Run] = set()
        #: The first error that ended the run (an account error seen here, or
        #: one a caller reports with :meth:`stop`); once set, no task is created.
        self.fatal_error: VastCaptchaError | None = None

    def stop(self, error: VastCaptchaError) -> None:
        """End the run: no task is created from now on (a spending limit, a
        configuration the service refuses). The first error is kept."""
        self.fatal_error = self.fatal_error or error

    def __repr__(self) -> str:
        return f"VastCaptchaClient(api_url={self.api_url!r}, api_key={self.api_key.prefix!r})"

    # -- public Deferred API -------------------------------------------------

    def solve(
        self, task: Task, *, timeout: float | None = None, max_tasks: int | None = None
    ) -> defer.Deferred[SolveResult]:
        """Create a task, poll until it is solved, and fire with the result.

        Retries transient failures with backoff, creates a fresh task after an
        unsolvable or unusable answer, and fails with
        :class:`SolveTimeoutError` at the deadline or ``max_polls``.

        :param timeout: this solve's deadline in seconds (default
            ``solve_timeout``); it ends by ``timeout + LAST_CALL_GRACE``.
        :param max_tasks: tasks this solve may create (default
            ``max_task_attempts``). A failure carries ``tasks_created``.
        """
        limit = self.solve_timeout if timeout is None else check_positive_finite("timeout", timeout)
        budget = (
            self.max_task_attempts
            if max_tasks is None
            else check_positive_int("max_tasks", max_tasks)
        )
        return self._track(
            lambda run: self._solve(run, task, limit, budget),
            watchdog=(limit + LAST_CALL_GRACE, task.KIND),
        )

    def create_task(self, task: Task) -> defer.Deferred[str]:
        """Create one task and fire with its id."""
        return self._track(lambda run: self._create_task(run, task, None))

    def get_task_result(self, task_id: str, task: Task | None = None) -> defer.Deferred[Any]:
        """One ``getTaskResult`` call: fires with a :class:`Solution` or a
        :class:`Pending`; raises the task's error if it failed."""
        return self._track(
            lambda run: self._call(
                run,
                protocol.GET_TASK_RESULT,
                protocol.task_result_body(self.api_key, task_id),
                lambda body: protocol.parse_task_result(body, task, key=self.api_key),
                None,
            )
        )

    def get_balance(self) -> defer.Deferred[float]:
        """The account balance in USD."""
        return self._track(
            lambda run: self._call(
                run,
                protocol.GET_BALANCE,
                protocol.balance_body(self.api_key),
                lambda body: protocol.parse_balance(body, key=self.api_key),
                None,
            )
        )

    def close(self) -> defer.Deferred[None]:
        """Cancel every call in flight (each fails with ``CancelledError``),
        wait until none runs any more, and close pooled connections."""
        return defer.Deferred.fromCoroutine(self._close())

    # -- asyncio twins -------------------------------------------------------

    async def solve_async(
        self, task: Task, *, timeout: float | None = None, max_tasks: int | None = None
    ) -> SolveResult:
        return await _as_future(self.solve(task, timeout=timeout, max_tasks=max_tasks))

    async def create_task_async(self, task: Task) -> str:
        return await _as_future(self.create_task(task))

    async def get_task_result_async(self, task_id: str, task: Task | None = None) -> Any:
        return await _as_future(self.get_task_result(task_id, task))

    async def get_balance_async(self) -> float:
        return await _as_future(self.get_balance())

    async def close_async(self) -> None:
        await _as_future(self.close())

    # -- running and stopping calls -------------------------------------------

    def _track(
        self,
        work: Callable[[_Run], Coroutine[Any, Any, T]],
        *,
        watchdog: tuple[float, str] | None = None,
    ) -> defer.Deferred[T]:
        """Run ``work`` and hand back a Deferred of its result that a single
        ``cancel()`` fails with ``CancelledError`` at once, whatever the work
        is waiting on (Twisted's own coroutine cancellation only cancels the
        awaited Deferred, and an HTTP call reports that as a connection
        failure, which would be retried)."""
        run = _Run()
        outer: defer.Deferred[T] = defer.Deferred(lambda _: run.stop())
        run.outer = outer
        self._runs.add(run)
        timer: Any = None

        def settle(result: Any) -> None:
            self._runs.discard(run)
            if timer is not None and timer.active():
                timer.cancel()
            if not run.cancelled and not outer.called:
                outer.errback(result) if isinstance(result, Failure) else outer.callback(result)
            run.finished.callback(None)

        if watchdog is not None:
            limit, kind = watchdog
            started = self._now()

            def expire() -> None:
                error = SolveTimeoutError(f"not solved within the {limit:g} s hard limit")
                error.tasks_created = run.tasks_created
                self._emit(SolveEvent("failed", kind, error=error, elapsed=self._now() - started))
                run.stop()
                if not outer.called:
                    outer.errback(error)

            timer = self._reactor.callLater(limit, expire)
        run.inner = defer.Deferred.fromCoroutine(work(run))
        run.inner.addBoth(settle)
        return outer

    async def _close(self) -> None:
        runs = list(self._runs)
        for run in runs:
            assert run.outer is not None
            run.outer.cancel()
        await defer.DeferredList([run.finished for run in runs])
        await self._http.close()

    def _emit(self, event: SolveEvent) -> None:
        # Called on the next reactor turn, not inline: a listener that cancels
        # the solve must find it suspended (a running coroutine cannot be
        # cancelled), and a listener's exception must not break the solve.
        if self.on_event is not None:
            self._reactor.callLater(0, self.on_event, event)

    def _now(self) -> float:
        return float(self._reactor.seconds())

    async def _sleep(self, run: _Run, seconds: float) -> None:
        await deferLater(self._reactor, max(0.0, seconds), lambda: None)
        run.check()

    # -- solving ---------------------------------------------------------------

    async def _solve(self, run: _Run, task: Task, timeout: float, max_tasks: int) -> SolveResult:
        kind = task.KIND
        schedule = self.schedules.get(kind, DEFAULT_SCHEDULES["recaptcha-v2"])
        started = self._now()
        deadline = started + timeout
        task_ids: list[str] = []
        rounds = 0
        try:
            while True:
                # Rounds, not only billed tasks, are bounded: a createTask
                # refused with a "try a new task" code bills nothing but must
                # not loop either.
                rounds += 1
                try:
                    task_id, solution, polls = await self._one_task(
                        run, task, schedule, deadline, started, task_ids
                    )
                except (ApiError, ProtocolError) as exc:
                    # A task failed in a way a fresh one may get past, or
                    # createTask answered 2xx without a usable id (counted as
                    # a task: it may be billed). Polls that kept getting
                    # garbage are not worth paying for another task.
                    fresh = (
                        exc.method == protocol.CREATE_TASK
                        if isinstance(exc, ProtocolError)
                        else exc.scope is Scope.NEW_TASK
                    )
                    if not fresh or rounds >= max_tasks:
                        raise
                    if self._now() >= deadline:
                        raise SolveTimeoutError(
                            f"no time left for a new task within the {timeout:g} s solve "
                            f"timeout (last error: {exc})"
                        ) from exc
                    self._emit(SolveEvent("new_task", kind, error=exc))
                    continue
                break
        except VastCaptchaError as exc:
            exc.tasks_created = run.tasks_created
            self._emit(SolveEvent("failed", kind, error=exc, elapsed=self._now() - started))
            raise
        elapsed = self._now() - started
        self._emit(SolveEvent("solved", kind, task_id, "ready", elapsed=elapsed))
        return SolveResult(
            task_id=task_id,
            solution=solution,
            kind=kind,
            attempts=run.tasks_created,
            polls=polls,
            elapsed=elapsed,
            solved_at=time.time(),
            task_ids=tuple(task_ids),
        )

    async def _one_task(
        self,
        run: _Run,
        task: Task,
        schedule: PollSchedule,
        deadline: float,
        started: float,
        task_ids: list[str],
    ) -> tuple[str, Solution, int]:
        """Create one task (holding a gate lease for its lifetime) and poll it."""
        self._refuse_if_fatal()
        gate = self.gate
        lease: object = None
        if gate is not None:
            lease = await gate.acquire(task)
        sent = False

        def sending() -> None:
            nonlocal sent
            sent = True

        try:
            run.check()
            try:
                task_id = await self._create_task(run, task, deadline, on_send=sending)
            except ProtocolError:
                if gate is not None:
                    _quietly(gate.created, lease, None)
                raise
            if gate is not None:
                _quietly(gate.created, lease, task_id)
            task_ids.append(task_id)
            self._emit(SolveEvent("created", task.KIND, task_id, elapsed=self._now() - started))
            solution, polls = await self._poll(run, task, task_id, schedule, deadline, started)
            return task_id, solution, polls
        finally:
            if gate is not None:
                unsent = getattr(gate, "unsent", None)
                if not sent and unsent is not None:
                    # Cancelled, timed out or refused before createTask went out.
                    _quietly(unsent, lease)
                _quietly(gate.release, lease)

    def _refuse_if_fatal(self) -> None:
        """Spend nothing once the account is known to be unusable."""
        if self.fatal_error is not None:
            # A copy: each failed call gets its own exception (and count).
            error = copy.copy(self.fatal_error)
            error.tasks_created = 0
            raise error

    async def _create_task(
        self,
        run: _Run,
        task: Task,
        deadline: float | None,
        on_send: Callable[[], None] | None = None,
    ) -> str:
        self._refuse_if_fatal()
        if deadline is not None and self._now() >= deadline:
            raise SolveTimeoutError("createTask: solve timeout reached")
        try:
            task_id = await self._call(
                run,
                protocol.CREATE_TASK,
                protocol.create_task_body(self.api_key, task),
                lambda body: protocol.parse_create_task(body, key=self.api_key),
                deadline,
                idempotent=False,
                on_send=on_send,
            )
        except ProtocolError:
            # Answered 2xx without an API error, or not at all once sent: a
            # task may exist and be billed.
            run.tasks_created += 1
            raise
        run.tasks_created += 1
        return task_id

    async def _poll(
        self,
        run: _Run,
        task: Task,
        task_id: str,
        schedule: PollSchedule,
        deadline: float,
        started: float,
    ) -> tuple[Solution, int]:
        kind = task.KIND
        sitekey: str | None = getattr(task, "website_key", None)
        learn = self._pinned is not None and kind not in self._pinned
        created = self._now()
        plan = self.solve_times.planner(kind, sitekey, schedule, deadline - created, learn=learn)
        body = protocol.task_result_body(self.api_key, task_id)

        def sending() -> None:
            # When the call really goes out: a wait for a connection slot or a
            # retry makes it later than planned, and the next keeps 2 s from it.
            plan.sent(self._now() - created)

        try:
            for polls in range(1, self.max_polls + 1):
                # Retries of a failed call happen inside _call, outside the plan.
                now = self._now()
                wait = plan.next_wait(now - created)
                if wait is None:
                    break
                await self._sleep(run, _on_tick(now, wait, created + plan.deadline))
                answer = await self._call(
                    run,
                    protocol.GET_TASK_RESULT,
                    body,
                    lambda raw: protocol.parse_task_result(raw, task, key=self.api_key),
                    deadline,
                    on_send=sending,
                )
                status = answer.status if isinstance(answer, Pending) else "ready"
                self._emit(SolveEvent("polled", kind, task_id, status, self._now() - started))
                plan.answered(ready=isinstance(answer, Solution))
                if isinstance(answer, Solution):
                    return answer, polls
            else:
                raise SolveTimeoutError(f"task {task_id} not ready after {self.max_polls} polls")
            raise SolveTimeoutError(f"task {task_id} not ready within the solve timeout")
        finally:
            plan.close()

    # -- one API call ------------------------------------------------------------

    async def _call(
        self,
        run: _Run,
        method: str,
        body: bytes,
        parse: Callable[[bytes], T],
        deadline: float | None,
        *,
        idempotent: bool = True,
        on_send: Callable[[], None] | None = None,
    ) -> T:
        """POST ``body`` to ``method`` and parse the answer, retrying transient
        failures (transport errors, no free slot and unusable 2xx answers)
        with backoff. A call that is not ``idempotent`` (createTask) is never
        repeated once the service may have acted on it: an unusable 2xx
        answer, or none after the request went out, is raised as a
        :class:`ProtocolError` (which the caller counts as a task).
        ``on_send`` is called as each attempt goes out (after any wait for a
        connection slot)."""
        failures = connect_failures = 0
        error: VastCaptchaError
        while True:
            run.check()
            timeout = self.http_timeout
            if deadline is not None:
                remaining = deadline - self._now()
                if remaining <= 0 and (failures or connect_failures):
                    raise SolveTimeoutError(f"{method}: solve timeout reached")
                # The poll due at the deadline still gets a moment to answer.
                timeout = min(timeout, max(remaining, LAST_CALL_GRACE))
            try:
                raw = await self._post(run, method, body, timeout, on_send, idempotent=idempotent)
                return parse(raw)
            except AccountError as exc:
                self.stop(exc)
                raise
            except ProtocolError as exc:
                if not idempotent:
                    raise
                error = exc
            except _ConnectFailure as exc:
                error = exc.error
                if connect_failures >= self.retry.connect_retries:
                    raise error from None
                delay = self.retry.delay(connect_failures)
                connect_failures += 1
                logger.warning("%s; retrying in %.1f s", error, delay)
                await self._backoff(run, method, error, delay, deadline)
                continue
            except (TransportError, ServiceBusyError) as exc:
                error = exc
            if failures >= self.retry.max_retries:
                raise error
            delay = self.retry.delay(failures)
            failures += 1
            await self._backoff(run, method, error, delay, deadline)

    async def _backoff(
        self, run: _Run, method: str, error: VastCaptchaError, delay: float, deadline: float | None
    ) -> None:
        if deadline is not None and self._now() + delay >= deadline:
            raise SolveTimeoutError(f"{method}: solve timeout reached while retrying ({error})")
        # Announced only when the retry will happen: stats count real retries.
        self._emit(SolveEvent("retrying", "", error=error, method=method, delay=delay))
        await self._sleep(run, delay)

    async def _post(
        self,
        run: _Run,
        method: str,
        body: bytes,
        timeout: float,
        on_send: Callable[[], None] | None = None,
        *,
        idempotent: bool = True,
    ) -> bytes:
        await self._slots.acquire()
        try:
            run.check()
            if on_send is not None:
                on_send()
            exchange = self._http.post(method, body).addCallback(self._check_answer, method)
            timer = self._reactor.callLater(timeout, exchange.cancel)
            try:
                raw: bytes = await exchange
            except VastCaptchaError:
                run.check()
                raise
            except Exception as exc:
                # Whatever an aborted exchange reports, a cancelled call is cancelled.
                run.check()
                error = (
                    self._timed_out(exc, method, timeout)
                    if not timer.active()
                    else self._transport_failure(exc, method)
                )
                if not idempotent and type(error) is TransportError:
                    # Sent, and no answer (connect failures are other types):
                    # the service may have acted on it.
                    detail = str(error).removeprefix(f"{method}: ")
                    raise ProtocolError(
                        f"{detail}; the request may have been received", method=method
                    ) from None
                raise error from None
            finally:
                if timer.active():
                    timer.cancel()
        finally:
            self._slots.release()
        return raw

    def _check_answer(self, answer: HttpAnswer, method: str) -> bytes:
        """The body of a usable answer; else the error it means."""
        status = answer.status
        if is_redirect(status):
            shown = self.api_key.scrub(answer.location.decode("latin-1"))[:300]
            shown = shown or "(no Location header)"
            raise ApiRedirectError(
                f"{method}: the API redirected to {shown} (HTTP {status}); redirects are not "
                "followed: set the API URL to the right address",
                location=shown,
            )
        if is_try_later(status):
            raise TransportError(f"HTTP {status}", method=method)
        # Some services echo the request in error descriptions: the key goes
        # no further than this line (and decoded strings are scrubbed again).
        content = self.api_key.scrub_bytes(answer.body)
        if not 200 <= status < 300:
            # A 4xx (or an odd 1xx or 3xx) may still carry an API error; if
            # not, say which status it was.
            try:
                data = protocol.decode(content, method, self.api_key)
            except ProtocolError:
                data = {}
            error = protocol.find_error(data, method)
            raise error or api_error(f"HTTP_{status}", method=method)
        return content

    def _timed_out(self, exc: Exception, method: str, timeout: float) -> Exception:
        """The error for a call this client aborted after ``timeout`` seconds."""
        if isinstance(exc, ConnectingCancelledError):
            return _ConnectFailure(
                TransportError(
                    f"cannot connect to {self._host} within {timeout:g} s",
                    method=method,
                    code="CONNECTION_FAILED",
                )
            )
        return TransportError(f"no answer within {timeout:g} s", method=method)

    def _transport_failure(self, exc: Exception, method: str) -> Exception:
        """The error to report for a failed exchange (``exc`` if it is not
        one this client understands)."""
        reasons = [exc, *(f.value for f in getattr(exc, "reasons", None) or ())]
        for reason in reasons:
            if type(reason).__module__.split(".")[0] in ("OpenSSL", "service_identity"):
                return TlsError(
                    f"{method}: TLS handshake with {self._host} failed ({_describe(reason)}); "
                    "the certificate is not trusted for that host",
                    host=self._host,
                )
        if isinstance(exc, ConnectError):
            what = (
                f"connection refused by {self._host}"
                if "refused" in type(exc).__name__.lower()
                else f"cannot connect to {self._host} ({_describe(exc)})"
            )
            return _ConnectFailure(TransportError(what, method=method, code="CONNECTION_FAILED"))
        if isinstance(exc, _TRANSIENT):
            return TransportError(_describe(exc), method=method)
        return exc


def _on_tick(now: float, wait: float, deadline: float) -> float:
    """``wait`` stretched to end on the next multiple of ``POLL_TICK`` (not
    past ``deadline``): polls of many tasks then share reactor turns, which
    costs far less CPU than waking once per poll, for at most 50 ms of delay."""
    tick = math.ceil((now + wait) / POLL_TICK) * POLL_TICK
    return tick - now if tick <= deadline else wait


class _ConnectFailure(Exception):
    """Internal: a failure to connect, retried on its own, tighter budget."""

    def __init__(self, error: TransportError) -> None:
        super().__init__(str(error))
        self.error = error


def _quietly(hook: Callable[..., None], *args: Any) -> None:
    try:
        hook(*args)
    except Exception:
        logger.exception("VastCap task gate hook %s failed", getattr(hook, "__name__", hook))


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

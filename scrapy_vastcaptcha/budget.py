"""The spend guard: task, money and balance limits for one crawl.

A :class:`BudgetGuard` is the API client's task gate: the client calls
:meth:`~BudgetGuard.acquire` before every ``createTask``, and the guard admits
the task, makes it wait, or raises :class:`BudgetExhaustedError` whose
``reason`` is the spider's close reason.

Where the counters live is a :class:`Ledger`: :class:`LocalLedger` (this
process) or, with a Redis URL, :class:`scrapy_vastcaptcha.budget_redis.RedisLedger`
(every process of a fleet sharing the crawl name). Both apply the same rules:

* ``VASTCAPTCHA_MAX_TASKS``: tasks counted at admission, re-creations included;
  a task whose ``createTask`` never went out (cancelled first) is given back,
  so the count is the tasks that may have reached the service. A task that
  would pass the cap waits while a task admitted here has no answer yet (it
  may still be given back), rather than stopping the run, which would cancel
  that task: so a crawl stopped at the cap created exactly the cap.
* ``VASTCAPTCHA_MAX_SPEND``: VastCap reports no prices, so spending is the sum
  of the drops of the account balance between readings (a top-up is not
  counted as spending). The balance is read at open, every
  ``VASTCAPTCHA_BALANCE_CHECK_INTERVAL`` seconds, at close, and after every
  ``VASTCAPTCHA_BALANCE_CHECK_TASKS``-th task; further tasks wait for that
  reading, so at most that many tasks are ever created between two readings.
  Tasks in flight (charged only once solved) are counted in advance at the
  average cost measured so far (:func:`spend_admission`).
* ``VASTCAPTCHA_MIN_BALANCE``: one warning, and a stop with
  ``VASTCAPTCHA_STOP_AT_MIN_BALANCE``.
* with Redis, ``VASTCAPTCHA_MAX_CONCURRENT`` tasks in flight fleet-wide, held
  as leases that expire unless renewed, and a shared stop key.

The guard's coroutines are driven by Twisted (``Deferred.fromCoroutine``, as
the client drives its own) and await only Deferreds.
"""

from __future__ import annotations

import itertools
import logging
import math
import time
import uuid
from collections.abc import Awaitable, Callable, Collection, Coroutine
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeVar
from urllib.parse import urlsplit, urlunsplit

from scrapy.settings import BaseSettings
from twisted.internet import defer
from twisted.internet.task import LoopingCall

from scrapy_vastcaptcha.api.errors import (
    BudgetExhaustedError,
    ConfigurationError,
    VastCaptchaError,
)
from scrapy_vastcaptcha.config import DEFAULTS, read_setting

logger = logging.getLogger(__name__)
_T = TypeVar("_T")

REASON_BUDGET = "vastcaptcha_budget_exhausted"
REASON_MIN_BALANCE = "vastcaptcha_min_balance"
#: Redis became unreachable mid-crawl: no task is created without the fleet's limits.
REASON_REDIS_LOST = "vastcaptcha_redis_lost"

#: Seconds between two tries of a waiting task (fleet concurrency full, or a
#: balance reading pending in another process); a release here retries at once.
WAIT_POLL = 0.2
#: Longest time between two looks at the fleet's stop key (and lease renewals).
HEARTBEAT_MAX = 2.0


# -- settings ----------------------------------------------------------------


@dataclass(frozen=True)
class BudgetConfig:
    max_tasks: int = 0
    max_spend: float = 0.0
    min_balance: float | None = None
    stop_at_min_balance: bool = False
    max_concurrent: int = DEFAULTS["VASTCAPTCHA_MAX_CONCURRENT"]
    balance_check_tasks: int = DEFAULTS["VASTCAPTCHA_BALANCE_CHECK_TASKS"]
    balance_check_interval: float = DEFAULTS["VASTCAPTCHA_BALANCE_CHECK_INTERVAL"]
    redis_url: str | None = None
    #: The setting the Redis URL came from, for error messages.
    redis_url_setting: str = "VASTCAPTCHA_REDIS_URL"
    crawl_name: str = "default"
    lease_time: float = DEFAULTS["VASTCAPTCHA_LEASE_TIME"]

    @property
    def active(self) -> bool:
        """A limit or a fleet is configured (without, a crawl needs no guard)."""
        return bool(
            self.max_tasks or self.max_spend or self.min_balance is not None or self.redis_url
        )

    @property
    def needs_balance(self) -> bool:
        """A limit depends on balance readings (so the first one must succeed)."""
        return self.max_spend > 0 or self.min_balance is not None

    @property
    def heartbeat(self) -> float:
        """Seconds between lease renewals and stop-key checks: a lease is
        renewed at least twice before it could expire."""
        return min(HEARTBEAT_MAX, self.lease_time / 3)

    @classmethod
    def from_settings(cls, settings: BaseSettings, spider_name: str) -> BudgetConfig:
        """Read and check the budget settings; :class:`ConfigurationError`
        names the setting at fault."""
        min_balance = settings.get("VASTCAPTCHA_MIN_BALANCE")
        redis_url, url_setting = _redis_url(settings)
        crawl_name = str(settings.get("VASTCAPTCHA_CRAWL_NAME") or spider_name)
        config = cls(
            max_tasks=_number(settings, "VASTCAPTCHA_MAX_TASKS", settings.getint),
            max_spend=_number(settings, "VASTCAPTCHA_MAX_SPEND", settings.getfloat),
            min_balance=None
            if min_balance in (None, "")
            else _number(settings, "VASTCAPTCHA_MIN_BALANCE", settings.getfloat),
            stop_at_min_balance=read_setting(
                settings, "VASTCAPTCHA_STOP_AT_MIN_BALANCE", settings.getbool
            ),
            max_concurrent=_number(settings, "VASTCAPTCHA_MAX_CONCURRENT", settings.getint),
            balance_check_tasks=_number(
                settings, "VASTCAPTCHA_BALANCE_CHECK_TASKS", settings.getint
            ),
            balance_check_interval=_number(
                settings, "VASTCAPTCHA_BALANCE_CHECK_INTERVAL", settings.getfloat
            ),
            redis_url=redis_url,
            redis_url_setting=url_setting,
            crawl_name=crawl_name,
            lease_time=_number(settings, "VASTCAPTCHA_LEASE_TIME", settings.getfloat),
        )
        for name in (
            "max_concurrent",
            "balance_check_tasks",
            "balance_check_interval",
            "lease_time",
        ):
            if getattr(config, name) == 0:
                raise ConfigurationError(f"VASTCAPTCHA_{name.upper()} must be positive, got 0")
        if config.stop_at_min_balance and config.min_balance is None:
            raise ConfigurationError(
                "VASTCAPTCHA_STOP_AT_MIN_BALANCE is set but VASTCAPTCHA_MIN_BALANCE is not"
            )
        if not crawl_name.strip() or set(crawl_name) & set("{}"):
            raise ConfigurationError(
                f"VASTCAPTCHA_CRAWL_NAME (or the spider name) {crawl_name!r} cannot name "
                "Redis keys: it must be non-empty and have no braces"
            )
        return config


def _redis_url(settings: BaseSettings) -> tuple[str | None, str]:
    """The Redis URL and the setting it came from: VASTCAPTCHA_REDIS_URL, else
    scrapy-redis' own connection settings when its scheduler is in use."""
    own = settings.get("VASTCAPTCHA_REDIS_URL")
    if own is not None:
        # An explicit empty value keeps the limits per process.
        return (str(own) or None), "VASTCAPTCHA_REDIS_URL"
    if "scrapy_redis" not in str(settings.get("SCHEDULER") or ""):
        return None, "VASTCAPTCHA_REDIS_URL"
    if settings.get("REDIS_URL"):
        return str(settings.get("REDIS_URL")), "REDIS_URL"
    # scrapy-redis' fallbacks, in the same order.
    host = settings.get("REDIS_HOST") or "localhost"
    port = settings.get("REDIS_PORT") or 6379
    db = settings.get("REDIS_DB") or 0
    return f"redis://{host}:{port}/{db}", "REDIS_HOST/REDIS_PORT"


def _number(settings: BaseSettings, name: str, getter: Callable[..., Any]) -> Any:
    raw = settings.get(name, DEFAULTS[name])
    if isinstance(raw, bool):
        raise ConfigurationError(f"{name} must be a number, got {raw!r}")
    try:
        value = getter(name, DEFAULTS[name])
    except (TypeError, ValueError):
        raise ConfigurationError(f"{name} must be a number, got {raw!r}") from None
    if not value >= 0:  # NaN too
        raise ConfigurationError(f"{name} must be a number not below 0, got {raw!r}")
    return value


def safe_url(url: str) -> str:
    """A Redis URL fit for logs: any password is replaced with ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


# -- the ledger: where the counters live -------------------------------------


@dataclass(frozen=True)
class Admission:
    """A ledger's answer to "may this task be created?"."""

    state: Literal["ok", "wait", "stop"]
    #: Tasks counted against the budget, this one included (``ok``).
    tasks: int = 0
    #: ``ok``: this task is a multiple of BALANCE_CHECK_TASKS: its taker reads
    #: the balance, and other tasks wait until it is recorded. ``wait``: read
    #: the balance before trying again (see :func:`spend_admission`).
    read: bool = False
    reason: str = ""


@dataclass(frozen=True)
class Spend:
    start: float
    balance: float
    spent: float


@dataclass
class SpendBook:
    """Spending measured from balance readings.

    ``spent`` adds up every drop from one reading to the next; a rise (a
    top-up) is not negative spending. A reading taken before the last one
    recorded is ignored, so readings from several workers arriving out of
    order never count a drop twice. The Redis ledger runs the same rule in Lua.
    """

    start: float | None = None
    balance: float = 0.0
    read_at: float = float("-inf")
    spent: float = 0.0
    #: Tasks finished when the last recorded reading was taken.
    finished: int = 0

    def record(self, balance: float, taken_at: float, finished: int) -> Spend:
        if self.start is None:
            self.start = self.balance = balance
        elif taken_at >= self.read_at:
            self.spent += max(0.0, self.balance - balance)
            self.balance = balance
        else:
            return Spend(self.start, self.balance, self.spent)
        self.read_at = taken_at
        self.finished = finished
        return Spend(self.start, self.balance, self.spent)


#: Spend is a sum of balance drops, with float rounding: a task that fits the
#: cap to a billionth fits.
ROUNDING = 1e-9


def projected_spend(spent: float, tasks: int, finished: int) -> float:
    """The spend once ``tasks`` tasks are over: the measured spend plus the
    tasks not finished at that reading, each at the average cost of those
    that were (failed ones included, as they cost nothing), raised by a
    margin for the average's uncertainty, 2/sqrt(finished): +63 % after 10
    tasks, +20 % after 100, +6 % after 1000. This keeps the tasks in flight
    from overshooting MAX_SPEND."""
    if spent <= 0 or finished <= 0:
        return spent
    average = spent / finished
    return spent + max(0, tasks - finished) * average * (1 + 2 / math.sqrt(finished))


def spend_admission(
    cap: float, every: int, spent: float, seen: int, tasks: int, finished: int
) -> Literal["ok", "wait", "read", "stop"]:
    """What MAX_SPEND says about one more task, given the spend measured when
    ``seen`` tasks were over, ``tasks`` counted and ``finished`` over now.

    With no cost measured yet there is nothing to project from: at most
    ``every`` (BALANCE_CHECK_TASKS) tasks may be unfinished. With every task
    over and measured, one more is admitted if the average cost still fits.
    Otherwise a projection over the cap makes tasks wait rather than stop the
    crawl, as tasks in flight that fail cost nothing and leave room; ``read``
    is a wait that first reads the balance (enough tasks finished since the
    last reading to change the projection). The Redis ledger's take script
    makes the same decision in Lua."""
    if not cap:
        return "ok"
    if spent <= 0 or seen <= 0:
        return "wait" if tasks - finished >= every else "ok"
    if tasks <= finished <= seen:
        return "ok" if spent + spent / seen <= cap + ROUNDING else "stop"
    if projected_spend(spent, tasks + 1, seen) <= cap + ROUNDING:
        return "ok"
    return "read" if finished - seen >= every or tasks <= finished else "wait"


class LedgerUnavailable(Exception):
    """The ledger's store (Redis) cannot be reached."""


class Ledger(Protocol):
    """Counters shared by the processes of one crawl. Methods are coroutines
    driven by Twisted; a store failure raises :class:`LedgerUnavailable`."""

    #: For logs: "this process" or the fleet's crawl name and (safe) URL.
    where: str

    async def open(self) -> str | None:
        """Check the store; the stop reason if the crawl is already stopped."""

    async def take(self, lease_id: str) -> Admission:
        """Atomically: check the stop key, the pending reading, the
        concurrency, task and projected spend limits, then count the task and
        hold a lease."""

    async def record(
        self, balance: float, taken_at: float, finished: int, reader: str | None
    ) -> Spend:
        """Add a balance reading taken when ``finished`` tasks were over;
        ``reader`` ends the reading its take made due. Stops the crawl in the
        same step when the spend reaches MAX_SPEND."""

    async def end_reading(self, reader: str) -> None:
        """A due reading failed: let waiting tasks go on."""

    async def stop(self, reason: str) -> str:
        """Stop the crawl; the reason in force (the first one set wins)."""

    async def heartbeat(self, lease_ids: Collection[str]) -> str | None:
        """Renew these leases; the stop reason if the crawl was stopped."""

    async def release(self, lease_id: str) -> None:
        """The lease's task is over (counted as finished)."""

    async def refund(self, lease_id: str) -> None:
        """The lease's ``createTask`` never went out: the task is no longer
        counted (nor finished), and its lease is let go."""

    async def counts(self) -> tuple[int, int]:
        """Tasks counted against the budget so far, and those finished."""

    async def close(self) -> None: ...


class LocalLedger:
    """The counters of one process. Concurrency is left to the middleware's
    own VASTCAPTCHA_MAX_CONCURRENT semaphore."""

    where = "this process"

    def __init__(self, config: BudgetConfig) -> None:
        self.config = config
        self.book = SpendBook()
        self._tasks = 0
        self._finished = 0
        self._stop: str | None = None
        self._reader: str | None = None

    async def open(self) -> str | None:
        return None

    async def take(self, lease_id: str) -> Admission:
        if self._stop is not None:
            return Admission("stop", reason=self._stop)
        if self._reader is not None:
            return Admission("wait")
        config, book = self.config, self.book
        every = config.balance_check_tasks
        if config.max_tasks and self._tasks >= config.max_tasks:
            spend = "stop"
        else:
            spend = spend_admission(
                config.max_spend, every, book.spent, book.finished, self._tasks, self._finished
            )
        if spend == "stop":
            self._stop = REASON_BUDGET
            return Admission("stop", reason=REASON_BUDGET)
        if spend != "ok":
            return Admission("wait", read=spend == "read")
        self._tasks += 1
        read = self._tasks % every == 0
        if read:
            self._reader = lease_id
        return Admission("ok", self._tasks, read)

    async def record(
        self, balance: float, taken_at: float, finished: int, reader: str | None
    ) -> Spend:
        if reader is not None:
            await self.end_reading(reader)
        spend = self.book.record(balance, taken_at, finished)
        if self.config.max_spend and spend.spent >= self.config.max_spend:
            await self.stop(REASON_BUDGET)
        return spend

    async def end_reading(self, reader: str) -> None:
        if self._reader == reader:
            self._reader = None

    async def stop(self, reason: str) -> str:
        if self._stop is None:
            self._stop = reason
        return self._stop

    async def heartbeat(self, lease_ids: Collection[str]) -> str | None:
        return self._stop

    async def release(self, lease_id: str) -> None:
        self._finished += 1

    async def refund(self, lease_id: str) -> None:
        self._tasks -= 1

    async def counts(self) -> tuple[int, int]:
        return self._tasks, self._finished

    async def close(self) -> None:
        pass


# -- the guard ---------------------------------------------------------------


def _global_reactor() -> Any:
    from twisted.internet import reactor

    return reactor


#: Error codes (for stats) of the stop reasons; any other reason is a fleet
#: stopped by another worker's account error.
_CODES = {
    REASON_BUDGET: "BUDGET_EXHAUSTED",
    REASON_MIN_BALANCE: "MIN_BALANCE",
    REASON_REDIS_LOST: "REDIS_LOST",
}


def budget_error(reason: str, message: str) -> BudgetExhaustedError:
    return BudgetExhaustedError(message, code=_CODES.get(reason, "FLEET_STOPPED"), reason=reason)


class BudgetGuard:
    """The task gate of one crawl process (see the module docstring).

    :param get_balance: returns the account balance; awaited from Twisted
        coroutines, so pass ``client.get_balance`` (a Deferred), not the
        asyncio twin.
    :param on_stop: called once with the close reason when the guard stops on
        its own (limit reached, fleet stopped, Redis lost), not after
        :meth:`stop`; the middleware closes the spider there.
    :param reactor: provides ``callLater`` and ``seconds`` (a ``Clock`` in tests).
    :param wall_clock: time of the balance readings; shared across hosts.
    """

    def __init__(
        self,
        config: BudgetConfig,
        get_balance: Callable[[], Awaitable[float]],
        *,
        ledger: Ledger | None = None,
        on_stop: Callable[[str], object] | None = None,
        reactor: Any = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self._ledger: Ledger = ledger if ledger is not None else LocalLedger(config)
        self._get_balance = get_balance
        self._on_stop = on_stop
        self._reactor: Any = reactor or _global_reactor()
        self._wall = wall_clock
        self._worker = uuid.uuid4().hex[:12]
        self._ids = itertools.count(1)
        #: Leases of unfinished tasks, renewed by the heartbeat.
        self._held: set[str] = set()
        #: Held leases whose createTask has not answered yet: each may still
        #: be given back, so the task cap is not reached while one is left.
        self._unanswered: set[str] = set()
        # One take at a time per process: waiting tasks queue here in FIFO
        # order and only the first one polls the ledger.
        self._turn = defer.DeferredLock()
        self._wake: defer.Deferred[None] | None = None
        self._background: set[defer.Deferred[Any]] = set()
        self._timers: list[LoopingCall] = []
        self.reason: str | None = None
        self._tasks = 0
        self._tasks_here = 0
        self._readings = 0
        self._spend: Spend | None = None
        self._balance: float | None = None
        self._balance_end: float | None = None
        self._warned_low = False

    @classmethod
    def from_config(
        cls,
        config: BudgetConfig,
        get_balance: Callable[[], Awaitable[float]],
        **kwargs: Any,
    ) -> BudgetGuard:
        """A guard on the ledger the config asks for (Redis when a URL is set)."""
        ledger: Ledger | None = None
        if config.redis_url:
            from scrapy_vastcaptcha.budget_redis import RedisLedger

            ledger = RedisLedger(config, kwargs.get("reactor") or _global_reactor())
        return cls(config, get_balance, ledger=ledger, **kwargs)

    def __repr__(self) -> str:
        return f"BudgetGuard({self._ledger.where}, reason={self.reason!r})"

    # -- lifecycle ------------------------------------------------------------

    async def open(self) -> None:
        """Check the ledger (Redis: reachable, or :class:`ConfigurationError`)
        and read the starting balance; start the periodic readings."""
        reason = await self._ledger.open()
        if reason is not None:
            self._mark_stopped(reason, f"{self._ledger.where} was already stopped")
        self._tasks, _ = await self._ledger.counts()
        try:
            await self._read(None)
        except Exception as exc:
            if self.config.needs_balance:
                logger.error(
                    "VastCap budget: VASTCAPTCHA_MAX_SPEND and VASTCAPTCHA_MIN_BALANCE "
                    "need the starting balance: %s",
                    exc,
                )
                await self._ledger.close()
                raise
            logger.warning("VastCap budget: cannot read the starting balance: %s", exc)
        self._start_timer(self._read_now, self.config.balance_check_interval)
        if self.config.redis_url:
            self._start_timer(self._heartbeat, self.config.heartbeat)
        logger.info("VastCap budget: %s", self.summary())

    async def close(self) -> None:
        """Final balance reading, leases released, connections closed."""
        for timer in self._timers:
            if timer.running:
                timer.stop()
        self._timers.clear()
        await defer.DeferredList(list(self._background), consumeErrors=True)
        readings = self._readings
        try:
            await self._read(None)
        except Exception as exc:
            logger.warning("VastCap budget: final balance reading: %s", exc)
        if self._readings > readings:
            self._balance_end = self._balance
        for lease_id in list(self._held):
            self.release(lease_id)
        await defer.DeferredList(list(self._background), consumeErrors=True)
        await self._ledger.close()

    # -- the TaskGate interface -------------------------------------------------

    async def acquire(self, task: object) -> object:
        """Admit one ``createTask``; may wait; raises BudgetExhaustedError."""
        await self._turn.acquire()
        try:
            lease_id = f"{self._worker}:{next(self._ids)}"
            while True:
                self._raise_if_stopped()
                if self._unanswered and self._at_task_cap():
                    await self._wait()
                    continue
                admission = await self._call(self._ledger.take(lease_id))
                if admission.state == "ok":
                    break
                if admission.state == "stop":
                    self._mark_stopped(admission.reason, f"limit reached in {self._ledger.where}")
                    continue
                if admission.read:
                    await self._read_quietly(None)
                await self._wait()
        finally:
            self._turn.release()
        self._held.add(lease_id)
        self._unanswered.add(lease_id)
        self._tasks = admission.tasks
        self._tasks_here += 1
        if admission.read:
            self._spawn(self._read_quietly(lease_id))
        return lease_id

    def created(self, lease: object, task_id: str | None) -> None:
        """The task is there to stay (it counts from its admission, and what
        it costs shows in the balance readings): a task waiting at the cap
        may now stop the run."""
        if isinstance(lease, str) and lease in self._unanswered:
            self._unanswered.discard(lease)
            self._wake_up()

    def unsent(self, lease: object) -> None:
        """The lease's ``createTask`` never went out: the task is given back
        now, and the :meth:`release` that follows has nothing left to do.
        Ignored once ``createTask`` answered: that task exists."""
        if not isinstance(lease, str) or lease not in self._unanswered:
            return
        self._held.discard(lease)
        self._unanswered.discard(lease)
        self._tasks -= 1
        self._tasks_here -= 1
        self._spawn(self._refund(lease))
        self._wake_up()

    def release(self, lease: object) -> None:
        if not isinstance(lease, str) or lease not in self._held:
            return  # not ours, given back, or released already
        self._held.discard(lease)
        self._unanswered.discard(lease)
        self._spawn(self._release(lease))
        self._wake_up()

    def stop(self, reason: str) -> defer.Deferred[str]:
        """Stop creating tasks here at once, and in the fleet (the middleware
        calls this on a fatal account error). Fires when the fleet knows,
        with the fleet's reason (another worker's may have come first)."""
        self._mark_stopped(reason, "requested", notify=False)
        return self._spawn(self._tell_ledger(reason))

    # -- visibility -------------------------------------------------------------

    def stats(self) -> dict[str, float | int]:
        """Values for the crawl stats (absent ones were never measured)."""
        values: dict[str, float | int] = {
            "vastcaptcha/budget/tasks": self._tasks,
            "vastcaptcha/budget/tasks_here": self._tasks_here,
            "vastcaptcha/budget/balance_readings": self._readings,
        }
        if self._spend is not None:
            values["vastcaptcha/budget/spent"] = round(self._spend.spent, 6)
            values["vastcaptcha/balance/start"] = round(self._spend.start, 6)
        if self._balance_end is not None:
            values["vastcaptcha/balance/end"] = round(self._balance_end, 6)
        return values

    def summary(self) -> str:
        config = self.config
        tasks = f"{self._tasks}/{config.max_tasks}" if config.max_tasks else f"{self._tasks}"
        parts = [f"{tasks} tasks"]
        if self._spend is not None:
            spent = f"{self._spend.spent:.4f}"
            if config.max_spend:
                spent += f"/{config.max_spend:g}"
            balance = f"{self._spend.start:.4f} -> {self._spend.balance:.4f}"
            parts.append(f"spent {spent} (balance {balance})")
        if config.min_balance is not None:
            parts.append(f"min balance {config.min_balance:g}")
        if config.redis_url:
            parts.append(f"{self._tasks_here} from this process")
        parts.append(f"in {self._ledger.where}")
        if self.reason is not None:
            parts.append(f"stopped: {self.reason}")
        return ", ".join(parts)

    # -- internals ----------------------------------------------------------------

    async def _call(self, coro: Coroutine[Any, Any, Any]) -> Any:
        try:
            return await coro
        except LedgerUnavailable as exc:
            self._mark_stopped(
                REASON_REDIS_LOST,
                f"{exc}; no task is created without the fleet's limits "
                f"({self.config.redis_url_setting})",
            )
            raise budget_error(REASON_REDIS_LOST, str(exc)) from exc

    def _at_task_cap(self) -> bool:
        """MAX_TASKS reached by the count last seen (a fleet's may have grown since)."""
        return 0 < self.config.max_tasks <= self._tasks

    def _raise_if_stopped(self) -> None:
        if self.reason is not None:
            raise budget_error(self.reason, f"VastCap budget: no new task ({self.summary()})")

    def _mark_stopped(self, reason: str, why: str, *, notify: bool = True) -> None:
        if self.reason is not None:
            return
        self.reason = reason
        logger.warning("VastCap budget: task creation stopped (%s): %s", reason, why)
        self._wake_up()
        if notify and self._on_stop is not None:
            # On the next turn: the listener may close the spider, which must
            # not run inside the acquire or reading that noticed the stop.
            self._reactor.callLater(0, self._on_stop, reason)

    async def _stop(self, reason: str, why: str) -> None:
        """A limit reached here: stop the fleet first, then this process with
        the reason in force (another worker's may have come first)."""
        self._mark_stopped(await self._tell_ledger(reason), why)

    async def _tell_ledger(self, reason: str) -> str:
        """Stop the fleet; the reason in force (another worker's may have come first)."""
        try:
            return await self._ledger.stop(reason)
        except LedgerUnavailable as exc:
            logger.warning("VastCap budget: cannot tell the fleet to stop: %s", exc)
            return reason

    async def _wait(self) -> None:
        """Until a local release or reading, or WAIT_POLL seconds."""
        wake: defer.Deferred[None] = defer.Deferred()
        self._wake = wake
        timer = self._reactor.callLater(WAIT_POLL, self._wake_up)
        try:
            await wake
        finally:
            if timer.active():
                timer.cancel()
            self._wake = None

    def _wake_up(self) -> None:
        wake, self._wake = self._wake, None
        if wake is not None and not wake.called:
            wake.callback(None)

    async def _read(self, reader: str | None) -> None:
        taken_at = self._wall()
        try:
            _, finished = await self._call(self._ledger.counts())
            balance = float(await self._get_balance())
        except BaseException:
            if reader is not None:
                await self._call(self._ledger.end_reading(reader))
            # Tasks waiting for this reading go on without it.
            self._wake_up()
            raise
        self._readings += 1
        self._balance = balance
        self._spend = await self._call(self._ledger.record(balance, taken_at, finished, reader))
        self._wake_up()
        await self._check_balance(balance)
        if self.config.max_spend and self._spend.spent >= self.config.max_spend:
            await self._stop(
                REASON_BUDGET,
                f"spent {self._spend.spent:.4f} of VASTCAPTCHA_MAX_SPEND="
                f"{self.config.max_spend:g} in {self._ledger.where}",
            )

    async def _check_balance(self, balance: float) -> None:
        low = self.config.min_balance
        if low is None or balance >= low or self._warned_low:
            return
        self._warned_low = True
        action = (
            "stopping" if self.config.stop_at_min_balance else "going on (see STOP_AT_MIN_BALANCE)"
        )
        logger.warning(
            "VastCap balance %.4f is below VASTCAPTCHA_MIN_BALANCE=%g; %s",
            balance,
            low,
            action,
        )
        if self.config.stop_at_min_balance:
            await self._stop(REASON_MIN_BALANCE, f"balance {balance:.4f} < {low:g}")

    async def _read_quietly(self, reader: str | None) -> None:
        try:
            await self._read(reader)
        except Exception as exc:
            # A transient failure: the next reading (after the next
            # BALANCE_CHECK_TASKS tasks or INTERVAL seconds) tries again.
            if self.reason is None:
                logger.warning("VastCap budget: balance reading failed: %s", exc)

    def _read_now(self) -> defer.Deferred[None]:
        return defer.Deferred.fromCoroutine(self._read_quietly(None))

    def _heartbeat(self) -> defer.Deferred[None]:
        async def beat() -> None:
            try:
                reason = await self._call(self._ledger.heartbeat(list(self._held)))
            except VastCaptchaError:
                return
            if reason is not None:
                self._mark_stopped(reason, f"{self._ledger.where} was stopped by another worker")

        return defer.Deferred.fromCoroutine(beat())

    async def _release(self, lease_id: str) -> None:
        try:
            await self._ledger.release(lease_id)
        except LedgerUnavailable as exc:
            # The lease expires on its own within VASTCAPTCHA_LEASE_TIME.
            logger.warning("VastCap budget: cannot release a lease: %s", exc)

    async def _refund(self, lease_id: str) -> None:
        try:
            await self._ledger.refund(lease_id)
        except LedgerUnavailable as exc:
            # The lease expires on its own; the task stays counted (safe for money).
            logger.warning("VastCap budget: cannot give back an unsent task: %s", exc)

    def _start_timer(self, function: Callable[[], defer.Deferred[None]], interval: float) -> None:
        timer = LoopingCall(function)
        timer.clock = self._reactor
        timer.start(interval, now=False)
        self._timers.append(timer)

    def _spawn(self, coro: Coroutine[Any, Any, _T]) -> defer.Deferred[_T]:
        d = defer.Deferred.fromCoroutine(coro)
        if not d.called:
            self._background.add(d)
            d.addBoth(self._forget, d)
        d.addErrback(lambda f: logger.error("VastCap budget: %s", f.getErrorMessage()))
        return d

    def _forget(self, result: object, d: defer.Deferred[Any]) -> object:
        self._background.discard(d)
        return result

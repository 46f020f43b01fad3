"""Fleet-wide budgets on Redis: every process with the same crawl name shares
one task counter, one spend book, one set of concurrency leases and one stop key.

Every decision is one Lua script, so it is atomic across the fleet. Lease
expiry uses the Redis server's clock (``TIME``), so the workers' clocks do not
need to agree. Keys (``{crawl}`` is a hash tag: a Redis Cluster keeps them on
one node):

* ``vastcaptcha:{crawl}:tasks``: tasks counted against VASTCAPTCHA_MAX_TASKS
  (a task whose ``createTask`` never went out is given back).
* ``vastcaptcha:{crawl}:finished``: tasks over (solved, failed, cancelled, or
  whose lease expired).
* ``vastcaptcha:{crawl}:leases``: sorted set, lease id -> expiry (ms).
* ``vastcaptcha:{crawl}:stop``: the close reason once the fleet is stopped.
* ``vastcaptcha:{crawl}:spend``: hash ``start``, ``balance``, ``read_at``,
  ``spent``, ``finished`` (tasks over at that reading).
* ``vastcaptcha:{crawl}:reading``: the lease id whose balance reading is due;
  expires after the lease time if its worker dies.

The keys do not expire: a restarted worker continues the same budget. Reset
them with ``vastcaptcha budget --reset`` (or use a new crawl name).

Uses ``redis.asyncio`` on the asyncio loop under Twisted's asyncio reactor
(Scrapy's default): no thread, and Redis calls never block the reactor.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from twisted.internet import defer

from scrapy_vastcaptcha.api.errors import ConfigurationError
from scrapy_vastcaptcha.budget import (
    REASON_BUDGET,
    Admission,
    BudgetConfig,
    LedgerUnavailable,
    Spend,
    safe_url,
)

if TYPE_CHECKING:
    from redis.asyncio import Redis

T = TypeVar("T")

KEY_NAMES = ("tasks", "finished", "leases", "stop", "spend", "reading")
#: Seconds one Redis call may take to connect or answer.
SOCKET_TIMEOUT = 5.0

# KEYS: stop, tasks, leases, reading, spend, finished
# ARGV: max_tasks, max_concurrent, lease_ms, lease_id, check_every, budget_reason,
# max_spend
_TAKE = """
local stop = redis.call('GET', KEYS[1])
if stop then return {'stop', stop} end
if redis.call('EXISTS', KEYS[4]) == 1 then return {'wait', 'reading'} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
-- An expired lease's task is over for the counts (its worker died).
local expired = redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
if expired > 0 then redis.call('INCRBY', KEYS[6], expired) end
local max_concurrent = tonumber(ARGV[2])
if max_concurrent > 0 and redis.call('ZCARD', KEYS[3]) >= max_concurrent then
  return {'wait', 'concurrency'}
end
local max_tasks = tonumber(ARGV[1])
local n = tonumber(redis.call('GET', KEYS[2]) or '0')
local over = max_tasks > 0 and n >= max_tasks
local cap = tonumber(ARGV[7])
local every = tonumber(ARGV[5])
if cap > 0 and not over then
  -- budget.spend_admission
  local spent = tonumber(redis.call('HGET', KEYS[5], 'spent') or '0')
  local seen = tonumber(redis.call('HGET', KEYS[5], 'finished') or '0')
  local done = tonumber(redis.call('GET', KEYS[6]) or '0')
  if spent <= 0 or seen <= 0 then
    if n - done >= every then return {'wait', 'no cost seen yet'} end
  elseif n <= done and done <= seen then
    over = spent + spent / seen > cap + 1e-9  -- budget.ROUNDING
  elseif spent + (n + 1 - seen) * spent / seen * (1 + 2 / math.sqrt(seen)) > cap + 1e-9 then
    if done - seen >= every or n <= done then return {'wait_read', 'projected spend'} end
    return {'wait', 'projected spend'}
  end
end
if over then
  redis.call('SET', KEYS[1], ARGV[6])
  return {'stop', ARGV[6]}
end
n = redis.call('INCR', KEYS[2])
redis.call('ZADD', KEYS[3], now + tonumber(ARGV[3]), ARGV[4])
if n % every == 0 then
  redis.call('SET', KEYS[4], ARGV[4], 'PX', ARGV[3])
  return {'read', tostring(n)}
end
return {'ok', tostring(n)}
"""

# The same rule as budget.SpendBook.record; the stop key is set in the same
# step, so no task is admitted between the reading and the stop.
# KEYS: spend, reading, stop; ARGV: balance, taken_at, reader ('' for none),
# max_spend, budget_reason, finished
_RECORD = """
if ARGV[3] ~= '' and redis.call('GET', KEYS[2]) == ARGV[3] then redis.call('DEL', KEYS[2]) end
local last = redis.call('HGET', KEYS[1], 'balance')
local newer = not last or tonumber(ARGV[2]) >= tonumber(redis.call('HGET', KEYS[1], 'read_at'))
if not last then
  redis.call('HSET', KEYS[1], 'start', ARGV[1], 'spent', '0')
elseif newer then
  local drop = tonumber(last) - tonumber(ARGV[1])
  if drop > 0 then redis.call('HINCRBYFLOAT', KEYS[1], 'spent', tostring(drop)) end
end
if newer then
  redis.call('HSET', KEYS[1], 'balance', ARGV[1], 'read_at', ARGV[2], 'finished', ARGV[6])
end
local spend = redis.call('HMGET', KEYS[1], 'start', 'balance', 'spent')
local cap = tonumber(ARGV[4])
if cap > 0 and tonumber(spend[3]) >= cap then redis.call('SET', KEYS[3], ARGV[5], 'NX') end
return spend
"""

# KEYS: reading; ARGV: reader
_END_READING = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0
"""

# KEYS: leases, finished; ARGV: lease id
# Counted once: a lease that expired was counted as finished then.
_RELEASE = """
if redis.call('ZREM', KEYS[1], ARGV[1]) == 1 then redis.call('INCR', KEYS[2]) end
return 0
"""

# KEYS: leases, tasks; ARGV: lease id
# A lease that expired was counted as finished then: the task stays counted.
_REFUND = """
if redis.call('ZREM', KEYS[1], ARGV[1]) == 1 then redis.call('DECR', KEYS[2]) end
return 0
"""

# KEYS: stop; ARGV: reason
_STOP = """
redis.call('SET', KEYS[1], ARGV[1], 'NX')
return redis.call('GET', KEYS[1])
"""

# KEYS: leases, stop; ARGV: lease_ms, lease ids...
# A lease that already expired is not revived: its slot may be taken.
_HEARTBEAT = """
local t = redis.call('TIME')
local expiry = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[1])
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], 'XX', expiry, ARGV[i]) end
return redis.call('GET', KEYS[2])
"""


def keys(crawl: str) -> dict[str, str]:
    return {name: f"vastcaptcha:{{{crawl}}}:{name}" for name in KEY_NAMES}


def connect(url: str) -> Redis:
    """A ``redis.asyncio`` client with short timeouts and a few quick retries."""
    try:
        from redis.asyncio import Redis
        from redis.asyncio.retry import Retry
        from redis.backoff import ExponentialBackoff
    except ImportError:
        raise ConfigurationError(
            "fleet-wide budgets need the redis library: pip install scrapy-vastcaptcha[redis]"
        ) from None
    client: Redis = Redis.from_url(
        url,
        decode_responses=True,
        socket_timeout=SOCKET_TIMEOUT,
        socket_connect_timeout=SOCKET_TIMEOUT,
        retry=Retry(ExponentialBackoff(cap=1.0, base=0.1), 3),
    )
    return client


@dataclass(frozen=True)
class FleetState:
    """A fleet's counters, for the ``vastcaptcha budget`` command."""

    tasks: int
    finished: int
    leases: int
    stop: str | None
    start: float | None
    balance: float | None
    spent: float


async def fleet_state(client: Redis, crawl: str) -> FleetState:
    k = keys(crawl)
    seconds, micros = await client.time()
    now_ms = seconds * 1000 + micros // 1000
    tasks, finished = await client.mget([k["tasks"], k["finished"]])
    leases = await client.zcount(k["leases"], f"({now_ms}", "+inf")
    stop = await client.get(k["stop"])
    start, balance, spent = await client.hmget(k["spend"], ["start", "balance", "spent"])
    return FleetState(
        tasks=int(tasks or 0),
        finished=int(finished or 0),
        leases=int(leases),
        stop=_text(stop),
        start=None if start is None else float(start),
        balance=None if balance is None else float(balance),
        spent=float(spent or 0),
    )


async def reset_fleet(client: Redis, crawl: str) -> None:
    await client.delete(*keys(crawl).values())


def _text(value: bytes | str | None) -> str | None:
    # The client decodes answers; its type hints cannot know it.
    return value.decode() if isinstance(value, bytes) else value


class RedisLedger:
    """The :class:`~scrapy_vastcaptcha.budget.Ledger` of a fleet."""

    def __init__(self, config: BudgetConfig, reactor: Any) -> None:
        assert config.redis_url
        self.config = config
        self._reactor = reactor
        self.url = safe_url(config.redis_url)
        self.where = f"fleet {config.crawl_name!r} on {self.url}"
        self.keys = keys(config.crawl_name)
        self._lease_ms = str(max(1, round(config.lease_time * 1000)))
        self._client: Redis | None = None
        self._scripts: dict[str, Any] = {}

    async def open(self) -> str | None:
        from twisted.internet.asyncioreactor import AsyncioSelectorReactor

        if not isinstance(self._reactor, AsyncioSelectorReactor):
            raise ConfigurationError(
                f"{self.config.redis_url_setting} needs Twisted's asyncio reactor "
                "(Scrapy's default TWISTED_REACTOR, "
                "twisted.internet.asyncioreactor.AsyncioSelectorReactor)"
            )
        client = self._client = connect(self.config.redis_url or "")
        for name, source in (
            ("take", _TAKE),
            ("record", _RECORD),
            ("end_reading", _END_READING),
            ("release", _RELEASE),
            ("refund", _REFUND),
            ("stop", _STOP),
            ("heartbeat", _HEARTBEAT),
        ):
            self._scripts[name] = client.register_script(source)
        try:
            await self._run(client.ping())
            stop = _text(await self._run(client.get(self.keys["stop"])))
        except LedgerUnavailable as exc:
            await self.close()
            raise ConfigurationError(
                f"{self.config.redis_url_setting}: cannot reach Redis at {self.url} "
                f"({exc.__cause__}); the crawl's fleet limits cannot be kept without it"
            ) from None
        return stop

    async def take(self, lease_id: str) -> Admission:
        k = self.keys
        config = self.config
        state, value = await self._script(
            "take",
            [k["stop"], k["tasks"], k["leases"], k["reading"], k["spend"], k["finished"]],
            [
                config.max_tasks,
                config.max_concurrent,
                self._lease_ms,
                lease_id,
                config.balance_check_tasks,
                REASON_BUDGET,
                config.max_spend,
            ],
        )
        if state == "stop":
            return Admission("stop", reason=value)
        if state in ("wait", "wait_read"):
            return Admission("wait", read=state == "wait_read")
        return Admission("ok", int(value), read=state == "read")

    async def record(
        self, balance: float, taken_at: float, finished: int, reader: str | None
    ) -> Spend:
        start, last, spent = await self._script(
            "record",
            [self.keys["spend"], self.keys["reading"], self.keys["stop"]],
            [
                repr(balance),
                repr(taken_at),
                reader or "",
                self.config.max_spend,
                REASON_BUDGET,
                finished,
            ],
        )
        return Spend(float(start), float(last), float(spent))

    async def end_reading(self, reader: str) -> None:
        await self._script("end_reading", [self.keys["reading"]], [reader])

    async def stop(self, reason: str) -> str:
        result: str = await self._script("stop", [self.keys["stop"]], [reason])
        return result

    async def heartbeat(self, lease_ids: Collection[str]) -> str | None:
        result: str | None = await self._script(
            "heartbeat", [self.keys["leases"], self.keys["stop"]], [self._lease_ms, *lease_ids]
        )
        return result

    async def release(self, lease_id: str) -> None:
        await self._script("release", [self.keys["leases"], self.keys["finished"]], [lease_id])

    async def refund(self, lease_id: str) -> None:
        await self._script("refund", [self.keys["leases"], self.keys["tasks"]], [lease_id])

    async def counts(self) -> tuple[int, int]:
        assert self._client is not None
        tasks, finished = await self._run(
            self._client.mget([self.keys["tasks"], self.keys["finished"]])
        )
        return int(tasks or 0), int(finished or 0)

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await defer.Deferred.fromFuture(asyncio.ensure_future(client.aclose()))

    async def _script(self, name: str, script_keys: list[str], args: list[Any]) -> Any:
        return await self._run(self._scripts[name](keys=script_keys, args=args))

    async def _run(self, awaitable: Awaitable[T]) -> T:
        """Await an asyncio coroutine from Twisted-driven code; a Redis
        failure becomes :class:`LedgerUnavailable`."""
        from redis.exceptions import RedisError

        future = asyncio.ensure_future(awaitable)
        try:
            return await defer.Deferred.fromFuture(future)
        except (RedisError, OSError) as exc:
            raise LedgerUnavailable(f"Redis at {self.url}: {exc}") from exc

"""Learned polling: plan each task's ``getTaskResult`` calls from past solve times.

Pure and I/O-free. The client asks for one :class:`PollPlan` per task and
reports each solved task's ready interval::

    plan = model.planner(task.KIND, sitekey, schedule, deadline, learn=not pinned)
    while (wait := plan.next_wait(now() - created)) is not None:
        await sleep(wait)
        sent = now() - created  # as the call goes out, after any wait for a slot
        plan.sent(sent)
        if (await get_task_result()) is ready:
            model.observe(task.KIND, sitekey, last_processing_sent or 0.0, sent)
            ...

What is learned
    The last ``window`` solves per task type and per (type, site key). Site
    keys live in an LRU of ``max_keys``, so a crawl over any number of site
    keys holds at most ``(types + max_keys) * window`` samples. A site key's
    own samples plan its tasks once it has ``MIN_SAMPLES`` of them; until
    then its type's do; until the type has that many, the kind's fixed
    schedule does. Recent solves weigh more: a sample's weight halves with
    every ``HALF_LIFE`` newer ones of its key, so when solve times jump the
    plan follows within ``HALF_LIFE * log2(1 / EARLY_QUANTILE)`` solves
    (about 19) upwards, and within a few downwards (see below). Failed and
    unsolvable tasks say nothing about solve times and are not reported;
    neither are timeouts (the solve time is only known to exceed them).

Censored samples
    The client never sees when a token became ready, only that it was not at
    the last "processing" answer and was at the first "ready" one: the solve
    time lies in ``(low, high]``. Taking ``high`` (when we noticed) as the
    solve time makes every sample late by up to a gap, so plans poll later,
    so the next samples are noticed later still. Instead each sample's weight
    is spread uniformly over its interval (uniform imputation of interval-
    censored data). Our plans keep intervals 2-4 s wide, so this blurs the
    distribution by a second or two without biasing it. The wide interval
    is a token ready at the first call, ``(0, first call]``; spreading it
    over all of that deliberately errs early, and corrects itself: if more
    first calls than planned find the token ready, the estimated early
    quantile drops in proportion, the next first calls come sooner, answer
    "processing" and give sharp lower bounds again. (The non-parametric
    maximum-likelihood estimate, Turnbull's, would put that mass just below
    the first call, where other samples bound it, and so would follow solve
    times that got faster only as slowly as the first call creeps down; it
    also needs an iterative fit.)

How a plan is made
    The first call comes at the ``EARLY_QUANTILE`` of the learned
    distribution: most first calls answer "processing", which keeps the lower
    end observed, and the weight spread below it (above) cannot draw calls
    there. The calls after it minimise expected calls plus ``DELAY_COST``
    times the expected delay between "ready" and noticing it, by dynamic
    programming on a ``STEP`` grid, up to the slowest solve seen, subject to:

    - two calls of a task are never less than ``MIN_GAP`` apart, nor more
      than ``MAX_GAP``;
    - calls average no more than one per ``RATE`` seconds (the service's
      advice): the k-th call comes ``RATE * (k - 1)`` s after ``createTask``
      or later, so ``calls <= 1 + elapsed / RATE`` whenever the task ends;
    - no call comes after the deadline; the last may come at it.

    A solve slower than any seen gets calls at the kind's interval (at least
    ``MIN_GAP``) after the plan's last. ``learn=False`` (a schedule the user
    pinned) gives that schedule as it is, whatever was learned.
"""

from __future__ import annotations

import math
from collections import OrderedDict, deque
from collections.abc import Sequence

from scrapy_vastcaptcha.api._schedule import PollSchedule

#: Seconds: two calls of one task are never closer than this.
MIN_GAP = 2.0
#: Seconds: calls average no more than one per RATE (calls <= 1 + elapsed / RATE).
RATE = 3.0
#: Seconds: the longest gap a learned plan leaves between two calls.
MAX_GAP = 4.0
#: The first call comes at this quantile of the learned solve times.
EARLY_QUANTILE = 0.15
#: Calls one second of delay between "ready" and noticing it is worth.
DELAY_COST = 4.5
#: Samples a key needs before its own times plan polls.
MIN_SAMPLES = 8
#: A sample's weight halves every HALF_LIFE newer samples of its key.
HALF_LIFE = 7.0
#: Seconds: resolution of planned call times.
STEP = 0.25


class PollPlan:
    """When to call ``getTaskResult`` for one task.

    Ask :meth:`next_wait` before each call (the first time right after
    ``createTask``), passing the seconds since ``createTask``, and make the
    call as soon as the wait is over.
    """

    def __init__(
        self,
        times: Sequence[float],
        tail: float,
        deadline: float,
        *,
        learned: bool,
    ) -> None:
        self._times = tuple(times)
        self._tail = tail
        self.deadline = deadline
        #: Whether the plan comes from learned solve times (else the fixed schedule).
        self.learned = learned
        self._calls = 0
        self._last = -math.inf

    @classmethod
    def fixed(cls, schedule: PollSchedule, deadline: float) -> PollPlan:
        """``schedule`` as it is: the first wait, then the interval after each answer."""
        return cls((schedule.first_wait,), schedule.interval, deadline, learned=False)

    def next_wait(self, elapsed: float) -> float | None:
        """Seconds to wait before the next call, ``elapsed`` seconds after
        ``createTask``; ``None`` once no call fits before the deadline."""
        if elapsed >= self.deadline:
            return None
        k = self._calls
        if k < len(self._times):
            at = self._times[k]
        elif self.learned:
            at = self._last + self._tail
        else:
            # A pinned schedule counts its interval from the answer, as it always has.
            at = elapsed + self._tail
        if self.learned:
            earliest = max(self._last + MIN_GAP, RATE * k)
            if earliest > self.deadline:
                return None
            at = max(at, earliest)
        at = min(max(at, elapsed), self.deadline)
        self._calls += 1
        self._last = at
        return at - elapsed

    def sent(self, elapsed: float) -> None:
        """The call was sent ``elapsed`` seconds after ``createTask``: later
        than planned if it waited for a connection or was retried. The next
        call keeps its distance from then, not from the planned time."""
        self._last = max(self._last, elapsed)


class SolveTimeModel:
    """Solve times seen per task type and site key, and poll plans made from them.

    :param max_keys: site keys remembered; the least recently used is
        forgotten first. (Task types, a handful, are always remembered.)
    :param window: samples kept per task type and per site key.
    """

    def __init__(self, *, max_keys: int = 256, window: int = 50) -> None:
        if max_keys < 1 or window < MIN_SAMPLES:
            raise ValueError(f"need max_keys >= 1 and window >= {MIN_SAMPLES}")
        self.max_keys = max_keys
        self.window = window
        self._types: dict[str, _Samples] = {}
        self._sites: OrderedDict[tuple[str, str], _Samples] = OrderedDict()

    def observe(self, task_type: str, sitekey: str | None, low: float, high: float) -> None:
        """A task became ready within ``(low, high]`` seconds after ``createTask``.

        ``low``: when the last call that answered "processing" was sent (0 if
        none did); ``high``: when the call that answered "ready" was sent.
        Report solved tasks only: a failed task says nothing about solve times.
        """
        if not 0 <= low < high < math.inf:
            raise ValueError(f"need 0 <= low < high < inf, got ({low!r}, {high!r}]")
        self._types.setdefault(task_type, _Samples(self.window)).add(low, high)
        if sitekey is not None:
            key = (task_type, sitekey)
            entry = self._sites.get(key)
            if entry is None:
                entry = self._sites[key] = _Samples(self.window)
                if len(self._sites) > self.max_keys:
                    self._sites.popitem(last=False)
            else:
                self._sites.move_to_end(key)
            entry.add(low, high)

    def planner(
        self,
        task_type: str,
        sitekey: str | None,
        default: PollSchedule,
        deadline: float,
        *,
        learn: bool = True,
    ) -> PollPlan:
        """The plan for one task whose solve must end ``deadline`` seconds
        after its ``createTask``.

        Made from the site key's solve times if it has ``MIN_SAMPLES``, else
        from the task type's if it has, else ``default`` (the kind's fixed
        schedule) as it is. ``learn=False``, for a schedule the user pinned,
        always gives ``default`` as it is.
        """
        if learn:
            site = None if sitekey is None else self._sites.get((task_type, sitekey))
            for entry in (site, self._types.get(task_type)):
                if entry is not None and len(entry) >= MIN_SAMPLES:
                    tail = max(default.interval, MIN_GAP)
                    return PollPlan(entry.plan(), tail, deadline, learned=True)
        return PollPlan.fixed(default, deadline)

    @property
    def stored_samples(self) -> int:
        """Samples held: at most ``window`` per task type and per remembered site key."""
        return sum(len(entry) for entry in (*self._types.values(), *self._sites.values()))


class _Samples:
    """One key's recent ``(low, high]`` intervals and the plan made from them."""

    __slots__ = ("_intervals", "_plan")

    def __init__(self, window: int) -> None:
        self._intervals: deque[tuple[float, float]] = deque(maxlen=window)
        self._plan: tuple[float, ...] | None = None

    def __len__(self) -> int:
        return len(self._intervals)

    def add(self, low: float, high: float) -> None:
        self._intervals.append((low, high))
        self._plan = None

    def plan(self) -> tuple[float, ...]:
        if self._plan is None:
            n = len(self._intervals)
            weights = [0.5 ** ((n - 1 - i) / HALF_LIFE) for i in range(n)]
            self._plan = _plan_calls(_cdf_on_grid(self._intervals, weights))
        return self._plan


def _cdf_on_grid(intervals: Sequence[tuple[float, float]], weights: Sequence[float]) -> list[float]:
    """P(solve time <= j * STEP) for j = 0.. up to the latest ``high`` plus
    ``MAX_GAP``, each interval's weight spread uniformly over it."""
    top = max(high for _, high in intervals)
    size = math.ceil((top + MAX_GAP) / STEP) + 1
    cdf = [0.0] * size
    total = sum(weights)
    for (low, high), weight in zip(intervals, weights, strict=True):
        share = weight / total
        first = math.floor(low / STEP) + 1
        last = math.ceil(high / STEP)
        for j in range(first, last):
            cdf[j] += share * (j * STEP - low) / (high - low)
        for j in range(last, size):
            cdf[j] += share
    return cdf


def _plan_calls(cdf: Sequence[float]) -> tuple[float, ...]:
    """Call times (seconds after ``createTask``) for the solve-time CDF ``cdf``
    given on the ``STEP`` grid: the first at its ``EARLY_QUANTILE``, the
    others minimising expected calls plus ``DELAY_COST`` times the expected
    delay, within the module's bounds, up to where ``cdf`` reaches 1."""
    size = len(cdf)
    # area[j]: the CDF's integral from 0 to j * STEP. Solves ending between a
    # call at i and the next at j wait for j: an expected delay of
    # area[j] - area[i] - cdf[i] * (j - i) * STEP.
    area = [0.0] * size
    for j in range(1, size):
        area[j] = area[j - 1] + STEP * (cdf[j - 1] + cdf[j]) / 2
    gap_min, gap_max, per_call = (round(s / STEP) for s in (MIN_GAP, MAX_GAP, RATE))
    first = _quantile_index(cdf, EARLY_QUANTILE)
    done = 1.0 - 1e-9
    # State (i, k): the k-th call was made at grid point i. The rate rule and
    # the calls that fit since the first bound k above. Below some k, the
    # calls saved so far leave so much allowance that the rate rule can hold
    # no later call back: all such k plan alike and share one row.
    lowest = [1] * size
    rows: list[list[tuple[float, int]]] = [[] for _ in range(size)]

    def best_after(i: int, k: int) -> tuple[float, int]:
        # (expected cost to come, next call) after the k-th call, made at i.
        return rows[i][max(k, lowest[i]) - lowest[i]]

    for i in range(size - 1, first - 1, -1):
        highest = min(1 + i // per_call, 1 + (i - first) // gap_min)
        calls_left = (size - 1 - i) // gap_min
        free = 1 + (i - calls_left * (per_call - gap_min)) // per_call
        lowest[i] = max(1, min(highest, free))
        if cdf[i] >= done:
            rows[i] = [(0.0, -1)] * (highest - lowest[i] + 1)
            continue
        row = []
        for k in range(lowest[i], highest + 1):
            best = (math.inf, -1)
            for j in range(i + gap_min, min(i + gap_max, size - 1) + 1):
                if k > j // per_call:  # the (k + 1)-th call may not come this early
                    continue
                delay = area[j] - area[i] - cdf[i] * (j - i) * STEP
                later = best_after(j, k + 1)[0]
                best = min(best, ((1.0 - cdf[i]) + DELAY_COST * delay + later, j))
            row.append(best)
        rows[i] = row
    times = [first]
    while (j := best_after(times[-1], len(times))[1]) >= 0:
        times.append(j)
    return tuple(j * STEP for j in times)


def _quantile_index(cdf: Sequence[float], q: float) -> int:
    """The last grid index where the CDF is still at most ``q``."""
    j = 0
    while j + 1 < len(cdf) and cdf[j + 1] <= q:
        j += 1
    return j

"""Learned polling: plan each task's ``getTaskResult`` calls from past solve times.

Pure and I/O-free. The client asks for one :class:`PollPlan` per task, tells
it when each call went out and what it answered, and closes it at the end::

    plan = model.planner(task.KIND, sitekey, schedule, deadline, learn=not pinned)
    try:
        while (wait := plan.next_wait(now() - created)) is not None:
            await sleep(wait)
            plan.sent(now() - created)  # as the call goes out, after any wait for a slot
            answer = await get_task_result()
            plan.answered(ready=answer is ready)
            if answer is ready:
                break
    finally:
        plan.close()

What is learned
    Per task type and per (type, site key), the last ``window`` tasks
    created of those that ended, plus those still pending. Site keys live in
    an LRU of ``max_keys``, so a crawl over any number of site keys holds at
    most ``(types + max_keys) * window`` ended tasks (pending ones are held
    by their plans). A site key's own samples plan its tasks once it has
    ``MIN_SAMPLES`` solves; until then its type's do; until the type has
    that many, the kind's fixed schedule does. Recent tasks weigh more: a
    sample's weight halves with every ``HALF_LIFE`` tasks of its key created
    after it, so when solve times jump the plan follows within
    ``HALF_LIFE * log2(1 / EARLY_QUANTILE)`` solves (about 33) upwards, and
    within a few probes downwards (see below).

Tasks not (yet) found ready
    A task still pending, or one that ended without a token (failed, timed
    out, cancelled), is known only to take longer than its last
    "processing" answer: a right-censored sample, counted as such
    (Kaplan-Meier: it is at risk of ending up to that time, then leaves the
    count). Leaving them out would learn from the quick solves alone
    whenever many start together, as in a crawl: the first to end are the
    quick ones, and plans would poll too early. A task pending longer than
    any solve seen is expected within ``MAX_GAP`` after where it stands.

Solves seen between two calls
    The client never sees when a token became ready, only that it was not at
    the last "processing" answer and was at the first "ready" one: the solve
    time lies in ``(low, high]``. Taking ``high`` (when we noticed) as the
    solve time makes every sample late by up to a gap, so plans poll later,
    so the next samples are noticed later still. Instead each sample's weight
    is spread uniformly over its interval (uniform imputation of interval-
    censored data). Our plans keep intervals 2-4 s wide, so this blurs the
    distribution by a second or two without biasing it. The wide interval
    is a token ready at the first call, ``(0, first call]``. For a probe
    (below) it is spread over all of that, which deliberately errs early
    and corrects itself: if more probes than planned find the token ready,
    the estimated early quantile drops in proportion, the next probes come
    sooner, answer "processing" and give sharp lower bounds again. For
    other tasks, whose first call may come where a third of solves are
    done, three quarters of it go where the other samples say solves end
    below that call (one step of Turnbull's self-consistent estimate), a
    quarter is spread evenly; spread all evenly, it would pull their first
    calls ever earlier, and placed all by the others, ever later.

How a plan is made
    Calls minimise expected calls plus ``DELAY_COST`` times the expected
    delay between "ready" and noticing it, by dynamic programming on a
    ``STEP`` grid, up to the slowest solve seen. One task in
    ``PROBE_EVERY`` per key is a probe: its first call comes at the
    ``EARLY_QUANTILE`` of the learned distribution, so most probes answer
    "processing" and keep the lower end observed. The others' first call
    comes where the cost is least, never earlier than that (on 12-18 s
    solves: at 14 s, then 16 and 18 s, 2 calls, a third ready at the first).
    All calls keep to these bounds:

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

import bisect
import itertools
import math
from collections import OrderedDict
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
DELAY_COST = 3.5
#: Share of a token ready at the first call spread uniformly before it.
VAGUE_UNIFORM = 0.25
#: One task in PROBE_EVERY places its first call at the early quantile.
PROBE_EVERY = 4
#: Samples a key needs before its own times plan polls.
MIN_SAMPLES = 8
#: A sample's weight halves every HALF_LIFE newer samples of its key.
HALF_LIFE = 12.0
#: Seconds: resolution of planned call times.
STEP = 0.25
#: A key's plan is remade once more than 1 / REPLAN_EVERY of its solves are newer.
REPLAN_EVERY = 32


class PollPlan:
    """When to call ``getTaskResult`` for one task, and what its answers teach.

    Ask :meth:`next_wait` before each call (the first time right after
    ``createTask``), passing the seconds since ``createTask``; make the call
    as soon as the wait is over, say when it really went out with
    :meth:`sent`, and what it answered with :meth:`answered`. Call
    :meth:`close` when the task ends, however it ends.
    """

    def __init__(
        self,
        times: Sequence[float],
        tail: float,
        deadline: float,
        *,
        learned: bool,
        watch: _Watch | None = None,
    ) -> None:
        self._times = tuple(times)
        self._tail = tail
        self.deadline = deadline
        #: Whether the plan comes from learned solve times (else the fixed schedule).
        self.learned = learned
        self._watch = watch
        self._calls = 0
        self._last = -math.inf
        self._sent = 0.0

    @classmethod
    def fixed(
        cls, schedule: PollSchedule, deadline: float, watch: _Watch | None = None
    ) -> PollPlan:
        """``schedule`` as it is: the first wait, then the interval after each answer."""
        return cls((schedule.first_wait,), schedule.interval, deadline, learned=False, watch=watch)

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
        self._last = self._sent = at
        return at - elapsed

    def sent(self, elapsed: float) -> None:
        """The call was sent ``elapsed`` seconds after ``createTask``: later
        than planned if it waited for a connection or was retried. The next
        call keeps its distance from then, not from the planned time."""
        self._sent = elapsed
        self._last = max(self._last, elapsed)

    def answered(self, ready: bool) -> None:
        """The call last sent found the token ``ready``, or still processing."""
        if self._watch is not None:
            if ready:
                self._watch.ready(self._sent)
                self._watch = None
            else:
                self._watch.low = self._sent

    def close(self) -> None:
        """The task ended. Unless it was found ready, the model keeps it as
        a solve longer than its last "processing" answer."""
        if self._watch is not None:
            self._watch.censor()
            self._watch = None


class SolveTimeModel:
    """Solve times seen per task type and site key, and poll plans made from them.

    :param max_keys: site keys remembered; the least recently used is
        forgotten first. (Task types, a handful, are always remembered.)
    :param window: ended tasks kept per task type and per site key.
    """

    def __init__(self, *, max_keys: int = 256, window: int = 50) -> None:
        if max_keys < 1 or window < MIN_SAMPLES:
            raise ValueError(f"need max_keys >= 1 and window >= {MIN_SAMPLES}")
        self.max_keys = max_keys
        self.window = window
        self._types: dict[str, _Samples] = {}
        self._sites: OrderedDict[tuple[str, str], _Samples] = OrderedDict()

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
        after its ``createTask``; with ``learn``, its answers are learned from.

        Made from the site key's solve times if it has ``MIN_SAMPLES``, else
        from the task type's if it has, else ``default`` (the kind's fixed
        schedule) as it is. ``learn=False``, for a schedule the user pinned,
        always gives ``default`` as it is and learns nothing.
        """
        if not learn:
            return PollPlan.fixed(default, deadline)
        places = [(samples, samples.start()) for samples in self._keys(task_type, sitekey)]
        for samples, seq in reversed(places):  # the site key's first
            probe = seq % PROBE_EVERY == 0
            times = samples.plan(probe)
            if times is not None:
                tail = max(default.interval, MIN_GAP)
                watch = _Watch(places, placed=not probe)
                return PollPlan(times, tail, deadline, learned=True, watch=watch)
        return PollPlan.fixed(default, deadline, _Watch(places, placed=False))

    @property
    def stored_samples(self) -> int:
        """Ended tasks held: at most ``window`` per task type and per
        remembered site key. (Tasks still pending are held by their plans.)"""
        return sum(len(entry) for entry in (*self._types.values(), *self._sites.values()))

    def _keys(self, task_type: str, sitekey: str | None) -> list[_Samples]:
        """The samples of the task type and, if given, of its site key."""
        keys = [self._types.setdefault(task_type, _Samples(self.window))]
        if sitekey is not None:
            key = (task_type, sitekey)
            entry = self._sites.get(key)
            if entry is None:
                entry = self._sites[key] = _Samples(self.window)
                if len(self._sites) > self.max_keys:
                    self._sites.popitem(last=False)
            else:
                self._sites.move_to_end(key)
            keys.append(entry)
        return keys


class _Watch:
    """One task as the model follows it: the latest time it was known to be
    still processing, and its place in each of its keys' samples."""

    __slots__ = ("_placed", "_places", "low")

    def __init__(self, places: list[tuple[_Samples, int]], *, placed: bool) -> None:
        self._places = places
        self._placed = placed
        for samples, seq in places:
            samples.pending[seq] = self
        self.low = 0.0

    def ready(self, high: float) -> None:
        # Ready at a first call placed by cost: before it, where the others
        # say (see _cdf_on_grid); marked by a negative low.
        low = -1.0 if self._placed and self.low == 0 else self.low
        for samples, seq in self._places:
            if samples.pending.pop(seq, None) is not None and high > self.low:
                samples.add(seq, low, high)

    def censor(self) -> None:
        for samples, seq in self._places:
            if samples.pending.pop(seq, None) is not None and self.low > 0:
                samples.add(seq, self.low, math.inf)


class _Samples:
    """One key's tasks: the last ``window`` created of those that ended, each
    ``(seq, low, high)``, ``high`` infinite if it ended without being found ready,
    the ones still pending by ``seq`` (their order of creation), and the
    plan made from them."""

    __slots__ = ("_ended", "_next", "_plans", "_stale", "_window", "pending")

    def __init__(self, window: int) -> None:
        # In order of creation: tasks end in order of their solve times, so
        # keeping the last to end would keep the slow ones of a burst.
        self._ended: list[tuple[int, float, float]] = []
        self._window = window
        self.pending: dict[int, _Watch] = {}
        self._next = 0
        # (a probe's call times, the others'), remade now and then.
        self._plans: tuple[tuple[float, ...], tuple[float, ...]] | None = None
        self._stale = 0

    def __len__(self) -> int:
        return len(self._ended)

    def start(self) -> int:
        """A sequence number for a task just created."""
        self._next += 1
        return self._next

    def add(self, seq: int, low: float, high: float) -> None:
        bisect.insort(self._ended, (seq, low, high))
        if len(self._ended) > self._window:
            del self._ended[0]
        self._stale += 1
        if self._plans is not None and low > self._plans[0][-1]:
            # Longer than the plan foresaw: solve times may have jumped.
            self._plans = None

    def plan(self, probe: bool) -> tuple[float, ...] | None:
        """Call times from these samples for a probe or another task, or
        ``None`` with too few solves.

        Remade once every few ended tasks rather than after each one (a
        plan costs up to 1.5 ms of CPU, and one task more barely moves one
        made from dozens), and at once after a task longer than it foresaw.
        """
        solved = sum(high < math.inf for _, _, high in self._ended)
        if solved < MIN_SAMPLES:
            return None
        if self._plans is None or self._stale > solved // REPLAN_EVERY:
            ended = list(self._ended)
            ended += [(seq, w.low, math.inf) for seq, w in self.pending.items() if w.low > 0]
            newest = max(seq for seq, _, high in ended if high < math.inf)
            weighted = [
                (low, high, 0.5 ** (max(0, newest - seq) / HALF_LIFE)) for seq, low, high in ended
            ]
            self._plans = _plan_calls(_cdf_on_grid(weighted))
            self._stale = 0
        return self._plans[not probe]


def _cdf_on_grid(samples: Sequence[tuple[float, float, float]]) -> list[float]:
    """P(solve time <= j * STEP) for j = 0.. up to the latest bound plus
    ``MAX_GAP``, from weighted ``(low, high, weight)`` samples: a solve's
    weight spread uniformly over its ``(low, high]``, a task not (yet) found
    ready (``high`` infinite) taken as longer than ``low`` (Kaplan-Meier)."""
    solved = [(low, high, weight) for low, high, weight in samples if high < math.inf]
    censored = [(low, weight) for low, high, weight in samples if high == math.inf]
    top = max(high for _, high, _ in solved)
    beyond = max((low for low, _ in censored if low >= top), default=None)
    size = math.ceil((max(top, beyond or 0.0) + MAX_GAP) / STEP) + 1
    # ended[j]: the solved weight ending in ((j - 1) * STEP, j * STEP].
    ended = [0.0] * size
    placed = []
    for low, high, weight in solved:
        if low < 0:
            placed.append((high, weight))
        else:
            _spread(ended, max(low, 0.0), high, weight)
    # A token ready at a first call placed by cost, where a third of solves
    # may be done, ended in (0, high], but spread over all of it, it would
    # teach that solves end near 0. It goes where the other solves say they
    # end (probes, whose first calls come early, keep that picture sharp).
    sharp = list(ended)
    for high, weight in placed:
        last = math.ceil(high / STEP)
        mass = sum(sharp[1 : last + 1])
        if mass > 0:
            for j in range(1, last + 1):
                ended[j] += (1 - VAGUE_UNIFORM) * weight * sharp[j] / mass
            _spread(ended, 0.0, high, VAGUE_UNIFORM * weight)
        else:
            _spread(ended, 0.0, high, weight)
    done = list(itertools.accumulate(ended))
    # leaving[j]: the censored weight no longer known to be pending after j * STEP.
    leaving = [0.0] * size
    for low, weight in censored:
        leaving[min(math.floor(low / STEP), size - 1)] += weight
    pending = sum(weight for _, weight in censored)
    total = done[-1]
    survival, cdf = 1.0, [0.0] * size
    for j in range(1, size):
        pending -= leaving[j - 1]
        at_risk = total - done[j - 1] + pending
        if ended[j] > 0 and at_risk > 0:
            survival *= max(0.0, 1.0 - ended[j] / at_risk)
        cdf[j] = 1.0 - survival
    if beyond is not None:
        # Pending longer than any solve seen: expected within MAX_GAP after.
        start = math.floor(beyond / STEP)
        for j in range(start, size):
            cdf[j] += (1.0 - cdf[start]) * (j - start) / (size - 1 - start)
    cdf[-1] = 1.0
    return cdf


def _spread(ended: list[float], low: float, high: float, weight: float) -> None:
    """Add ``weight`` to the grid bins of ``ended``, uniformly over ``(low, high]``."""
    width = high - low
    j = math.floor(low / STEP) + 1
    while (j - 1) * STEP < high:
        overlap = min(j * STEP, high) - max((j - 1) * STEP, low)
        ended[j] += weight * overlap / width
        j += 1


def _plan_calls(cdf: Sequence[float]) -> tuple[tuple[float, ...], tuple[float, ...]]:
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
    # A probe's first call comes at the early quantile; the others' where
    # calls plus delay (of the solves ending before it too) cost least,
    # not earlier.
    probe = first
    first = min((1.0 + DELAY_COST * area[i] + best_after(i, 1)[0], i) for i in range(probe, size))[
        1
    ]

    def calls_from(first: int) -> tuple[float, ...]:
        times = [first]
        while (j := best_after(times[-1], len(times))[1]) >= 0:
            times.append(j)
        return tuple(j * STEP for j in times)

    return calls_from(probe), calls_from(first)


def _quantile_index(cdf: Sequence[float], q: float) -> int:
    """The last grid index where the CDF is still at most ``q``."""
    j = 0
    while j + 1 < len(cdf) and cdf[j + 1] <= q:
        j += 1
    return j

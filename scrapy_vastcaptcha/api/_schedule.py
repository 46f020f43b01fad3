"""When to poll and when to retry: pure timing policy, no I/O.

Default polling schedule, per captcha kind (first wait, then interval):

==============  ==========  ========
kind            first wait  interval
==============  ==========  ========
token captchas  5 s         3 s
image           3 s         3 s
==============  ==========  ========

Why: the service advises polling every 3-5 s and says tokens take 5-30 s.
A poll before 5 s can only answer "processing", so the first one waits that
long; after it, 3 s (the low end of the advice) keeps the mean delay between
"ready" and our noticing it at about 1.5 s. Against the official SDK, which
polls at once and then every 3 s, that saves two calls per task at no cost in
latency: a 5 s solve takes 1 poll (SDK 3), 15 s takes 5 (SDK 6), 30 s takes
10 (SDK 11). Image captchas are usually quicker, so their first poll comes
sooner.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType


@dataclass(frozen=True)
class PollSchedule:
    first_wait: float
    interval: float

    def __post_init__(self) -> None:
        if self.first_wait < 0 or self.interval <= 0:
            raise ValueError(f"poll schedule needs first_wait >= 0 and interval > 0, got {self}")


TOKEN_SCHEDULE = PollSchedule(first_wait=5.0, interval=3.0)

DEFAULT_SCHEDULES: Mapping[str, PollSchedule] = MappingProxyType(
    {
        "recaptcha-v2": TOKEN_SCHEDULE,
        "recaptcha-v3": TOKEN_SCHEDULE,
        "hcaptcha": TOKEN_SCHEDULE,
        "turnstile": TOKEN_SCHEDULE,
        "funcaptcha": TOKEN_SCHEDULE,
        "image": PollSchedule(first_wait=3.0, interval=3.0),
    }
)


def schedules_with_interval(interval: float) -> dict[str, PollSchedule]:
    """The default schedules with every interval set to ``interval`` and first
    waits scaled by the same factor as the token schedule's interval (so that
    asking for 0.3 s polls against a 10x faster emulator gives a 0.5 s first
    wait)."""
    factor = interval / TOKEN_SCHEDULE.interval
    return {
        kind: replace(s, first_wait=s.first_wait * factor, interval=interval)
        for kind, s in DEFAULT_SCHEDULES.items()
    }


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff for transient failures of one call: exponential with jitter.

    ``max_retries`` consecutive failures of the same call are tolerated; the
    next one is raised. Delays grow as ``base * 2**n`` capped at ``cap``, each
    drawn uniformly from [delay/2, delay] so that many clients that failed
    together do not retry together.

    Failures to connect (refused, unreachable, name not found, connect
    timeout) are tolerated only ``connect_retries`` times: a service that is
    down or a wrong port should be reported within seconds, not after the
    minute of backoff a passing 503 deserves.
    """

    max_retries: int = 5
    base: float = 1.0
    cap: float = 20.0
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)
    connect_retries: int = 2

    def __post_init__(self) -> None:
        if self.max_retries < 0 or self.connect_retries < 0:
            raise ValueError(f"retry counts must be >= 0, got {self}")
        if not (0 < self.base <= self.cap < float("inf")):
            raise ValueError(f"retry delays need 0 < base <= cap < inf, got {self}")

    def delay(self, attempt: int) -> float:
        """The wait before retry number ``attempt`` (0-based)."""
        ceiling = min(self.cap, self.base * (2**attempt))
        return self.rng.uniform(ceiling / 2, ceiling)

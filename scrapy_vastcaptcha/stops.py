"""Ending the run: what becomes of the crawl when no more captcha tasks may be created.

Some failures end task creation for the whole run, not one request
(:func:`stops_the_run`): an account error (an unknown, disabled or banned
key, no balance), a spending limit of the budget guard, a configuration the
service refuses (TLS, redirects). The client holds that error and refuses
every task from then on; :class:`RunStop` acts on it, once:

* it is logged, and told to the other workers of a budget fleet;
* every request waiting for a solve, or for another request's shared solve,
  is handed back: to the scheduler, untouched, where the queue outlives the
  run (JOBDIR, or scrapy-redis with ``SCHEDULER_PERSIST``), so that a later
  run on a working account solves it; otherwise to its errback, with the
  stop's error;
* the spider closes with the stop's reason (``vastcaptcha_<code>``, or the
  budget's) once every one of those failures has reached its errback.

When the spider closes for any other reason, the requests still waiting
for a solve go back to the scheduler too (:meth:`RunStop.release_pending`,
called by :class:`PendingSolvesPipeline` at the one moment it can still
save them).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from scrapy import Request, Spider
from scrapy.crawler import Crawler
from scrapy.settings import BaseSettings

from scrapy_vastcaptcha.api.client import VastCaptchaClient
from scrapy_vastcaptcha.api.errors import CaptchaError, Scope, VastCaptchaError, error_code
from scrapy_vastcaptcha.budget import BudgetGuard
from scrapy_vastcaptcha.meta import META_KEY
from scrapy_vastcaptcha.state import STATE_KEY, SolveState

__all__ = ["CrawlActions", "PendingSolvesPipeline", "RunStop", "stops_the_run"]

logger = logging.getLogger(__name__)


def stops_the_run(exc: BaseException) -> bool:
    """Nothing more can succeed this run: an account error, a spending limit,
    a configuration the service refuses (TLS, redirects)."""
    return isinstance(exc, VastCaptchaError) and exc.scope is Scope.RUN


def persistent_queue(settings: BaseSettings) -> bool:
    """Whether the scheduler's queue outlives the run (JOBDIR, a kept scrapy-redis queue)."""
    if settings.get("JOBDIR"):
        return True
    scheduler = str(settings.get("SCHEDULER") or "")
    return "scrapy_redis" in scheduler and settings.getbool("SCHEDULER_PERSIST")


@dataclass(frozen=True)
class CrawlActions:
    """What ending the run does to the crawl, done by the middleware."""

    #: Cancel every pending solve: the requests they were for, unparked.
    cancel_pending: Callable[[], list[Request]]
    #: Forget every shared solve: the requests that were waiting on one.
    drain_waiting: Callable[[], list[Request]]
    #: Send a request (back) through the engine.
    crawl: Callable[[Request], None]
    #: Send a request to its errback, carrying a failure (code, message).
    fail: Callable[[Request, SolveState, str, str], None]
    close_spider: Callable[[str], None]
    #: Add to a ``vastcaptcha/`` stat.
    count: Callable[[str, int], None]
    #: Bring the budget's stats up to date.
    budget_stats: Callable[[], None]


class RunStop:
    """The run's stop, as the crawl acts on it; see the module docstring."""

    def __init__(
        self,
        client: VastCaptchaClient,
        budget: BudgetGuard | None,
        settings: BaseSettings,
        actions: CrawlActions,
    ) -> None:
        self._client = client
        self._budget = budget
        self._settings = settings
        self._actions = actions
        #: Whether the stop was logged and acted on, and how many failures
        #: still have to reach their errbacks before the spider closes.
        self._announced = False
        self._undelivered = 0

    @property
    def error(self) -> VastCaptchaError | None:
        """Why the run stopped creating tasks: held by the client, which
        refuses every task from then on."""
        return self._client.fatal_error

    @property
    def reason(self) -> str:
        """The spider's close reason for :attr:`error`."""
        assert self.error is not None
        reason: str = getattr(self.error, "reason", "")
        return reason or f"vastcaptcha_{error_code(self.error).removeprefix('ERROR_').lower()}"

    def check(self) -> VastCaptchaError | None:
        """:attr:`error`; the first time it is seen (the client may have met
        an account error on its own, in a balance reading), act on it as on
        any stop."""
        stop = self.error
        if stop is not None and not self._announced:
            self.stop(stop)
        return stop

    def stop(self, exc: VastCaptchaError, failed: Request | None = None) -> None:
        """No more tasks for this run; ``failed``: the request whose solve met
        ``exc`` (its solve already cancelled)."""
        self._client.stop(exc)
        self._actions.budget_stats()
        if self._announced:
            if failed is not None:
                self.hand_back(failed)
            return
        self._announced = True
        logger.error(
            "%s: no more captcha tasks will be created; closing the spider (%s)",
            exc,
            self.reason,
        )
        if self._budget is not None and self._budget.reason is None:
            # The other workers of the fleet stop too.
            self._budget.stop(self.reason)
        requests = [failed] if failed is not None else []
        requests += self._actions.cancel_pending()
        requests += self._actions.drain_waiting()
        for request in requests:
            self.hand_back(request)
        if self._undelivered == 0:
            self._actions.close_spider(self.reason)

    def stopped(self, request: Request) -> None:
        """``request`` met a captcha after the run stopped: handed back, or
        the error for its errback raised."""
        assert self.error is not None
        if not persistent_queue(self._settings):
            code = error_code(self.error)
            self._actions.count(f"failed/{code}", 1)
            raise CaptchaError(code, str(self.error))
        self.hand_back(request)

    def hand_back(self, request: Request) -> None:
        """To the scheduler untouched, for a later run on a working account,
        where the queue persists; to its errback otherwise."""
        assert self.error is not None
        if persistent_queue(self._settings):
            meta = {k: v for k, v in request.meta.items() if k != STATE_KEY}
            self._actions.crawl(request.replace(meta=meta, dont_filter=True))
            return
        self._undelivered += 1
        state = SolveState.from_meta(request.meta) or SolveState(spec=request.meta.get(META_KEY))
        self._actions.fail(request, state, error_code(self.error), str(self.error))

    def failure_delivered(self, code: str) -> None:
        """A failure with ``code`` is on its way to its errback; the spider
        closes after the last one the stop handed back."""
        if self.error is None or code != error_code(self.error):
            return
        self._undelivered -= 1
        if self._undelivered == 0:
            self._actions.close_spider(self.reason)

    def release_pending(self) -> None:
        """Cancel the pending solves and return their requests to the scheduler
        (see :meth:`VastCaptchaMiddleware.release_pending
        <scrapy_vastcaptcha.middleware.VastCaptchaMiddleware.release_pending>`)."""
        pending = self._actions.cancel_pending()
        waiting = self._actions.drain_waiting()
        for request in (*pending, *waiting):
            self._actions.crawl(request)
        if pending or waiting:
            self._actions.count("requeued_at_close", len(pending) + len(waiting))
            logger.info(
                "%d request(s) waiting for a captcha solve returned to the scheduler",
                len(pending) + len(waiting),
            )


class PendingSolvesPipeline:
    """Hands pending captcha requests back to the scheduler when the spider closes.

    It is an item pipeline only for its ``close_spider`` hook: Scrapy calls it
    after the downloader stops and before the scheduler persists its queue,
    the one moment when requests can still be saved for a resumed crawl.
    Items pass through untouched. The add-on enables it.
    """

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> PendingSolvesPipeline:
        return cls(crawler)

    def process_item(self, item: Any, spider: Spider | None = None) -> Any:
        return item

    def close_spider(self, spider: Spider | None = None) -> None:
        # imported here: the middleware module imports this one
        from scrapy_vastcaptcha.middleware import VastCaptchaMiddleware

        engine = self.crawler.engine
        if engine is None:
            return
        for middleware in engine.downloader.middleware.middlewares:
            if isinstance(middleware, VastCaptchaMiddleware):
                middleware.release_pending()

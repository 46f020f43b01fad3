"""The Scrapy downloader middleware: detect, solve without holding a slot, resubmit.

How a solve stays off the downloader (the design choice that matters most):
awaiting a solve inside ``process_response`` would keep the request in the
downloader's ``active`` set, so 16 pending solves would stall a default
crawl. Instead, when a captcha is found, the middleware starts the solve in
the background and returns a *parked* copy of the request; the
``request_scheduled`` handler drops that copy (the documented way to keep a
request out of the scheduler) and the middleware holds the request itself.
The downloader slot is free at once. When the tokens arrive, the filled form
goes back through ``engine.crawl()`` with a priority boost so it leaves
promptly; a failure goes the same way and raises in ``process_request``, so
it reaches the request's errback. ``spider_idle`` keeps the spider open
while solves are pending.

The data flows one way: :func:`~scrapy_vastcaptcha.analysis.analyse` says
what the page needs, :mod:`~scrapy_vastcaptcha.sessions` says whether
another request is already solving it, the client solves, and
:mod:`~scrapy_vastcaptcha.resubmit` builds the request that carries the
tokens. What a request carries between rounds is a
:class:`~scrapy_vastcaptcha.state.SolveState`. What becomes of the crawl when
no more tasks may be created (an account error, a spending limit) is
:mod:`~scrapy_vastcaptcha.stops`'s job.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, cast

from scrapy import Request, Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import DontCloseSpider, IgnoreRequest, NotConfigured
from scrapy.http import Response
from scrapy.utils.defer import deferred_from_coro, maybe_deferred_to_future
from twisted.internet import defer
from twisted.internet.task import LoopingCall

from scrapy_vastcaptcha import signals as vc_signals
from scrapy_vastcaptcha.analysis import AnalysisConfig, PagePlan, Verdict, analyse
from scrapy_vastcaptcha.api.client import SolveEvent, SolveResult, VastCaptchaClient
from scrapy_vastcaptcha.api.errors import (
    CaptchaError,
    ConfigurationError,
    Scope,
    VastCaptchaError,
    error_code,
)
from scrapy_vastcaptcha.api.tasks import Task
from scrapy_vastcaptcha.budget import BudgetConfig, BudgetGuard, budget_error
from scrapy_vastcaptcha.captcha import Captcha, build_task
from scrapy_vastcaptcha.config import MiddlewareConfig
from scrapy_vastcaptcha.meta import META_KEY, parse_spec
from scrapy_vastcaptcha.resubmit import build_request
from scrapy_vastcaptcha.scrapy_playwright import browser_solving
from scrapy_vastcaptcha.sessions import (
    SharedChallenges,
    challenge_key,
    declared_or_evident,
    response_evidence,
)
from scrapy_vastcaptcha.state import SolveState, with_state
from scrapy_vastcaptcha.stops import CrawlActions, PendingSolvesPipeline, RunStop, stops_the_run

__all__ = ["STATS", "CaptchaError", "PendingSolvesPipeline", "VastCaptchaMiddleware"]

logger = logging.getLogger(__name__)

#: Private meta keys (plain data only).
PARKED_KEY = "_vastcaptcha_parked"
PROXY_KEY = "_vastcaptcha_proxy"

STATS_PREFIX = "vastcaptcha"

#: Meta keys that tie a request to a session; the captcha image is fetched in it.
_SESSION_META = ("cookiejar", "proxy", "dont_merge_cookies", "download_slot")

#: Every stat the middleware sets, under ``vastcaptcha/`` (the README lists them).
STATS: dict[str, str] = {
    "detected/<kind>": "captchas found in responses, per kind",
    "attempts": "solve rounds started (one per captcha page; re-solves included)",
    "tasks_created": "createTask calls that returned a task id",
    "polls": "getTaskResult calls answered",
    "retries": "API calls repeated after a transient failure",
    "solved": "captchas solved",
    "solved/<kind>": "captchas solved, per kind",
    "solve_ms": "total milliseconds from createTask to the token, over all solves",
    "failed/<code>": "captcha rounds that failed, per error code",
    "gave_up": "requests that still showed a captcha after VASTCAPTCHA_MAX_ATTEMPTS",
    "token_expired": "token-bearing requests held past VASTCAPTCHA_TOKEN_MAX_AGE, solved again",
    "no_form": "responses with a detected widget in no form, passed to the callback unsolved",
    "kind_switched": "widgets whose token the site rejected, solved next as their other "
    "possible kind (reCAPTCHA v2 and v3)",
    "coalesced": "requests that waited on another request's solve of a session-wide "
    "challenge instead of paying for their own",
    "per_request_challenges": "challenges that looked session-wide but were learned to be "
    "per-request (a released request met them again)",
    "requeued_at_close": "requests whose solve was pending when the spider closed, given back "
    "to the scheduler (kept by JOBDIR)",
}


@dataclass
class _Job:
    """A request waiting for its captchas to be solved; ``state`` holds the
    round being solved (captchas, form, page), ``attempts`` counting it."""

    request: Request
    state: SolveState
    user_agent: str | None
    proxy: str | None
    started: float = field(default_factory=time.monotonic)
    deferred: defer.Deferred[None] | None = None
    #: Set before the middleware cancels the job itself: whatever the solve
    #: reports afterwards (a cancellation in any disguise) is not a failure.
    cancelled: bool = False

    @property
    def captchas(self) -> tuple[Captcha, ...]:
        return self.state.captchas

    @property
    def referer(self) -> str:
        return self.state.referer or self.request.url


class VastCaptchaMiddleware:
    """Downloader middleware; see the module docstring for how it works and
    the README for settings, meta keys, stats and signals."""

    def __init__(
        self, crawler: Crawler, config: MiddlewareConfig, budget: BudgetConfig | None = None
    ) -> None:
        self.crawler = crawler
        self.config = config
        #: How pages are analysed; in-page solving (scrapy-playwright) uses it too.
        self.analysis = AnalysisConfig(detect=config.detect, v3_min_score=config.v3_min_score)
        # Built now, so that a bad URL or setting fails the crawl at start.
        self.client = VastCaptchaClient(
            config.api_key,
            config.api_url,
            http_timeout=config.http_timeout,
            solve_timeout=config.timeout,
            poll_interval=config.poll_interval,
            on_event=self._on_event,
        )
        #: The spend guard, when a limit (or a fleet's Redis) is configured:
        #: the client asks it before every task.
        self.budget: BudgetGuard | None = None
        if budget is not None and budget.active:
            self.budget = BudgetGuard.from_config(
                budget, self.client.get_balance, on_stop=self._budget_stopped
            )
            self.client.gate = self.budget
        self._jobs: dict[int, _Job] = {}
        self._ids = itertools.count(1)
        self._slots = defer.DeferredSemaphore(config.max_concurrent)
        self._shared: SharedChallenges[Request] = SharedChallenges()
        self._stops = RunStop(
            self.client,
            self.budget,
            crawler.settings,
            CrawlActions(
                cancel_pending=self._cancel_pending,
                drain_waiting=self._shared.drain,
                crawl=self._crawl,
                fail=self._deliver_failure,
                close_spider=self._close_spider,
                count=self.count,
                budget_stats=self._budget_stats,
            ),
        )
        self._solved = 0
        self._failed = 0
        self._summary: LoopingCall | None = None
        #: Captchas of pages rendered by scrapy-playwright, solved in the page.
        self.browser = browser_solving(self)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> VastCaptchaMiddleware:
        settings = crawler.settings
        if not settings.getbool("VASTCAPTCHA_ENABLED", True):
            raise NotConfigured("VASTCAPTCHA_ENABLED is False")
        if not settings.getbool("TWISTED_REACTOR_ENABLED", True):
            raise ConfigurationError(
                "scrapy-vastcaptcha needs Twisted's reactor (its client runs on treq); "
                "it cannot run with TWISTED_REACTOR_ENABLED=False"
            )
        middleware = cls(
            crawler,
            MiddlewareConfig.from_settings(settings),
            BudgetConfig.from_settings(settings, getattr(crawler.spidercls, "name", "") or ""),
        )
        connect = crawler.signals.connect
        connect(middleware._spider_opened, signal=signals.spider_opened)
        connect(middleware._spider_idle, signal=signals.spider_idle)
        connect(middleware._spider_closed, signal=signals.spider_closed)
        connect(middleware._request_scheduled, signal=signals.request_scheduled)
        logger.info(
            "scrapy-vastcaptcha enabled: API %s, key %s",
            middleware.config.api_url,
            middleware.config.api_key.prefix,
        )
        return middleware

    # -- downloader middleware API --------------------------------------------

    def process_request(self, request: Request, spider: Spider | None = None) -> Request | None:
        meta = request.meta
        state = SolveState.from_meta(meta)
        if state is not None and state.failure is not None:
            self._stops.failure_delivered(state.failure.code)
            raise CaptchaError(state.failure.code, state.failure.message)
        if meta.get(META_KEY) is False:
            return None
        if self.browser is not None:
            self.browser.prepare(request)
        if "proxy" in meta and PROXY_KEY not in meta and self._forward_proxy(request):
            # HttpProxyMiddleware (750) moves the credentials out of
            # meta["proxy"] after us; keep them for the solver.
            meta[PROXY_KEY] = meta["proxy"]
        if state is None or state.token_url != request.url or state.solved_at is None:
            return None
        age = time.time() - state.solved_at
        if age <= self.config.token_max_age:
            return None
        self.count("token_expired")
        if self._stops.check() is not None:
            self._stops.stopped(request)
            return _held(request)
        refusal = self._over_budget(state, len(state.captchas))
        if refusal is not None:
            raise self._gave_up(
                state,
                refusal.code,
                f"every token for {request.url} went stale before it could be sent "
                f"({refusal.message}; VASTCAPTCHA_TOKEN_MAX_AGE="
                f"{self.config.token_max_age:g} s is too short for this crawl's queue)",
            )
        logger.info(
            "Token for %s is %.0f s old (VASTCAPTCHA_TOKEN_MAX_AGE=%g); solving again",
            request.url,
            age,
            self.config.token_max_age,
        )
        return self._park(request, state)

    def process_response(
        self, request: Request, response: Response, spider: Spider | None = None
    ) -> Request | Response:
        meta = request.meta
        if meta.get(META_KEY) is False:
            return response
        if self.browser is not None:
            solved_in_page = self.browser.finish(request, response)
            if solved_in_page is not None:
                return solved_in_page
        if meta.get("playwright_include_page"):
            # The callback has the live page and may solve it itself
            # (scrapy_vastcaptcha.playwright); solving here too would pay twice.
            return response
        state = SolveState.from_meta(meta)
        try:
            spec = parse_spec(state.spec if state else meta.get(META_KEY))
        except VastCaptchaError as exc:
            raise self._refused(error_code(exc), str(exc)) from exc
        assert spec is not None
        plan = analyse(response, spec, state, self.analysis)
        if plan.verdict is Verdict.REFUSED:
            if state is not None and state.challenge and not state.waited:
                self._promote(state.challenge)
            raise self._refused(plan.code, plan.message)
        if plan.verdict is not Verdict.SOLVE:
            return self._passed(request, response, state, plan)
        if state is not None and state.answered:
            # The site answered our tokens with a captcha again.
            rejected = self._rejected(state)
            if rejected is not state:
                state = rejected
                plan = analyse(response, spec, state, self.analysis)
        self.record_detected(request, response, plan.captchas)
        if state is None:
            # Remember what the user asked for: the resubmission's meta is ours.
            state = SolveState(spec=meta.get(META_KEY))
        if self._stops.check() is not None:
            self._stops.stopped(request)
            return _held(request)
        refusal = self._over_budget(state, len(plan.captchas))
        if refusal is not None:
            raise self._gave_up(
                state, refusal.code, f"{response.url} still shows a captcha ({refusal.message})"
            )
        state = replace(
            state,
            captchas=plan.captchas,
            plan=plan.form,
            referer=response.url,
            image_url=plan.image_url,
        )
        evidence = response_evidence(
            response, jar=request.meta.get("cookiejar"), declared=spec.session_wide
        )
        evident = declared_or_evident(evidence, plan.form, self.config.session_challenges)
        key = challenge_key(evidence, plan.captchas, plan.form)
        # Released after another request passed this challenge, and met it
        # again: the clearance does not open this session's pages.
        if state.waited and state.challenge == key and self._shared.learn_per_request(key):
            self.count("per_request_challenges")
            logger.info(
                "The challenge on %s is solved per request, not per session: a request "
                "released after it was passed met it again",
                response.url,
            )
        decision = self._shared.decide(key, response.url, evident)
        if decision == "wait":
            self.count("coalesced")
            # Kept as it was sent: released, it goes again as it was.
            self._shared.wait(key, request.replace(dont_filter=True))
            return _held(request)
        state = replace(state, challenge=key if decision == "lead" else None, waited=False)
        return self._park(request.replace(meta=with_state(meta, state)), state)

    def process_exception(
        self, request: Request, exception: Exception, spider: Spider | None = None
    ) -> None:
        if self.browser is not None:
            self.browser.forget(request)
        state = SolveState.from_meta(request.meta)
        if state is not None and state.challenge and not state.waited:
            # The leader's resubmission never came back: let a waiter solve.
            self._promote(state.challenge)

    def _passed(
        self, request: Request, response: Response, state: SolveState | None, plan: PagePlan
    ) -> Response:
        """A response with nothing to solve goes to the callback."""
        if plan.verdict is Verdict.NO_FORM:
            self.count("no_form")
            logger.warning(
                '%s: passed to the callback unsolved (name the form in meta["vastcaptcha"]'
                '["form"], or solve it in a browser)',
                plan.message,
            )
        if state is not None:
            if state.challenge and not state.waited:
                self._release(state.challenge)
            if state.outcome is not None:
                request.meta[META_KEY] = dict(state.outcome)
        return response

    def _rejected(self, state: SolveState) -> SolveState:
        """Where a widget's kind was a guess and the site refused its token,
        the next round tries its other possible kind (``state`` itself when
        nothing changes)."""
        rejected = list(state.rejected)
        for captcha in state.captchas:
            pair = (captcha.sitekey, captcha.kind)
            if captcha.alternative and pair not in rejected:
                rejected.append(pair)
                self.count("kind_switched")
                logger.info(
                    "The site rejected a %s token for widget %s; trying it as %s",
                    captcha.kind,
                    captcha.sitekey,
                    captcha.alternative,
                )
        if len(rejected) == len(state.rejected):
            return state
        return replace(state, rejected=tuple(rejected))

    def _over_budget(self, state: SolveState, widgets: int) -> CaptchaError | None:
        """Why another round would break this request's bounds, if it would:
        at most VASTCAPTCHA_MAX_ATTEMPTS rounds and tasks per widget, and
        VASTCAPTCHA_TIMEOUT seconds of solving in all."""
        config = self.config
        if state.attempts >= config.max_attempts:
            return CaptchaError(
                "MAX_ATTEMPTS",
                f"{state.attempts} solve round(s) done (VASTCAPTCHA_MAX_ATTEMPTS="
                f"{config.max_attempts})",
            )
        if state.tasks >= config.max_attempts * max(widgets, 1):
            return CaptchaError(
                "MAX_ATTEMPTS",
                f"{state.tasks} task(s) created for it (at most VASTCAPTCHA_MAX_ATTEMPTS="
                f"{config.max_attempts} per captcha)",
            )
        if state.solve_seconds >= config.timeout:
            return CaptchaError(
                "SOLVE_TIMEOUT",
                f"{state.solve_seconds:.0f} s spent solving it (VASTCAPTCHA_TIMEOUT="
                f"{config.timeout:g})",
            )
        return None

    def _gave_up(self, state: SolveState, code: str, message: str) -> CaptchaError:
        self.count("gave_up")
        if state.challenge and not state.waited:
            self._promote(state.challenge)
        return self._refused(code, message)

    def _refused(self, code: str, message: str) -> CaptchaError:
        """The error the errback will get, counted under its code."""
        self.count(f"failed/{code}")
        return CaptchaError(code, message)

    # -- parking and solving --------------------------------------------------

    def _park(self, request: Request, state: SolveState) -> Request:
        job = _Job(
            request=request,
            state=replace(state, attempts=state.attempts + 1),
            user_agent=self._user_agent(request),
            proxy=request.meta.get(PROXY_KEY) if self._forward_proxy(request) else None,
        )
        job_id = self._launch(job)
        return request.replace(meta={**request.meta, PARKED_KEY: job_id}, dont_filter=True)

    def _launch(self, job: _Job) -> int:
        job_id = next(self._ids)
        self._jobs[job_id] = job
        self.count("attempts")
        if self._summary is not None and not self._summary.running:
            self._summary.start(self.config.log_interval, now=False)
        job.deferred = defer.Deferred.fromCoroutine(self._run(job_id, job))
        return job_id

    def _request_scheduled(self, request: Request, **kwargs: Any) -> None:
        if PARKED_KEY in request.meta:
            raise IgnoreRequest("parked while its captcha is solved")

    async def _run(self, job_id: int, job: _Job) -> None:
        try:
            if (stop := self._stops.check()) is not None:
                raise stop
            solves = [self._solve(job, captcha) for captcha in job.captchas]
            try:
                results: list[SolveResult] = await defer.gatherResults(solves, consumeErrors=True)
            finally:
                # One failure fails the form: stop paying for its siblings.
                for solve in solves:
                    if not solve.called:
                        solve.cancel()
        except defer.FirstError as first:
            if not job.cancelled:
                self._on_failure(job, cast(BaseException, first.subFailure.value))
        except BaseException as exc:
            if not job.cancelled and not isinstance(exc, defer.CancelledError):
                self._on_failure(job, exc)
        else:
            try:
                self._on_solved(job, results)
            except Exception as exc:
                # Never lose a request whose solve was paid for.
                logger.exception("Could not resubmit %s with its token", job.referer)
                self._on_failure(job, exc)
        finally:
            self._jobs.pop(job_id, None)

    def _solve(self, job: _Job, captcha: Captcha) -> defer.Deferred[SolveResult]:
        async def solve() -> SolveResult:
            image = await self._fetch_image(job) if job.state.image_url else None
            task = build_task(captcha, image=image, user_agent=job.user_agent, proxy=job.proxy)
            state, widgets = job.state, len(job.captchas)
            # What is left of this request's bounds, shared by its widgets.
            result = await self.solve_task(
                task,
                timeout=max(self.config.timeout - state.solve_seconds, 1.0),
                max_tasks=max((self.config.max_attempts * widgets - state.tasks) // widgets, 1),
            )
            self.crawler.signals.send_catch_log(
                vc_signals.captcha_solved, request=job.request, captcha=captcha, result=result
            )
            return result

        return defer.Deferred.fromCoroutine(solve())

    async def _fetch_image(self, job: _Job) -> bytes:
        image_url = job.state.image_url
        assert image_url is not None
        # Same session as the page (cookie jar, proxy): the picture is bound to it.
        session = {k: job.request.meta[k] for k in _SESSION_META if k in job.request.meta}
        headers = {"Referer": job.referer}
        proxy_auth = job.request.headers.get("Proxy-Authorization")
        if "proxy" in session and proxy_auth:
            # HttpProxyMiddleware moved the credentials here from meta["proxy"].
            headers["Proxy-Authorization"] = proxy_auth.decode("latin-1")
        request = Request(
            image_url, headers=headers, meta={**session, META_KEY: False}, dont_filter=True
        )
        engine = self.crawler.engine
        assert engine is not None
        download = getattr(engine, "download_async", None)
        response: Response
        if download is not None:
            response = await deferred_from_coro(download(request))
        else:  # Scrapy 2.13
            response = await engine.download(request)
        if response.status != 200 or not response.body:
            raise CaptchaError(
                "IMAGE_DOWNLOAD", f"captcha image {image_url} answered {response.status}"
            )
        return response.body

    def _on_event(self, event: SolveEvent) -> None:
        if event.name == "created":
            self.count("tasks_created")
            self._budget_stats()
        elif event.name == "polled":
            self.count("polls")
        elif event.name == "retrying":
            self.count("retries")

    # -- outcomes ---------------------------------------------------------------

    def _on_solved(self, job: _Job, results: list[SolveResult]) -> None:
        for captcha, result in zip(job.captchas, results, strict=True):
            self.record_solved(captcha.kind, result)
            logger.info(
                "Solved %s for %s in %.1f s (task %s, %d poll(s), attempt %d)",
                captcha.kind,
                job.referer,
                result.elapsed,
                result.task_id,
                result.polls,
                job.state.attempts,
            )
        request = job.request
        plan = job.state.plan
        assert plan is not None
        state = replace(
            self._spent(job, sum(r.tasks_created for r in results)),
            token_url=plan.url,
            solved_at=min(r.solved_at for r in results),
            outcome=outcome(job.captchas, job.state.attempts, results),
        )
        user_agent = None
        if job.user_agent:
            user_agent = next(
                (r.solution.user_agent for r in results if r.solution.user_agent), None
            )
        resubmission = build_request(
            request,
            plan,
            [r.token for r in results],
            meta=with_state(request.meta, state, PARKED_KEY),
            priority=request.priority + self.config.priority_adjust,
            referer=job.referer,
            user_agent=user_agent,
        )
        # FormRequest may have put the query in the URL (GET forms).
        self._crawl(
            resubmission.replace(
                meta=with_state(resubmission.meta, replace(state, token_url=resubmission.url))
            )
        )

    def _spent(self, job: _Job, tasks: int) -> SolveState:
        """``job.state`` charged with this round's tasks and time."""
        state = job.state
        return replace(
            state,
            tasks=state.tasks + tasks,
            solve_seconds=state.solve_seconds + (time.monotonic() - job.started),
        )

    def _on_failure(self, job: _Job, exc: BaseException) -> None:
        code = self.record_failed(job.request, job.captchas, exc)
        if stops_the_run(exc):
            self._cancel(job)
            self._stops.stop(cast(VastCaptchaError, exc), job.request)
            return
        # A failed solve says how many tasks it may have been billed for; its
        # cancelled siblings had at least one each.
        tasks = getattr(exc, "tasks_created", 0) + len(job.captchas) - 1
        state = self._spent(job, max(tasks, 0))
        if worth_another_round(exc) and self._over_budget(state, len(job.captchas)) is None:
            logger.info(
                "Captcha on %s not solved (%s); solving again (round %d of %d)",
                job.referer,
                exc,
                state.attempts + 1,
                self.config.max_attempts,
            )
            self._launch(
                replace(
                    job,
                    state=replace(state, attempts=state.attempts + 1),
                    started=time.monotonic(),
                    deferred=None,
                )
            )
            return
        logger.warning("Captcha on %s not solved: %s", job.referer, exc)
        message = exc.message if isinstance(exc, CaptchaError) else str(exc)
        self._deliver_failure(job.request, state, code, message)
        if job.state.challenge and not job.state.waited:
            self._promote(job.state.challenge)

    def _deliver_failure(self, request: Request, state: SolveState, code: str, msg: str) -> None:
        """Send ``request`` back through the engine carrying the failure; it
        raises in ``process_request``, so it reaches the errback."""
        self._crawl(
            request.replace(
                meta=with_state(request.meta, state.failed(code, msg), PARKED_KEY),
                dont_filter=True,
                priority=request.priority + self.config.priority_adjust,
            )
        )

    # -- stopping the run (scrapy_vastcaptcha.stops) ---------------------------

    def _cancel_pending(self) -> list[Request]:
        """Cancel every pending solve; the requests they were for, unparked."""
        # A job cancelled before (a stop) has already handed its request back.
        jobs = [job for job in self._jobs.values() if not job.cancelled]
        for job in jobs:
            self._cancel(job)
        return [
            job.request.replace(
                meta={k: v for k, v in job.request.meta.items() if k != PARKED_KEY},
                dont_filter=True,
            )
            for job in jobs
        ]

    def _budget_stopped(self, reason: str) -> None:
        """The spend guard stopped on its own: a limit, the fleet, Redis lost."""
        assert self.budget is not None
        self._stops.stop(budget_error(reason, f"VastCap budget: {self.budget.summary()}"))

    # -- session-wide challenges ------------------------------------------------

    def _release(self, key: str) -> None:
        """The leader passed the challenge: the waiters go again, marked so
        that meeting the challenge again teaches it is per-request."""
        for waiting in self._shared.release(key):
            state = SolveState.from_meta(waiting.meta) or SolveState(
                spec=waiting.meta.get(META_KEY)
            )
            marked = replace(state, challenge=key, waited=True)
            self._crawl(waiting.replace(meta=with_state(waiting.meta, marked)))

    def _promote(self, key: str) -> None:
        """The leader failed: one waiter goes again and solves for the rest."""
        waiting = self._shared.promote(key)
        if waiting is not None:
            self._crawl(waiting)

    # -- pending requests at close ----------------------------------------------

    def _cancel(self, job: _Job) -> None:
        job.cancelled = True
        if job.deferred is not None:
            job.deferred.cancel()

    def release_pending(self) -> None:
        """Cancel the pending solves and return their requests to the scheduler.

        Called by :class:`PendingSolvesPipeline` while the spider closes, just
        before the scheduler persists its queue: with JOBDIR (or a shared
        Redis queue) a paused crawl resumes with these requests, and solves
        them again rather than sending tokens that went stale meanwhile.
        """
        self._stops.release_pending()

    # -- engine plumbing ------------------------------------------------------

    def _crawl(self, request: Request) -> None:
        engine = self.crawler.engine
        if engine is None or engine.spider is None:
            logger.error("Spider closed; dropping %s", request)
            return
        engine.crawl(request)

    def _close_spider(self, reason: str) -> None:
        engine = self.crawler.engine
        assert engine is not None
        close_async = getattr(engine, "close_spider_async", None)
        if close_async is not None:
            deferred_from_coro(close_async(reason=reason))
        else:  # Scrapy 2.13
            assert self.crawler.spider is not None
            engine.close_spider(self.crawler.spider, reason)

    async def _spider_opened(self, spider: Spider) -> None:
        self._summary = LoopingCall(self._log_summary)
        if self.budget is None:
            return
        try:
            await maybe_deferred_to_future(defer.Deferred.fromCoroutine(self.budget.open()))
        except Exception as exc:
            # Never a crawl that runs without the cap it was given.
            stop = exc if isinstance(exc, VastCaptchaError) else ConfigurationError(str(exc))
            stop.scope = Scope.RUN
            self._stops.stop(stop)

    def _spider_idle(self, spider: Spider) -> None:
        if self._stops.check() is not None:
            # Every failure has been delivered (or cannot be any more).
            self._close_spider(self._stops.reason)
            raise DontCloseSpider("closing with the VastCap stop reason")
        if self._jobs:
            raise DontCloseSpider(f"{len(self._jobs)} captcha solve(s) pending")
        waiting = self._shared.drain()
        if waiting:
            # Nothing is in flight, so no leader will come back for them.
            for request in waiting:
                self._crawl(request)
            raise DontCloseSpider(f"{len(waiting)} request(s) released")

    async def _spider_closed(self, spider: Spider, reason: str) -> None:
        if self._summary is not None and self._summary.running:
            self._summary.stop()
        jobs = list(self._jobs.values())
        for job in jobs:
            self._cancel(job)
        if jobs:
            logger.warning("%d captcha solve(s) cancelled at close", len(jobs))
        await maybe_deferred_to_future(self.client.close())
        if self.budget is not None:
            await maybe_deferred_to_future(defer.Deferred.fromCoroutine(self.budget.close()))
            self._budget_stats()
            logger.info("VastCap budget: %s", self.budget.summary())

    def _log_summary(self) -> None:
        if self._jobs or self._shared.waiting:
            logger.info(
                "captchas: %d pending, %d waiting on a shared solve, %d solved, %d failed%s",
                len(self._jobs),
                self._shared.waiting,
                self._solved,
                self._failed,
                f"; budget: {self.budget.summary()}" if self.budget is not None else "",
            )

    # -- shared with solving in the browser (scrapy_vastcaptcha.scrapy_playwright) --

    def count(self, name: str, count: int = 1) -> None:
        """Add ``count`` to the stat ``vastcaptcha/<name>``."""
        stats = self.crawler.stats
        assert stats is not None
        stats.inc_value(f"{STATS_PREFIX}/{name}", count)

    def record_detected(
        self, request: Request, response: Response, captchas: Sequence[Captcha]
    ) -> None:
        for captcha in captchas:
            self.count(f"detected/{captcha.kind}")
            self.crawler.signals.send_catch_log(
                vc_signals.captcha_detected, request=request, response=response, captcha=captcha
            )

    def record_solved(self, kind: str, result: SolveResult) -> None:
        self._solved += 1
        self.count("solved")
        self.count(f"solved/{kind}")
        self.count("solve_ms", int(result.elapsed * 1000))

    def record_failed(
        self, request: Request, captchas: Sequence[Captcha], exc: BaseException
    ) -> str:
        """Count a failed round and signal it; its error code."""
        code = error_code(exc)
        self._failed += 1
        self.count(f"failed/{code}")
        for captcha in captchas:
            self.crawler.signals.send_catch_log(
                vc_signals.captcha_failed, request=request, captcha=captcha, error=exc
            )
        return code

    def solve_task(
        self, task: Task, *, timeout: float, max_tasks: int | None = None
    ) -> defer.Deferred[SolveResult]:
        """Solve ``task`` on the crawl's client, within VASTCAPTCHA_MAX_CONCURRENT,
        unless the run has stopped."""

        async def solve() -> SolveResult:
            await self._slots.acquire()
            try:
                if (stop := self._stops.check()) is not None:
                    raise stop
                return await self.client.solve(task, timeout=timeout, max_tasks=max_tasks)
            finally:
                self._slots.release()

        return defer.Deferred.fromCoroutine(solve())

    def stop_run(self, exc: VastCaptchaError) -> None:
        """A solve in the browser met an error that ends the run."""
        self._stops.stop(exc)

    # -- small helpers --------------------------------------------------------

    def _budget_stats(self) -> None:
        """Spend so far and the balance readings, kept current in the stats."""
        if self.budget is None:
            return
        stats = self.crawler.stats
        assert stats is not None
        for name, value in self.budget.stats().items():
            stats.set_value(name, value)

    def _spec_option(self, request: Request, name: str, default: bool) -> bool:
        try:
            spec = parse_spec(request.meta.get(META_KEY))
        except VastCaptchaError:
            return default
        value = getattr(spec, name, None) if spec is not None else None
        return default if value is None else bool(value)

    def _forward_proxy(self, request: Request) -> bool:
        return self._spec_option(request, "forward_proxy", self.config.forward_proxy)

    def _user_agent(self, request: Request) -> str | None:
        if not self._spec_option(request, "forward_user_agent", self.config.forward_user_agent):
            return None
        value = request.headers.get("User-Agent")
        return value.decode("latin-1") if value else None


def worth_another_round(exc: BaseException) -> bool:
    """Failures a fresh solve round may get past: the service was busy or
    unreachable for longer than the client's retries, or kept failing tasks."""
    return isinstance(exc, VastCaptchaError) and exc.scope in (Scope.NEW_TASK, Scope.RETRY)


def outcome(
    captchas: Sequence[Captcha], attempts: int, results: Sequence[SolveResult]
) -> dict[str, Any]:
    """What ``response.meta["vastcaptcha"]`` tells the callback: ``captchas``
    solved as ``results`` in solve round ``attempts``."""
    first = results[0]
    return {
        "kind": captchas[0].kind,
        "task_id": first.task_id,
        "solve_seconds": round(max(r.elapsed for r in results), 3),
        "attempts": attempts,
        "score": first.solution.score,
        "captchas": [
            {
                "kind": c.kind,
                "sitekey": c.sitekey,
                "task_id": r.task_id,
                "solve_seconds": round(r.elapsed, 3),
                "polls": r.polls,
                "score": r.solution.score,
            }
            for c, r in zip(captchas, results, strict=True)
        ],
    }


def _held(request: Request) -> Request:
    """What the engine gets instead of ``request`` while the middleware holds
    it: a copy the ``request_scheduled`` handler drops."""
    return request.replace(meta={**request.meta, PARKED_KEY: 0}, dont_filter=True)

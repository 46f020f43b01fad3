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
"""

from __future__ import annotations

import itertools
import logging
import time
from dataclasses import dataclass, replace
from typing import Any, cast

from scrapy import Request, Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import DontCloseSpider, IgnoreRequest, NotConfigured
from scrapy.http import HtmlResponse, Response
from scrapy.utils.defer import deferred_from_coro, maybe_deferred_to_future
from twisted.internet import defer
from twisted.internet.task import LoopingCall

from scrapy_vastcaptcha import signals as vc_signals
from scrapy_vastcaptcha.api.client import SolveEvent, SolveResult, VastCaptchaClient
from scrapy_vastcaptcha.api.errors import (
    AccountError,
    ApiError,
    ConfigurationError,
    Scope,
    SolveTimeoutError,
    TransportError,
    VastCaptchaError,
    error_code,
)
from scrapy_vastcaptcha.captcha import Captcha, build_task
from scrapy_vastcaptcha.config import MiddlewareConfig
from scrapy_vastcaptcha.detect import Detection, detect, might_have_captcha
from scrapy_vastcaptcha.meta import META_KEY, Spec, parse_spec
from scrapy_vastcaptcha.resubmit import FormPlan, build_request, plan_form

logger = logging.getLogger(__name__)

#: Private meta keys (plain data only).
STATE_KEY = "_vastcaptcha"
PARKED_KEY = "_vastcaptcha_parked"
PROXY_KEY = "_vastcaptcha_proxy"

STATS_PREFIX = "vastcaptcha"

#: Meta keys that tie a request to a session; the captcha image is fetched in it.
_SESSION_META = ("cookiejar", "proxy", "dont_merge_cookies", "download_slot")

#: Real forms hold one or two widgets; a page with dozens is broken or hostile,
#: and solving them all would spend money for nothing.
MAX_CAPTCHAS_PER_PAGE = 10

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
    "requeued_at_close": "requests whose solve was pending when the spider closed, given back "
    "to the scheduler (kept by JOBDIR)",
}


class CaptchaError(VastCaptchaError):
    """Delivered to a request's errback when its captcha could not be handled.

    ``code`` is the VastCap error code (``ERROR_CAPTCHA_UNSOLVABLE``...) or one
    of ours: ``MAX_ATTEMPTS`` (the site kept showing a captcha),
    ``TOO_MANY_CAPTCHAS``, ``NO_FORM``, ``INVALID_TASK`` (bad meta or widget
    data), ``NOT_HTML``, ``NO_IMAGE``, ``IMAGE_DOWNLOAD``, ``SOLVE_TIMEOUT``,
    ``TRANSPORT_ERROR``.
    """

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(f"{code}: {message}")


@dataclass
class _Job:
    """A request waiting for its captchas to be solved."""

    request: Request
    captchas: list[Captcha]
    plan: FormPlan
    referer: str
    attempts: int
    user_agent: str | None
    proxy: str | None
    image_url: str | None = None
    deferred: defer.Deferred[None] | None = None


class VastCaptchaMiddleware:
    """Downloader middleware; see the module docstring for how it works and
    the README for settings, meta keys, stats and signals."""

    def __init__(self, crawler: Crawler, config: MiddlewareConfig) -> None:
        self.crawler = crawler
        self.config = config
        self.client: VastCaptchaClient | None = None
        self._jobs: dict[int, _Job] = {}
        self._ids = itertools.count(1)
        self._slots = defer.DeferredSemaphore(config.max_concurrent)
        self._fatal: AccountError | None = None
        self._solved = 0
        self._failed = 0
        self._summary: LoopingCall | None = None

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
        middleware = cls(crawler, MiddlewareConfig.from_settings(settings))
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
        state = meta.get(STATE_KEY)
        if state and "failure" in state:
            failure = state["failure"]
            raise CaptchaError(failure["code"], failure["message"])
        if meta.get(META_KEY) is False:
            return None
        if "proxy" in meta and PROXY_KEY not in meta and self._forward_proxy(meta):
            # HttpProxyMiddleware (750) moves the credentials out of
            # meta["proxy"] after us; keep them for the solver.
            meta[PROXY_KEY] = meta["proxy"]
        if state and state.get("token_url") == request.url:
            age = time.time() - state["solved_at"]
            if age > self.config.token_max_age:
                self._inc("token_expired")
                if state["attempts"] >= self.config.max_attempts:
                    self._inc("gave_up")
                    self._inc("failed/MAX_ATTEMPTS")
                    raise CaptchaError(
                        "MAX_ATTEMPTS",
                        f"every token for {request.url} went stale before it could be sent "
                        f"({state['attempts']} solve(s); VASTCAPTCHA_TOKEN_MAX_AGE="
                        f"{self.config.token_max_age:g} s is too short for this crawl's queue)",
                    )
                logger.info(
                    "Token for %s is %.0f s old (VASTCAPTCHA_TOKEN_MAX_AGE=%g); solving again",
                    request.url,
                    age,
                    self.config.token_max_age,
                )
                captchas = [Captcha.from_dict(c) for c in state["captchas"]]
                plan = FormPlan.from_dict(state["plan"])
                return self._park(request, captchas, plan, state["referer"], state["image_url"])
        return None

    def process_response(
        self, request: Request, response: Response, spider: Spider | None = None
    ) -> Request | Response:
        meta = request.meta
        if meta.get(META_KEY) is False or meta.get("playwright_include_page"):
            # A callback that receives the live page solves in the browser
            # (scrapy_vastcaptcha.playwright); solving here too would pay twice.
            return response
        state = meta.get(STATE_KEY)
        try:
            spec = parse_spec(state["spec"] if state else meta.get(META_KEY))
            assert spec is not None
            # "first": no token was sent yet (a request handed back at close
            # and resumed has state but has not been answered).
            detections = self._find(response, spec, first=not state or "token_url" not in state)
        except VastCaptchaError as exc:
            raise self._refused(exc) from exc
        if spec.kind is None and spec.form is None:
            detections = self._resubmittable(response, detections)
        if not detections:
            if state and "outcome" in state:
                meta[META_KEY] = state["outcome"]
            return response
        attempts = state["attempts"] if state else 0
        if attempts >= self.config.max_attempts:
            self._inc("gave_up")
            self._inc("failed/MAX_ATTEMPTS")
            raise CaptchaError(
                "MAX_ATTEMPTS",
                f"{response.url} still shows a captcha after {attempts} solve(s) "
                f"(VASTCAPTCHA_MAX_ATTEMPTS={self.config.max_attempts})",
            )
        if len(detections) > MAX_CAPTCHAS_PER_PAGE:
            self._inc("failed/TOO_MANY_CAPTCHAS")
            raise CaptchaError(
                "TOO_MANY_CAPTCHAS",
                f"{response.url} shows {len(detections)} captcha widgets; solving more than "
                f"{MAX_CAPTCHAS_PER_PAGE} for one page is refused (describe the right one in "
                'meta["vastcaptcha"])',
            )
        captchas = [self._with_defaults(d.captcha) for d in detections]
        for captcha in captchas:
            self._inc(f"detected/{captcha.kind}")
            self.crawler.signals.send_catch_log(
                vc_signals.captcha_detected, request=request, response=response, captcha=captcha
            )
        try:
            assert isinstance(response, HtmlResponse)
            plan = plan_form(response, captchas, detections[0].form, spec.form)
            image_url = self._image_url(response, spec)
        except VastCaptchaError as exc:
            raise self._refused(exc) from exc
        if not state:
            # Remember what the user asked for: the resubmission's meta is ours.
            state = {"attempts": 0, "spec": meta.get(META_KEY)}
            request = request.replace(meta={**meta, STATE_KEY: state})
        return self._park(request, captchas, plan, response.url, image_url)

    def _refused(self, exc: VastCaptchaError) -> CaptchaError:
        """``exc`` as the errback will get it, counted under its code."""
        self._inc(f"failed/{error_code(exc)}")
        return exc if isinstance(exc, CaptchaError) else CaptchaError(error_code(exc), str(exc))

    # -- detection ------------------------------------------------------------

    def _resubmittable(self, response: Response, found: list[Detection]) -> list[Detection]:
        """The detected captchas of the first form holding one. A widget in no
        form cannot be answered by resubmitting anything: the response goes to
        the callback as it is (nothing is spent), counted and logged."""
        in_forms = [d for d in found if d.form is not None]
        if found and not in_forms:
            self._inc("no_form")
            logger.warning(
                "%s shows a %s widget in no form: passed to the callback unsolved "
                '(name the form in meta["vastcaptcha"]["form"], or solve it in a browser)',
                response.url,
                found[0].captcha.kind,
            )
        return [d for d in in_forms if d.form == in_forms[0].form]

    def _find(self, response: Response, spec: Spec, first: bool) -> list[Detection]:
        if spec.kind is not None:
            if not isinstance(response, HtmlResponse):
                raise CaptchaError(
                    "NOT_HTML", f"{response.url} is not an HTML page: no form to fill"
                )
            present = first or (
                bool(response.css(spec.image))
                if spec.image
                else spec.captcha_options.get("sitekey", "") in response.text
            )
            if not present:
                return []
            form = None if spec.form else _form_of(response, spec)
            return [Detection(spec.captcha(response.url), form)]
        if not isinstance(response, HtmlResponse) or not might_have_captcha(response.body):
            return []
        found = detect(response.selector, response.url, self.config.detect)
        if spec.fields:
            found = [Detection(_with_fields(d.captcha, spec.fields), d.form) for d in found]
        return found

    def _image_url(self, response: HtmlResponse, spec: Spec) -> str | None:
        if spec.kind != "image":
            return None
        assert spec.image is not None
        src = response.css(spec.image).attrib.get("src")
        if not src:
            raise CaptchaError("NO_IMAGE", f"no <img src> matches {spec.image!r} on {response.url}")
        return response.urljoin(src)

    # -- parking and solving --------------------------------------------------

    def _park(
        self,
        request: Request,
        captchas: list[Captcha],
        plan: FormPlan,
        referer: str,
        image_url: str | None,
    ) -> Request:
        state = request.meta[STATE_KEY]
        job = _Job(
            request=request,
            captchas=captchas,
            plan=plan,
            referer=referer,
            attempts=state["attempts"] + 1,
            user_agent=self._user_agent(request),
            proxy=request.meta.get(PROXY_KEY) if self._forward_proxy(request.meta) else None,
            image_url=image_url,
        )
        job_id = self._launch(job)
        return request.replace(meta={**request.meta, PARKED_KEY: job_id}, dont_filter=True)

    def _launch(self, job: _Job) -> int:
        job_id = next(self._ids)
        self._jobs[job_id] = job
        self._inc("attempts")
        if self._summary is not None and not self._summary.running:
            self._summary.start(self.config.log_interval, now=False)
        job.deferred = defer.Deferred.fromCoroutine(self._run(job_id, job))
        return job_id

    def _request_scheduled(self, request: Request, **kwargs: Any) -> None:
        if PARKED_KEY in request.meta:
            raise IgnoreRequest("parked while its captcha is solved")

    async def _run(self, job_id: int, job: _Job) -> None:
        try:
            if self._fatal is not None:
                raise self._fatal
            solves = [self._solve(job, captcha) for captcha in job.captchas]
            try:
                results: list[SolveResult] = await defer.gatherResults(solves, consumeErrors=True)
            finally:
                # One failure fails the form: stop paying for its siblings.
                for solve in solves:
                    if not solve.called:
                        solve.cancel()
        except defer.CancelledError:
            return
        except defer.FirstError as first:
            if first.subFailure.check(defer.CancelledError):
                # Cancelling the job cancels each solve; the first to report
                # it arrives wrapped.
                return
            self._on_failure(job, cast(BaseException, first.subFailure.value))
        except Exception as exc:
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
            image = await self._fetch_image(job) if job.image_url else None
            task = build_task(captcha, image=image, user_agent=job.user_agent, proxy=job.proxy)
            await self._slots.acquire()
            try:
                result = await self._client().solve(task)
            finally:
                self._slots.release()
            self.crawler.signals.send_catch_log(
                vc_signals.captcha_solved, request=job.request, captcha=captcha, result=result
            )
            return result

        return defer.Deferred.fromCoroutine(solve())

    async def _fetch_image(self, job: _Job) -> bytes:
        assert job.image_url is not None
        # Same session as the page (cookie jar, proxy): the picture is bound to it.
        session = {k: job.request.meta[k] for k in _SESSION_META if k in job.request.meta}
        headers = {"Referer": job.referer}
        proxy_auth = job.request.headers.get("Proxy-Authorization")
        if "proxy" in session and proxy_auth:
            # HttpProxyMiddleware moved the credentials here from meta["proxy"].
            headers["Proxy-Authorization"] = proxy_auth.decode("latin-1")
        request = Request(
            job.image_url,
            headers=headers,
            meta={**session, META_KEY: False},
            dont_filter=True,
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
                "IMAGE_DOWNLOAD", f"captcha image {job.image_url} answered {response.status}"
            )
        return response.body

    def _client(self) -> VastCaptchaClient:
        if self.client is None:
            self.client = VastCaptchaClient(
                self.config.api_key,
                self.config.api_url,
                http_timeout=self.config.http_timeout,
                solve_timeout=self.config.timeout,
                poll_interval=self.config.poll_interval,
                on_event=self._on_event,
            )
        return self.client

    def _on_event(self, event: SolveEvent) -> None:
        if event.name == "created":
            self._inc("tasks_created")
        elif event.name == "polled":
            self._inc("polls")
        elif event.name == "retrying":
            self._inc("retries")

    # -- outcomes ---------------------------------------------------------------

    def _on_solved(self, job: _Job, results: list[SolveResult]) -> None:
        self._solved += len(results)
        for captcha, result in zip(job.captchas, results, strict=True):
            self._inc("solved")
            self._inc(f"solved/{captcha.kind}")
            self._inc("solve_ms", int(result.elapsed * 1000))
            logger.info(
                "Solved %s for %s in %.1f s (task %s, %d poll(s), attempt %d)",
                captcha.kind,
                job.referer,
                result.elapsed,
                result.task_id,
                result.polls,
                job.attempts,
            )
        request = job.request
        outcome = _outcome(job, results)
        state = {
            **request.meta[STATE_KEY],
            "attempts": job.attempts,
            "captchas": [c.to_dict() for c in job.captchas],
            "plan": job.plan.to_dict(),
            "referer": job.referer,
            "image_url": job.image_url,
            "token_url": job.plan.url,
            "solved_at": min(r.solved_at for r in results),
            "outcome": outcome,
        }
        meta = {k: v for k, v in request.meta.items() if k != PARKED_KEY}
        meta[STATE_KEY] = state
        resubmission = build_request(
            request,
            job.plan,
            [r.token for r in results],
            meta=meta,
            priority=request.priority + self.config.priority_adjust,
            referer=job.referer,
            user_agent=next((r.solution.user_agent for r in results if r.solution.user_agent), None)
            if job.user_agent
            else None,
        )
        # FormRequest may have put the query in the URL (GET forms).
        state["token_url"] = resubmission.url
        self._crawl(resubmission)

    def _on_failure(self, job: _Job, exc: BaseException) -> None:
        code = error_code(exc)
        self._failed += 1
        self._inc(f"failed/{code}")
        for captcha in job.captchas:
            self.crawler.signals.send_catch_log(
                vc_signals.captcha_failed, request=job.request, captcha=captcha, error=exc
            )
        if isinstance(exc, AccountError):
            self._on_fatal(job, exc)
            return
        if _worth_another_round(exc) and job.attempts < self.config.max_attempts:
            logger.info(
                "Captcha on %s not solved (%s); solving again (round %d of %d)",
                job.referer,
                exc,
                job.attempts + 1,
                self.config.max_attempts,
            )
            self._launch(replace(job, attempts=job.attempts + 1, deferred=None))
            return
        logger.warning("Captcha on %s not solved: %s", job.referer, exc)
        message = exc.message if isinstance(exc, CaptchaError) else str(exc)
        state = {**job.request.meta[STATE_KEY], "failure": {"code": code, "message": message}}
        meta = {k: v for k, v in job.request.meta.items() if k != PARKED_KEY}
        meta[STATE_KEY] = state
        self._crawl(
            job.request.replace(
                meta=meta,
                dont_filter=True,
                priority=job.request.priority + self.config.priority_adjust,
            )
        )

    def _on_fatal(self, job: _Job, exc: AccountError) -> None:
        first = self._fatal is None
        self._fatal = self._fatal or exc
        # Give the request back to the scheduler untouched: with JOBDIR or a
        # shared queue it is kept for a later run on a working account.
        self._requeue(job, keep_state=False)
        if not first:
            return
        reason = f"vastcaptcha_{exc.code.removeprefix('ERROR_').lower()}"
        logger.error(
            "VastCap account error %s (%s): no more captcha tasks will be created; closing "
            "the spider (%s)",
            exc.code,
            exc.description,
            reason,
        )
        for other in list(self._jobs.values()):
            if other is not job:
                self._requeue(other, keep_state=False)
        self._close_spider(reason)

    def _requeue(self, job: _Job, *, keep_state: bool) -> None:
        """Stop ``job``'s solve and hand its request back to the scheduler."""
        if job.deferred is not None:
            job.deferred.cancel()
        drop = (PARKED_KEY,) if keep_state else (PARKED_KEY, STATE_KEY)
        meta = {k: v for k, v in job.request.meta.items() if k not in drop}
        self._crawl(job.request.replace(meta=meta, dont_filter=True))

    def release_pending(self) -> None:
        """Cancel the pending solves and return their requests to the scheduler.

        Called by :class:`PendingSolvesPipeline` while the spider closes, just
        before the scheduler persists its queue: with JOBDIR (or a shared
        Redis queue) a paused crawl resumes with these requests, and solves
        them again rather than sending tokens that went stale meanwhile.
        """
        jobs = list(self._jobs.values())
        for job in jobs:
            self._requeue(job, keep_state=True)
        if jobs:
            self._inc("requeued_at_close", len(jobs))
            logger.info(
                "%d request(s) waiting for a captcha solve returned to the scheduler", len(jobs)
            )

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

    def _spider_opened(self, spider: Spider) -> None:
        self._summary = LoopingCall(self._log_summary)

    def _spider_idle(self, spider: Spider) -> None:
        if self._jobs:
            raise DontCloseSpider(f"{len(self._jobs)} captcha solve(s) pending")

    async def _spider_closed(self, spider: Spider, reason: str) -> None:
        if self._summary is not None and self._summary.running:
            self._summary.stop()
        jobs = list(self._jobs.values())
        for job in jobs:
            if job.deferred is not None:
                job.deferred.cancel()
        if jobs:
            logger.warning("%d captcha solve(s) cancelled at close", len(jobs))
        if self.client is not None:
            await maybe_deferred_to_future(self.client.close())

    def _log_summary(self) -> None:
        if self._jobs:
            logger.info(
                "captchas: %d pending, %d solved, %d failed",
                len(self._jobs),
                self._solved,
                self._failed,
            )

    # -- small helpers --------------------------------------------------------

    def _with_defaults(self, captcha: Captcha) -> Captcha:
        if captcha.kind == "recaptcha-v3" and captcha.min_score is None:
            # Without one the solver may return any score, and sites commonly
            # refuse below 0.5.
            return replace(captcha, min_score=self.config.v3_min_score)
        return captcha

    def _inc(self, name: str, count: int = 1) -> None:
        stats = self.crawler.stats
        assert stats is not None
        stats.inc_value(f"{STATS_PREFIX}/{name}", count)

    def _forward_proxy(self, meta: dict[str, Any]) -> bool:
        spec = meta.get(META_KEY)
        if isinstance(spec, dict) and isinstance(spec.get("forward_proxy"), bool):
            return cast(bool, spec["forward_proxy"])
        return self.config.forward_proxy

    def _user_agent(self, request: Request) -> str | None:
        spec = request.meta.get(META_KEY)
        forward = self.config.forward_user_agent
        if isinstance(spec, dict) and isinstance(spec.get("forward_user_agent"), bool):
            forward = spec["forward_user_agent"]
        if not forward:
            return None
        value = request.headers.get("User-Agent")
        return value.decode("latin-1") if value else None


def _worth_another_round(exc: BaseException) -> bool:
    """Failures a fresh solve round may get past: the service was busy or
    unreachable for longer than the client's retries, or kept failing tasks."""
    if isinstance(exc, (TransportError, SolveTimeoutError)):
        return True
    return isinstance(exc, ApiError) and exc.scope in (Scope.NEW_TASK, Scope.RETRY)


def _outcome(job: _Job, results: list[SolveResult]) -> dict[str, Any]:
    """What ``response.meta["vastcaptcha"]`` tells the callback."""
    first = results[0]
    return {
        "kind": job.captchas[0].kind,
        "task_id": first.task_id,
        "solve_seconds": round(max(r.elapsed for r in results), 3),
        "attempts": job.attempts,
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
            for c, r in zip(job.captchas, results, strict=True)
        ],
    }


def _form_of(response: HtmlResponse, spec: Spec) -> int | None:
    """For an explicit captcha without a form selector: the form holding the
    image or a field of that captcha, else the page's only form."""
    anchors = [*(response.css(spec.image) if spec.image else [])]
    for name in spec.fields:
        anchors += response.xpath("//form//*[@name=$n]", n=name)
    for anchor in anchors[:1]:
        form = anchor.xpath("ancestor::form[1]")
        if form:
            return int(float(form[0].xpath("count(preceding::form)").get() or 0))
    return 0 if len(response.xpath("//form")) == 1 else None


def _with_fields(captcha: Captcha, fields: tuple[str, ...]) -> Captcha:
    return Captcha.from_dict({**captcha.to_dict(), "fields": list(fields)})


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
        engine = self.crawler.engine
        if engine is None:
            return
        for middleware in engine.downloader.middleware.middlewares:
            if isinstance(middleware, VastCaptchaMiddleware):
                middleware.release_pending()

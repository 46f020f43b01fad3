"""The page method: find, solve, and let the page go on past its captchas."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING, TypeVar, cast

from scrapy import Request
from scrapy.utils.defer import maybe_deferred_to_future

from scrapy_vastcaptcha import signals as vc_signals
from scrapy_vastcaptcha.api.client import SolveResult
from scrapy_vastcaptcha.api.errors import (
    CaptchaError,
    SolveTimeoutError,
    VastCaptchaError,
)
from scrapy_vastcaptcha.api.tasks import Task
from scrapy_vastcaptcha.captcha import Captcha
from scrapy_vastcaptcha.meta import META_KEY, Spec, parse_spec
from scrapy_vastcaptcha.scrapy_playwright.report import (
    BrowserReport,
    Round,
    browser_proxy,
    helper_options,
)
from scrapy_vastcaptcha.scrapy_playwright.sessions import BrowserSessions
from scrapy_vastcaptcha.scrapy_playwright.watch import LOAD_TIMEOUT, PageWatch, owning_frames
from scrapy_vastcaptcha.stops import stops_the_run

if TYPE_CHECKING:
    from playwright.async_api import Page

    from scrapy_vastcaptcha.middleware import VastCaptchaMiddleware
    from scrapy_vastcaptcha.playwright import CaptchaResult
    from scrapy_vastcaptcha.playwright.flow import Options, PageScan
    from scrapy_vastcaptcha.playwright.steps import Flow, SolveAll

__all__ = ["PageSolver"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: Private meta key of the page method's report (gone before the callback).
REPORT_KEY = "_vastcaptcha_browser"

#: Seconds a page may take to render a captcha it declares (or that
#: ``meta["vastcaptcha"]["kind"]`` says it has) before it is given up on.
RENDER_WAIT = 10.0
#: Seconds a page whose widget callback was fired has to start submitting by
#: itself before its form is submitted for it.
CALLBACK_GRACE = 3.0
#: Seconds a submitted form has to start a navigation (a v3 submit handler
#: asks for its token first).
SUBMIT_GRACE = 10.0

# The form a widget belongs to, in the frame that owns it: the one the request
# names, else the form of a field the token went into, else the form holding a
# widget, else the frame's only form. Returns its submit button, or the form
# itself when it has none. Selectors and field names come as arguments.
_FORM_SCRIPT = """({form, fields}) => {
  let target = form ? document.querySelector(form) : null;
  for (const name of fields) {
    if (target) break;
    for (const el of document.getElementsByName(name)) {
      if (el.form) { target = el.form; break; }
    }
  }
  if (!target) {
    const widget = document.querySelector(
      "[data-sitekey], .g-recaptcha, .h-captcha, .cf-turnstile");
    target = widget ? widget.closest("form") : null;
  }
  if (!target && document.forms.length === 1) target = document.forms[0];
  if (!target) return null;
  const button = target.querySelector(
    "button[type=submit], input[type=submit], input[type=image], button:not([type])");
  return button || target;
}"""


class PageSolver:
    """The page method: gets a page past its captchas, counting and signalling
    as the middleware does."""

    def __init__(self, middleware: VastCaptchaMiddleware) -> None:
        self.middleware = middleware
        self._sessions = BrowserSessions(middleware.analysis, middleware.config.session_challenges)
        # Scrapy builds its middlewares in the reactor's thread.
        self._reactor_thread = threading.get_ident()

    # -- in the page ---------------------------------------------------------

    async def solve_page(self, page: Page, request: Request) -> None:
        """The page method: get the page past its captchas (never raises)."""
        if threading.get_ident() != self._reactor_thread:
            # scrapy-playwright runs Playwright in a thread of its own (on
            # Windows); the crawl's client, stats and signals live in the
            # reactor's. Without a report the middleware solves from the HTML.
            return
        report = BrowserReport()
        request.meta[REPORT_KEY] = report
        watch = PageWatch(page)
        try:
            spec = parse_spec(request.meta.get(META_KEY))
            assert spec is not None
            await self._rounds(page, request, spec, report, watch)
        except VastCaptchaError as exc:
            report.error = self._failed(request, [], exc)
        except Exception as exc:
            logger.exception("Solving the captchas of %s in the page failed", page.url)
            report.error = self._failed(request, [], exc)
        finally:
            watch.close()
        last = watch.last_response
        if last is not None:
            try:
                headers = await last.all_headers()
            except Exception:
                headers = {}
            headers.pop("content-encoding", None)
            report.status, report.headers = last.status, headers

    async def _rounds(
        self,
        page: Page,
        request: Request,
        spec: Spec,
        report: BrowserReport,
        watch: PageWatch,
    ) -> None:
        from playwright.async_api import Error as PlaywrightError

        # imported here: the middleware imports this package
        from scrapy_vastcaptcha.middleware import worth_another_round

        config = self.middleware.config
        started = time.monotonic()
        # Only a request that says its page has a captcha waits for one to appear.
        wait = RENDER_WAIT if spec.kind else 0.0
        leading: str | None = None
        waited: str | None = None
        reloaded: str | None = None
        passed = False
        try:
            while True:
                left = config.timeout - (time.monotonic() - started)
                options = self._options(request, spec, wait=wait, timeout=max(left, 1.0))
                scan = await self._find(page, request, options)
                found = scan.found
                if not found:
                    if wait and not report.rounds:
                        logger.warning(
                            'meta["vastcaptcha"] says %s shows a %s captcha; none appeared '
                            "within %g s, so the page goes to the callback as it is",
                            page.url,
                            spec.kind,
                            wait,
                        )
                    passed = True
                    return
                wait = 0.0
                captchas = [item.captcha for item in found]
                snapshot = await watch.snapshot(request)
                self.middleware.record_detected(request, snapshot, captchas)
                report.error = self._over_bounds(request, captchas, len(report.rounds), left)
                if report.error is not None:
                    return
                if leading is None:
                    key, evident = self._sessions.assess(request, snapshot, spec, captchas)
                    if self._sessions.passed(key) and reloaded != key:
                        # Loaded before another page passed it: the clearance is here now.
                        reloaded = key
                        with contextlib.suppress(PlaywrightError):
                            await page.reload(timeout=LOAD_TIMEOUT * 1000)
                        continue
                    if waited == key and self._sessions.learn_per_request(key):
                        self.middleware.count("per_request_challenges")
                        logger.info(
                            "The challenge on %s is solved per page, not per browser "
                            "session: a page that waited for it to be passed met it again",
                            page.url,
                        )
                    decision = self._sessions.decide(key, page.url, evident)
                    if decision == "wait":
                        self.middleware.count("coalesced")
                        waited = key
                        woken = await self._sessions.wait(key, left)
                        if woken == "released":
                            # Passed in another page: this one has the clearance now.
                            reloaded = key
                            with contextlib.suppress(PlaywrightError):
                                await page.reload(timeout=LOAD_TIMEOUT * 1000)
                            continue
                        decision = "lead" if woken == "promoted" else "own"
                    if decision == "lead":
                        leading = key
                this = Round(len(report.rounds) + 1, captchas)
                report.rounds.append(this)
                if not await self._solve_round(page, request, spec, this, scan, options, watch):
                    return
                if this.failure is not None:
                    report.error = self._failed(request, this.captchas, this.failure)
                    spent = time.monotonic() - started >= config.timeout
                    if (
                        not worth_another_round(this.failure)
                        or len(report.rounds) >= config.max_attempts
                        or spent
                    ):
                        return
                    report.error = None
        finally:
            if leading is not None:
                # Passed: the others reload; otherwise one of them solves it.
                self._sessions.settle(leading, passed=passed)

    def _over_bounds(
        self, request: Request, captchas: list[Captcha], rounds: int, left: float
    ) -> CaptchaError | None:
        """Why no other round may start, if none may."""
        config = self.middleware.config
        if rounds >= config.max_attempts:
            return self._gave_up(
                request,
                captchas,
                f"{request.url} still shows a captcha after {rounds} solve round(s) in the "
                f"page (VASTCAPTCHA_MAX_ATTEMPTS={config.max_attempts})",
            )
        if left <= 0:
            return self._gave_up(
                request,
                captchas,
                f"{request.url}: {config.timeout:g} s spent solving its captchas "
                "(VASTCAPTCHA_TIMEOUT)",
                code="SOLVE_TIMEOUT",
            )
        return None

    def _options(self, request: Request, spec: Spec, *, wait: float, timeout: float) -> Options:
        """What the helper's flows are told for one round, from the request's
        ``meta["vastcaptcha"]`` and the settings."""
        from scrapy_vastcaptcha.playwright.flow import Options

        config = self.middleware.config
        forward_ua = config.forward_user_agent
        if spec.forward_user_agent is not None:
            forward_ua = spec.forward_user_agent
        forward_proxy = config.forward_proxy if spec.forward_proxy is None else spec.forward_proxy
        proxy = None
        if forward_proxy:
            proxy = browser_proxy(request.meta, self.middleware.crawler.settings)
        return Options.build(
            timeout=timeout,
            wait=wait,
            raise_on_error=False,
            forward_user_agent=forward_ua,
            proxy=proxy,
            **helper_options(spec, config),
        )

    async def _find(self, page: Page, request: Request, options: Options) -> PageScan:
        """The captchas to solve in the page: looked for up to ``options.wait``
        seconds; once found, given up to :data:`RENDER_WAIT` to render."""
        from scrapy_vastcaptcha.playwright import translate

        scan = await _scan(page, request, options)
        if scan.found and not translate.settled(scan.found) and options.wait < RENDER_WAIT:
            rendering = replace(options, wait=min(RENDER_WAIT, options.left()))
            scan = await _scan(page, request, rendering)
        return scan

    async def _solve_round(
        self,
        page: Page,
        request: Request,
        spec: Spec,
        this: Round,
        scan: PageScan,
        options: Options,
        watch: PageWatch,
    ) -> bool:
        """Solve ``this`` round (the widgets of ``scan``) and let the page go
        on; whether to look at the page again (it navigated, or the round failed)."""
        from scrapy_vastcaptcha.playwright import flow
        from scrapy_vastcaptcha.playwright.solving import solve_all

        self.middleware.count("attempts")
        client = RecordingClient(self.middleware, this.solves, options.deadline)
        watch.arm()
        this.results = await _run(
            flow.solve_found(page, scan, options), partial(solve_all, client), options
        )
        self._solved(request, this)
        if this.failure is not None:
            return True
        if not this.results:
            return False
        return await self._go_on(page, spec, this.results, watch)

    async def _go_on(
        self, page: Page, spec: Spec, results: Sequence[CaptchaResult], watch: PageWatch
    ) -> bool:
        """Let the page continue past its solved captchas; whether it navigated
        (only then can it show a new captcha worth another round)."""
        from playwright.async_api import Error as PlaywrightError

        frames = owning_frames(page, results)
        # A framed widget's page may go on in the top window.
        watched = [*frames, page.main_frame]
        if any(r.callback_fired for r in results) and await watch.navigation(
            watched, CALLBACK_GRACE
        ):
            return True
        fields = [name for r in results for name in r.fields]
        for frame in frames:
            try:
                handle = await frame.evaluate_handle(
                    _FORM_SCRIPT, {"form": spec.form, "fields": fields}
                )
                element = handle.as_element()
                if element is None:
                    continue
                tag = await element.evaluate("el => el.tagName")
                if tag == "FORM":
                    await element.evaluate("form => form.requestSubmit()")
                else:
                    await element.click(timeout=SUBMIT_GRACE * 1000)
            except PlaywrightError as exc:
                if "context was destroyed" not in exc.message.lower():
                    logger.warning("Could not submit the captcha form of %s: %s", frame.url, exc)
                    continue
            return await watch.navigation(watched, SUBMIT_GRACE)
        logger.warning(
            "%s: the captcha was solved in the page but no form was found to submit "
            '(name it in meta["vastcaptcha"]["form"])',
            page.url,
        )
        self.middleware.count("no_form")
        return False

    # -- stats and signals, as the middleware counts them ---------------------

    def _solved(self, request: Request, this: Round) -> None:
        for result in this.results:
            solve = this.solves.get(result.task_id or "")
            if result.error is not None or solve is None:
                continue
            self.middleware.record_solved(result.kind, solve)
            self.middleware.crawler.signals.send_catch_log(
                vc_signals.captcha_solved, request=request, captcha=result.captcha, result=solve
            )
            logger.info(
                "Solved %s in the page %s in %.1f s (task %s, %d poll(s), round %d)",
                result.kind,
                result.frame.url,
                solve.elapsed,
                solve.task_id,
                solve.polls,
                this.number,
            )

    def _failed(
        self, request: Request, captchas: list[Captcha], exc: BaseException
    ) -> CaptchaError:
        code = self.middleware.record_failed(request, captchas, exc)
        if stops_the_run(exc):
            self.middleware.stop_run(cast(VastCaptchaError, exc))
        logger.warning("Captcha of %s not solved in the page: %s", request.url, exc)
        message = exc.message if isinstance(exc, CaptchaError) else str(exc)
        return CaptchaError(code, message)

    def _gave_up(
        self, request: Request, captchas: list[Captcha], message: str, code: str = "MAX_ATTEMPTS"
    ) -> CaptchaError:
        self.middleware.count("gave_up")
        return self._failed(request, captchas, CaptchaError(code, message))


async def _scan(page: Page, request: Request, options: Options) -> PageScan:
    """One :func:`~scrapy_vastcaptcha.playwright.flow.find` of the widgets the
    request's callback can get past."""
    from scrapy_vastcaptcha.playwright import flow

    scan = await _run(flow.find(page, options), None, options)
    if request.meta.get("playwright_include_page"):
        return scan
    # The callback gets the top document's HTML, not its frames': a framed
    # page's captcha guards content the callback never sees. A spider that
    # wants it follows the frame, and the captcha is paid for there, once.
    return replace(scan, found=[item for item in scan.found if item.frame == page.main_frame])


async def _run(job: Flow[T], solve: SolveAll | None, options: Options) -> T:
    """Run a helper flow in the page, within the round's deadline."""
    from scrapy_vastcaptcha.playwright.steps import run_async_until

    return await run_async_until(job, solve, options.deadline, "VASTCAPTCHA_TIMEOUT")


class RecordingClient:
    """The helper's client: the middleware's solves, each result kept by task id."""

    def __init__(
        self, middleware: VastCaptchaMiddleware, into: dict[str, SolveResult], deadline: float
    ) -> None:
        self._middleware = middleware
        self._into = into
        self._deadline = deadline

    async def solve_async(self, task: Task) -> SolveResult:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise SolveTimeoutError("VASTCAPTCHA_TIMEOUT spent before the task was created")
        result = await maybe_deferred_to_future(self._middleware.solve_task(task, timeout=left))
        self._into[result.task_id] = result
        return result

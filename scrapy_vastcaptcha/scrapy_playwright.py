"""Captchas of pages rendered by scrapy-playwright, solved in the live page.

With the add-on enabled, a request with ``meta["playwright"] = True`` gets
two things from :class:`~scrapy_vastcaptcha.VastCaptchaMiddleware` before it
is downloaded, both through scrapy-playwright's own extension points:

* its ``playwright_page_init_callback`` is wrapped so that the helper's init
  script (:func:`~scrapy_vastcaptcha.playwright.install_hooks`) is on the page
  before the page's scripts run; the request's own callback still runs after;
* a :class:`~scrapy_playwright.page.PageMethod` holding a callable goes first
  in its ``playwright_page_methods``. scrapy-playwright awaits page methods
  after the navigation and before it reads the page's HTML, so the page that
  reaches the callback is the page after the captcha.

That page method finds the captchas of the page and of every frame, solves
them with :func:`~scrapy_vastcaptcha.playwright.solve_captchas` on the
middleware's client (one client per crawl, under its budget gate and
``VASTCAPTCHA_MAX_CONCURRENT``), and then lets the page go on the way it goes
on for a person: a widget callback that was fired submits by itself; otherwise
the widget's form is submitted by clicking its submit button, so that the
page's submit handlers run (a v3 page asking ``grecaptcha.execute`` at submit
time gets the solved token). When the site answers with a captcha again, the
page is solved again, up to ``VASTCAPTCHA_MAX_ATTEMPTS`` rounds.

What happened is left in the request's meta as a :class:`BrowserReport`; the
middleware turns it into ``response.meta["vastcaptcha"]`` (or a
:class:`~scrapy_vastcaptcha.CaptchaError` for the errback) and gives the
response the status of the page's last navigation (a challenge page answers
403; the page after it, 200).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from scrapy import Request
from scrapy.http import HtmlResponse, Response
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.misc import load_object

from scrapy_vastcaptcha import signals as vc_signals
from scrapy_vastcaptcha.analysis import AnalysisConfig, Verdict, analyse
from scrapy_vastcaptcha.api.client import SolveResult
from scrapy_vastcaptcha.api.errors import (
    CaptchaError,
    Scope,
    SolveTimeoutError,
    VastCaptchaError,
    error_code,
)
from scrapy_vastcaptcha.api.tasks import Task
from scrapy_vastcaptcha.captcha import Captcha
from scrapy_vastcaptcha.meta import META_KEY, Spec, parse_spec
from scrapy_vastcaptcha.sessions import (
    Evidence,
    SharedChallenges,
    challenge_key,
    declared_or_evident,
)

if TYPE_CHECKING:
    from playwright.async_api import Frame, Page
    from playwright.async_api import Request as PlaywrightRequest
    from playwright.async_api import Response as PlaywrightResponse

    from scrapy_vastcaptcha.config import MiddlewareConfig
    from scrapy_vastcaptcha.middleware import VastCaptchaMiddleware
    from scrapy_vastcaptcha.playwright import CaptchaResult

__all__ = [
    "MIN_SCRAPY_PLAYWRIGHT",
    "BrowserReport",
    "BrowserSolving",
    "browser_solving",
    "page_form_headers",
]

logger = logging.getLogger(__name__)

#: The first scrapy-playwright release whose PageMethod takes a callable (0.0.42).
MIN_SCRAPY_PLAYWRIGHT = (0, 0, 42)

#: Private meta keys, gone again when the response reaches the callback: the
#: page method's report, and the request's own values of the keys we replace.
REPORT_KEY = "_vastcaptcha_browser"
SAVED_KEY = "_vastcaptcha_saved"
_REPLACED = ("playwright_page_methods", "playwright_page_init_callback")

#: Seconds a page may take to render a captcha it declares (or that
#: ``meta["vastcaptcha"]["kind"]`` says it has) before it is given up on.
RENDER_WAIT = 10.0
#: Seconds a page whose widget callback was fired has to start submitting by
#: itself before its form is submitted for it.
CALLBACK_GRACE = 3.0
#: Seconds a submitted form has to start a navigation (a v3 submit handler
#: asks for its token first).
SUBMIT_GRACE = 10.0
#: Seconds a started navigation has to load.
LOAD_TIMEOUT = 30.0

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


# The status of the document's own response (Navigation Timing; 0 where unknown).
_STATUS_SCRIPT = """() => {
  const entry = performance.getEntriesByType("navigation")[0];
  return entry && entry.responseStatus ? entry.responseStatus : 0;
}"""


def scrapy_playwright_version() -> tuple[int, ...] | None:
    """The installed scrapy-playwright's version, or ``None`` when it is not installed."""
    try:
        text = version("scrapy-playwright")
    except PackageNotFoundError:
        return None
    parts = []
    for piece in text.split("."):
        digits = "".join(c for c in piece if c.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def browser_solving(middleware: VastCaptchaMiddleware) -> BrowserSolving | None:
    """In-page solving for ``middleware``'s crawl, when scrapy-playwright
    (0.0.42 or later) and Playwright are installed."""
    found = scrapy_playwright_version()
    if found is None:
        return None
    if found < MIN_SCRAPY_PLAYWRIGHT:
        logger.warning(
            "scrapy-playwright %s takes no callable page methods: captchas of rendered "
            "pages are solved by resubmitting their form, not in the page (upgrade to "
            "scrapy-playwright >= %s for that)",
            ".".join(map(str, found)),
            ".".join(map(str, MIN_SCRAPY_PLAYWRIGHT)),
        )
        return None
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return None
    return BrowserSolving(middleware)


@dataclass
class Round:
    """One solve round in the page: what was found and how each fared."""

    number: int
    captchas: list[Captcha]
    results: list[CaptchaResult] = field(default_factory=list)
    solves: dict[str, SolveResult] = field(default_factory=dict)

    @property
    def failure(self) -> Exception | None:
        """The first captcha's error, if one failed."""
        return next((r.error for r in self.results if r.error is not None), None)


@dataclass
class BrowserReport:
    """What the page method did, for the middleware to report.

    ``status`` and ``headers`` are those of the main frame's last navigation
    after the captcha (``None`` when it did not navigate); ``error`` is the
    failure to hand to the errback.
    """

    rounds: list[Round] = field(default_factory=list)
    error: CaptchaError | None = None
    status: int | None = None
    headers: dict[str, str] | None = None

    def outcome_parts(self) -> tuple[list[Captcha], list[SolveResult]] | None:
        """The captchas of the last round and their solves, when it solved them all."""
        if not self.rounds or self.error is not None:
            return None
        last = self.rounds[-1]
        solves = [last.solves.get(r.task_id or "") for r in last.results]
        if not last.results or any(s is None for s in solves):
            return None
        return [r.captcha for r in last.results], [s for s in solves if s is not None]


async def page_form_headers(
    *,
    browser_type_name: str,
    playwright_request: PlaywrightRequest,
    scrapy_request_data: dict[str, Any],
) -> dict[str, str]:
    """``PLAYWRIGHT_PROCESS_REQUEST_HEADERS`` that the add-on sets (unless set):
    scrapy-playwright's default, except that a form the page itself posts
    keeps its ``Content-Type``.

    The default gives every navigation the Scrapy request's headers, so the
    ``POST`` of a form submitted in the page (after its captcha) would reach
    the site without saying how its body is encoded.
    """
    from scrapy_playwright.headers import use_scrapy_headers  # type: ignore[import-untyped]

    headers: dict[str, str] = await use_scrapy_headers(
        browser_type_name=browser_type_name,
        playwright_request=playwright_request,
        scrapy_request_data=scrapy_request_data,
    )
    if not playwright_request.is_navigation_request() or playwright_request.post_data is None:
        return headers
    same_request = playwright_request.method.upper() == str(
        scrapy_request_data["method"]
    ).upper() and playwright_request.url.rstrip("/") == str(scrapy_request_data["url"]).rstrip("/")
    if same_request and any(name.lower() == "content-type" for name in headers):
        return headers
    content_type = await playwright_request.header_value("content-type")
    if content_type:
        headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
        headers["content-type"] = content_type
    return headers


class BrowserSolving:
    """The middleware's side of in-page solving; see the module docstring."""

    def __init__(self, middleware: VastCaptchaMiddleware) -> None:
        self.middleware = middleware
        self._hooked: weakref.WeakSet[Page] = weakref.WeakSet()
        self._sessions = _BrowserSessions(middleware.config)
        # Scrapy builds its middlewares in the reactor's thread.
        self._reactor_thread = threading.get_ident()

    # -- before the download -------------------------------------------------

    def prepare(self, request: Request) -> None:
        """Give a ``playwright`` request the init hook and the solving page method."""
        meta = request.meta
        if not meta.get("playwright") or meta.get(META_KEY) is False:
            return
        from scrapy_playwright.page import PageMethod  # type: ignore[import-untyped]

        self.forget(request)  # a copy (a retry) may carry the last attempt's entries
        meta[SAVED_KEY] = {key: meta[key] for key in _REPLACED if key in meta}
        ours = PageMethod(self._solve_page, request)
        methods = meta.get("playwright_page_methods")
        if not methods:
            meta["playwright_page_methods"] = [ours]
        elif isinstance(methods, dict):
            meta["playwright_page_methods"] = {META_KEY: ours, **methods}
        else:
            meta["playwright_page_methods"] = [ours, *methods]
        meta["playwright_page_init_callback"] = self._init_page

    async def _init_page(self, page: Page, request: Request) -> None:
        from scrapy_vastcaptcha.playwright import install_hooks

        if page not in self._hooked:
            await install_hooks(page)
            self._hooked.add(page)
        user = request.meta.get(SAVED_KEY, {}).get("playwright_page_init_callback")
        if user:
            callback: Callable[[Page, Request], Awaitable[Any]] = load_object(user)
            await callback(page, request)

    # -- after the download --------------------------------------------------

    def finish(self, request: Request, response: Response) -> Response | None:
        """The response for the callback (``None``: the page method never ran,
        e.g. the request was not downloaded by scrapy-playwright). Raises the
        :class:`CaptchaError` of a page that could not be got past."""
        report = self.forget(request)
        if report is None:
            return None
        if report.error is not None:
            raise report.error
        if report.status is not None and report.status != response.status:
            response = response.replace(status=report.status, headers=report.headers)
        parts = report.outcome_parts()
        if parts is not None:
            from scrapy_vastcaptcha.middleware import outcome

            captchas, solves = parts
            request.meta[META_KEY] = outcome(captchas, len(report.rounds), solves)
        return response

    def forget(self, request: Request) -> BrowserReport | None:
        """Give the request its own page methods and init callback back; the report."""
        meta = request.meta
        saved = meta.pop(SAVED_KEY, None)
        if saved is not None:
            for key in _REPLACED:
                if key in saved:
                    meta[key] = saved[key]
                else:
                    meta.pop(key, None)
        report = meta.pop(REPORT_KEY, None)
        return report if isinstance(report, BrowserReport) else None

    # -- in the page ---------------------------------------------------------

    async def _solve_page(self, page: Page, request: Request) -> None:
        """The page method: get the page past its captchas (never raises)."""
        if threading.get_ident() != self._reactor_thread:
            # scrapy-playwright runs Playwright in a thread of its own (on
            # Windows); the crawl's client, stats and signals live in the
            # reactor's. Without a report the middleware solves from the HTML.
            return
        report = BrowserReport()
        request.meta[REPORT_KEY] = report
        watch = _PageWatch(page)
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
        watch: _PageWatch,
    ) -> None:
        from playwright.async_api import Error as PlaywrightError

        from scrapy_vastcaptcha.playwright import find_captchas

        config = self.middleware.config
        options = _helper_options(spec, config)
        started = time.monotonic()
        # Only a request that says its page has a captcha waits for one to appear.
        wait = RENDER_WAIT if spec.kind else 0.0
        leading: str | None = None
        waited: str | None = None
        passed = False
        try:
            while True:
                left = config.timeout - (time.monotonic() - started)
                found = await find_captchas(page, wait=wait, timeout=max(left, 1.0), **options)
                wait = 0.0
                if not found:
                    passed = True
                    return
                captchas = [item.captcha for item in found]
                snapshot = await watch.snapshot(request)
                self._detected(request, snapshot, captchas)
                report.error = self._over_bounds(request, captchas, len(report.rounds), left)
                if report.error is not None:
                    return
                if leading is None:
                    key, evident = self._sessions.assess(request, snapshot, spec, captchas)
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
                            with contextlib.suppress(PlaywrightError):
                                await page.reload(timeout=LOAD_TIMEOUT * 1000)
                            continue
                        decision = "lead" if woken == "promoted" else "own"
                    if decision == "lead":
                        leading = key
                this = Round(len(report.rounds) + 1, captchas)
                report.rounds.append(this)
                if not await self._solve_round(page, request, spec, this, options, started, watch):
                    return
                if this.failure is not None:
                    report.error = self._failed(request, this.captchas, this.failure)
                    spent = time.monotonic() - started >= config.timeout
                    if (
                        not _worth_another_round(this.failure)
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

    async def _solve_round(
        self,
        page: Page,
        request: Request,
        spec: Spec,
        this: Round,
        options: dict[str, Any],
        started: float,
        watch: _PageWatch,
    ) -> bool:
        """Solve ``this`` round and let the page go on; whether to look at the
        page again (it navigated, or the round failed)."""
        from scrapy_vastcaptcha.playwright import solve_captchas

        config = self.middleware.config
        self.middleware.count("attempts")
        deadline = started + config.timeout
        forward_ua = config.forward_user_agent
        if spec.forward_user_agent is not None:
            forward_ua = spec.forward_user_agent
        watch.arm()
        this.results = await solve_captchas(
            page,
            client=_RecordingClient(self.middleware, this.solves, deadline),
            wait=RENDER_WAIT,
            timeout=max(deadline - time.monotonic(), 1.0),
            raise_on_error=False,
            forward_user_agent=forward_ua,
            **options,
        )
        if this.results:
            this.captchas = [result.captcha for result in this.results]
        self._solved(request, this)
        if this.failure is not None:
            return True
        if not this.results:
            return False  # gone meanwhile
        return await self._go_on(page, spec, this.results, watch)

    async def _go_on(
        self, page: Page, spec: Spec, results: Sequence[CaptchaResult], watch: _PageWatch
    ) -> bool:
        """Let the page continue past its solved captchas; whether it navigated
        (only then can it show a new captcha worth another round)."""
        from playwright.async_api import Error as PlaywrightError

        frames = _owning_frames(page, results)
        if any(r.callback_fired for r in results) and await watch.navigation(
            frames, CALLBACK_GRACE
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
            return await watch.navigation(frames, SUBMIT_GRACE)
        logger.warning(
            "%s: the captcha was solved in the page but no form was found to submit "
            '(name it in meta["vastcaptcha"]["form"])',
            page.url,
        )
        self.middleware.count("no_form")
        return False

    # -- stats and signals, as the middleware counts them ---------------------

    def _signal(self, signal: object, **kwargs: Any) -> None:
        self.middleware.crawler.signals.send_catch_log(signal, **kwargs)

    def _detected(self, request: Request, response: Response, captchas: list[Captcha]) -> None:
        for captcha in captchas:
            self.middleware.count(f"detected/{captcha.kind}")
            self._signal(
                vc_signals.captcha_detected, request=request, response=response, captcha=captcha
            )

    def _solved(self, request: Request, this: Round) -> None:
        for result in this.results:
            solve = this.solves.get(result.task_id or "")
            if result.error is not None or solve is None:
                continue
            self.middleware.count("solved")
            self.middleware.count(f"solved/{result.kind}")
            self.middleware.count("solve_ms", int(solve.elapsed * 1000))
            self._signal(
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
        code = error_code(exc)
        self.middleware.count(f"failed/{code}")
        for captcha in captchas:
            self._signal(vc_signals.captcha_failed, request=request, captcha=captcha, error=exc)
        if isinstance(exc, VastCaptchaError) and exc.scope is Scope.RUN:
            self.middleware.stop_run(exc)
        logger.warning("Captcha of %s not solved in the page: %s", request.url, exc)
        message = exc.message if isinstance(exc, CaptchaError) else str(exc)
        return CaptchaError(code, message)

    def _gave_up(
        self, request: Request, captchas: list[Captcha], message: str, code: str = "MAX_ATTEMPTS"
    ) -> CaptchaError:
        self.middleware.count("gave_up")
        return self._failed(request, captchas, CaptchaError(code, message))


class _BrowserSessions:
    """Session-wide challenges met by several pages of one browser context.

    The rules of :mod:`~scrapy_vastcaptcha.sessions`, with the browser
    context (``meta["playwright_context"]``) as the session: the first page
    solves the challenge, the others wait for it (costing nothing) and then
    reload, carrying the clearance cookie the context now holds.
    """

    def __init__(self, config: MiddlewareConfig) -> None:
        self._config = config
        self._analysis = AnalysisConfig(detect=config.detect, v3_min_score=config.v3_min_score)
        self._shared: SharedChallenges[asyncio.Future[str]] = SharedChallenges()

    def assess(
        self, request: Request, snapshot: HtmlResponse, spec: Spec, captchas: list[Captcha]
    ) -> tuple[str, bool | None]:
        """The challenge's key and whether the page shows it is session-wide."""
        plan = analyse(snapshot, spec, None, self._analysis)
        form = plan.form if plan.verdict is Verdict.SOLVE else None
        headers = {
            name.decode("latin-1").lower(): values[0].decode("latin-1")
            for name, values in snapshot.headers.items()
            if values
        }
        evidence = Evidence(
            url=snapshot.url,
            status=snapshot.status,
            headers=headers,
            jar=request.meta.get("playwright_context"),
            declared=spec.session_wide,
        )
        evident = declared_or_evident(evidence, form, self._config.session_challenges)
        return challenge_key(evidence, captchas, form), evident

    def learn_per_request(self, key: str) -> bool:
        return self._shared.learn_per_request(key)

    def decide(self, key: str, url: str, evident: bool | None) -> str:
        """``"lead"``, ``"wait"`` or ``"own"``, as :meth:`SharedChallenges.decide`."""
        return self._shared.decide(key, url, evident)

    async def wait(self, key: str, seconds: float) -> str:
        """Wait for the leader: ``"released"`` (it passed), ``"promoted"`` (it
        failed: solve for the others) or ``"timeout"``."""
        woken: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._shared.wait(key, woken)
        try:
            return await asyncio.wait_for(asyncio.shield(woken), max(seconds, 0.0))
        except asyncio.TimeoutError:
            return "timeout"

    def settle(self, key: str, *, passed: bool) -> None:
        """The leader is done with the challenge."""
        if passed:
            for woken in self._shared.release(key):
                if not woken.done():
                    woken.set_result("released")
            return
        while True:
            waiting = self._shared.promote(key)
            if waiting is None:
                return
            if not waiting.done():  # one that timed out solves on its own
                waiting.set_result("promoted")
                return


class _RecordingClient:
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


class _PageWatch:
    """Navigations of a page's frames since :meth:`arm`, and the main frame's last answer."""

    def __init__(self, page: Page) -> None:
        self._page = page
        self._requested: list[Frame] = []
        self._committed: list[Frame] = []
        self._changed = asyncio.Event()
        self.last_response: PlaywrightResponse | None = None
        page.on("request", self._on_request)
        page.on("response", self._on_response)
        page.on("framenavigated", self._on_navigated)

    def close(self) -> None:
        self._page.remove_listener("request", self._on_request)
        self._page.remove_listener("response", self._on_response)
        self._page.remove_listener("framenavigated", self._on_navigated)

    def arm(self) -> None:
        self._requested.clear()
        self._committed.clear()

    def _on_request(self, request: PlaywrightRequest) -> None:
        if request.is_navigation_request():
            self._requested.append(request.frame)
            self._changed.set()

    def _on_navigated(self, frame: Frame) -> None:
        self._committed.append(frame)
        self._changed.set()

    def _on_response(self, response: PlaywrightResponse) -> None:
        request = response.request
        if request.is_navigation_request() and request.frame == self._page.main_frame:
            self.last_response = response

    async def _until(self, happened: Callable[[], bool], seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while not happened():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), left)
            except asyncio.TimeoutError:
                return happened()
        return True

    async def navigation(self, frames: Sequence[Frame], grace: float) -> bool:
        """Whether one of ``frames`` started navigating since :meth:`arm`
        (waiting up to ``grace`` seconds for it); if so, waits for the new
        document to load."""
        from playwright.async_api import Error as PlaywrightError

        if not await self._until(lambda: any(f in self._requested for f in frames), grace):
            return False
        frame = next(f for f in frames if f in self._requested)
        # Until it commits, the frame still holds the old, loaded document.
        if await self._until(lambda: frame in self._committed, LOAD_TIMEOUT):
            # detached or slow: the next look at the page tells
            with contextlib.suppress(PlaywrightError):
                await frame.wait_for_load_state("load", timeout=LOAD_TIMEOUT * 1000)
        return True

    async def snapshot(self, request: Request) -> HtmlResponse:
        """The page as a response: for the ``captcha_detected`` signal, and
        the evidence of a session-wide challenge."""
        headers: dict[str, str] = {}
        if self.last_response is not None:
            status = self.last_response.status
            with contextlib.suppress(Exception):
                headers = await self.last_response.all_headers()
        else:
            # The navigation before the page method was not watched.
            status = await self._page.evaluate(_STATUS_SCRIPT) or 200
        headers.pop("content-encoding", None)
        return HtmlResponse(
            url=self._page.url,
            status=status,
            headers=headers,
            body=(await self._page.content()).encode("utf-8"),
            encoding="utf-8",
            request=request,
        )


def _owning_frames(page: Page, results: Sequence[CaptchaResult]) -> list[Frame]:
    """The frames that own ``results``' widgets, in order, once each."""
    frames: list[Frame] = []
    for result in results:
        for frame in page.frames:
            if (
                frame.url == result.frame.url
                and frame.name == result.frame.name
                and frame not in frames
            ):
                frames.append(frame)
                break
    return frames or [page.main_frame]


def _helper_options(spec: Spec, config: MiddlewareConfig) -> dict[str, Any]:
    """What :func:`find_captchas` and :func:`solve_captchas` are told, from the
    request's ``meta["vastcaptcha"]`` and the settings."""
    kinds = set(config.detect) | ({spec.kind} if spec.kind else set())
    if spec.image is None:
        kinds.discard("image")
    return {
        "kinds": kinds,
        "image_selector": spec.image,
        # meta names the answer's field; the helper takes a selector
        "image_field": _by_name(spec.fields[0]) if spec.fields else None,
        "min_score": spec.captcha_options.get("min_score", config.v3_min_score),
        "action": spec.captcha_options.get("action"),
    }


def _by_name(name: str) -> str:
    """A CSS selector of the fields named ``name``."""
    escaped = name.replace("\\", "\\\\").replace('"', '\\"')
    return f'[name="{escaped}"]'


def _worth_another_round(exc: BaseException) -> bool:
    return isinstance(exc, VastCaptchaError) and exc.scope in (Scope.NEW_TASK, Scope.RETRY)

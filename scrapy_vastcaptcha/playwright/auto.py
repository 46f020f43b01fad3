"""Auto mode: every captcha of a context's pages is solved as soon as it renders.

The init script (``js/hook.js``) calls a page binding whenever a widget may
have appeared or rendered in any frame; the helper then scans that page's
frames once (scans of one page never overlap; notices that arrive meanwhile
fold into one more scan) and solves each ready widget it has not seen yet,
once, all widgets found by one scan together (every token in before any
callback fires). Nothing polls the page.

A solved token that is still on the page near the end of its lifetime (its
widget still there: the form was not submitted) is replaced, up to
``max_refreshes`` times per widget; a page (one document of the top frame)
gets at most ``max_captchas_per_page`` widgets solved, further ones are
reported as :class:`TooManyCaptchasError` and left alone.

The code here is written once for the async Playwright API; the sync API runs
it on the event loop of its own Playwright connection (see
:mod:`.sync_api`). Pages and frames are typed ``Any`` for that reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import Any

from scrapy_vastcaptcha.api.credentials import ApiKey
from scrapy_vastcaptcha.api.errors import SolveTimeoutError, TooManyCaptchasError
from scrapy_vastcaptcha.playwright import flow
from scrapy_vastcaptcha.playwright.results import CaptchaResult, FoundCaptcha
from scrapy_vastcaptcha.playwright.scripts import hook_script
from scrapy_vastcaptcha.playwright.solving import AsyncClient, LoopSolver
from scrapy_vastcaptcha.playwright.steps import SolveAll, run_async

logger = logging.getLogger(__name__)

#: The name of the binding hook.js calls (it must match js/hook.js).
BINDING = "__vastcaptchaAuto__"
DEFAULT_MAX_CAPTCHAS_PER_PAGE = 10
DEFAULT_MAX_REFRESHES = 3
#: A token is replaced this long before it expires (at most a quarter of its
#: lifetime): time for the new solve to finish while the old token still works.
REFRESH_AHEAD = 30.0

WidgetKey = tuple[Any, str | None, str]

# The solver each target's binding currently calls. A binding cannot be
# removed in every Playwright release, so it is exposed once per target and
# looked up here: a stopped solver's page notices go nowhere.
_SOLVERS: weakref.WeakKeyDictionary[Any, AutoSolver] = weakref.WeakKeyDictionary()
_EXPOSED: weakref.WeakSet[Any] = weakref.WeakSet()


@dataclass(frozen=True)
class AutoSettings:
    """What :func:`~scrapy_vastcaptcha.playwright.auto_solve` was asked for."""

    options: flow.Options
    timeout: float
    max_captchas_per_page: int
    max_refreshes: int

    @classmethod
    def build(
        cls,
        *,
        timeout: float,
        kinds: Collection[str] | None,
        max_captchas_per_page: int,
        max_refreshes: int,
        token_lifetimes: Mapping[str, float] | None,
        **options: Any,
    ) -> AutoSettings:
        """Validate the arguments of ``auto_solve`` (both APIs)."""
        if max_captchas_per_page < 1:
            raise ValueError(
                f"max_captchas_per_page must be at least 1, got {max_captchas_per_page!r}"
            )
        if max_refreshes < 0:
            raise ValueError(f"max_refreshes must not be negative, got {max_refreshes!r}")
        lifetimes = dict(token_lifetimes or {})
        for kind, seconds in lifetimes.items():
            if not seconds > 0:
                raise ValueError(f"token lifetime of {kind} must be positive, got {seconds!r}")
        return cls(
            options=flow.Options.build(
                timeout=timeout,
                wait=0.0,
                kinds=kinds,
                raise_on_error=False,
                lifetimes=lifetimes or None,
                **options,
            ),
            timeout=timeout,
            max_captchas_per_page=max_captchas_per_page,
            max_refreshes=max_refreshes,
        )


@dataclass(frozen=True)
class Launch:
    """Everything :func:`~scrapy_vastcaptcha.playwright.auto_solve` needs to start
    (both APIs): the settings and where the client comes from."""

    settings: AutoSettings
    #: a client to use (not closed at stop); ``None``: one is made from the rest
    client: AsyncClient | LoopSolver | None = field(default=None, repr=False)
    api_key: str | ApiKey | None = field(default=None, repr=False)
    api_url: str | None = None
    poll_interval: float | None = None

    async def start(self, target: Any) -> AutoSolver:
        """Open the client and hook ``target``; the client is closed at
        :meth:`AutoSolver.stop`, or at once if starting fails."""
        if isinstance(self.client, LoopSolver):
            solver = self.client
        else:
            solver = await LoopSolver.open(
                self.client,
                self.api_key,
                self.api_url,
                solve_timeout=self.settings.timeout,
                poll_interval=self.poll_interval,
            )
        handle = AutoSolver(target, self.settings, solver.solve_all)
        await handle.start(on_close=solver.close)
        return handle


@dataclass(eq=False)
class _PageWatch:
    """Auto mode's state for one page."""

    page: Any
    claimed: set[WidgetKey] = field(default_factory=set)
    count: int = 0
    limit_reported: bool = False
    scanning: asyncio.Task[None] | None = None
    again: bool = False
    unready: bool = False
    scanned: asyncio.Event = field(default_factory=asyncio.Event)
    #: solves (and refreshes) in flight
    busy: set[asyncio.Task[None]] = field(default_factory=set)
    #: refreshes waiting for their time
    timers: set[asyncio.Task[None]] = field(default_factory=set)
    #: results not yet handed out by wait_solved
    unreported: list[CaptchaResult] = field(default_factory=list)


class AutoSolver:
    """The handle of auto mode, returned by :func:`~scrapy_vastcaptcha.playwright.auto_solve`.

    ``results`` holds every solve and refresh in order, ``errors`` every
    failure (failed solves, :class:`TooManyCaptchasError`). Stop it with
    :meth:`stop` or use it as an async context manager.
    """

    def __init__(self, target: Any, settings: AutoSettings, solve_all: SolveAll) -> None:
        self._target = target
        self._settings = settings
        self._solve_all = solve_all
        self._pages: dict[Any, _PageWatch] = {}
        self._context: Any = target if hasattr(target, "pages") else None
        self._stopped = False
        self._on_close: Callable[[], Awaitable[None]] | None = None
        # (emitter, event, handler) to remove at stop
        self._listeners: list[tuple[Any, str, Callable[..., Any]]] = []
        self.results: list[CaptchaResult] = []
        self.errors: list[Exception] = []

    async def start(self, on_close: Callable[[], Awaitable[None]] | None = None) -> None:
        """Hook the target's pages; ``on_close`` runs at :meth:`stop` (closes the
        client), also when starting fails."""
        self._on_close = on_close
        try:
            if self._target in _SOLVERS:
                raise RuntimeError("auto mode already runs on this page or context; stop it first")
            _SOLVERS[self._target] = self
            await self._hook()
        except BaseException:
            await self.stop()
            raise

    async def _hook(self) -> None:
        target = self._target
        if target not in _EXPOSED:
            await target.expose_binding(BINDING, _dispatch)
            await target.add_init_script(script=hook_script(), path=None)
            _EXPOSED.add(target)
        if self._context is not None:
            self._listen(self._context, "page", self._watch)
            pages = list(self._context.pages)
        else:
            pages = [target]
        for page in pages:
            self._watch(page)
            # already loaded: the init script missed these documents
            for frame in page.frames:
                with contextlib.suppress(Exception):
                    await frame.evaluate(hook_script(), None)

    # -- events ----------------------------------------------------------------

    def _watch(self, page: Any) -> _PageWatch:
        watch = self._pages.get(page)
        if watch is None:
            watch = self._pages[page] = _PageWatch(page)

            def navigated(frame: Any) -> None:
                if frame.parent_frame is None:  # a new top document: a new page to count
                    watch.count = 0
                    watch.limit_reported = False

            self._listen(page, "framenavigated", navigated)
            self._listen(page, "close", lambda _page: self._forget(page))
            self.poke(page)
        return watch

    def _listen(self, emitter: Any, event: str, handler: Callable[..., Any]) -> None:
        emitter.on(event, handler)
        self._listeners.append((emitter, event, handler))

    def poke(self, page: Any) -> None:
        """Something may have rendered in ``page``: scan it now, or again after
        the scan under way."""
        if self._stopped or page not in self._pages:
            return
        watch = self._pages[page]
        if watch.scanning is None:
            watch.scanned.clear()
            watch.scanning = asyncio.get_running_loop().create_task(self._scan_loop(watch))
        else:
            watch.again = True

    def _forget(self, page: Any) -> None:
        watch = self._pages.pop(page, None)
        if watch is not None:
            for task in _tasks(watch):
                task.cancel()

    # -- scanning and solving ----------------------------------------------------

    async def _scan_loop(self, watch: _PageWatch) -> None:
        try:
            while True:
                watch.again = False
                try:
                    await self._scan(watch)
                except Exception as exc:  # a page that closed meanwhile, say
                    logger.debug("auto mode: scan failed: %s", exc)
                if not watch.again or self._stopped:
                    break
        finally:
            watch.scanning = None
            watch.scanned.set()

    async def _scan(self, watch: _PageWatch) -> None:
        detection = await run_async(flow.scan(watch.page, self._settings.options))
        fresh = []
        watch.unready = False
        for item in detection.found:
            if not item.ready:
                watch.unready = True
                continue
            key = _identity(item)
            if key in watch.claimed:
                continue
            if watch.count >= self._settings.max_captchas_per_page:
                self._report_limit(watch)
                continue
            watch.claimed.add(key)
            watch.count += 1
            fresh.append(item)
        if fresh:
            self._spawn(watch.busy, self._solve(watch, fresh, detection.user_agent, 0))

    def _report_limit(self, watch: _PageWatch) -> None:
        if watch.limit_reported:
            return
        watch.limit_reported = True
        error = TooManyCaptchasError(
            f"{watch.page.url}: more than {self._settings.max_captchas_per_page} captchas "
            "in one page; the rest are not solved"
        )
        self.errors.append(error)
        logger.warning("auto mode: %s", error)

    @staticmethod
    def _spawn(group: set[asyncio.Task[None]], work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        group.add(task)
        task.add_done_callback(group.discard)

    async def _solve(
        self,
        watch: _PageWatch,
        items: list[FoundCaptcha[Any]],
        user_agent: str | None,
        refreshes: int,
    ) -> None:
        settings = self._settings
        options = replace(settings.options, deadline=time.monotonic() + settings.timeout)
        job = flow.solve_found(
            watch.page, flow.PageScan(items, user_agent), options, fire=refreshes == 0
        )
        try:
            results = await run_async(job, self._solve_all)
        except Exception as exc:  # the page closed under the flow
            self.errors.append(exc)
            logger.warning("auto mode: %s captcha(s) in %s failed: %s", len(items), watch.page, exc)
            return
        for item, result in zip(items, results, strict=True):
            self._record(watch, result, refreshes)
            if result.ok and result.expires_at is not None and refreshes < settings.max_refreshes:
                self._spawn(watch.timers, self._refresh(watch, item, result, user_agent, refreshes))

    def _record(self, watch: _PageWatch, result: CaptchaResult, refreshes: int) -> None:
        self.results.append(result)
        watch.unreported.append(result)
        what = "refreshed" if refreshes else "solved"
        if result.error is not None:
            self.errors.append(result.error)
            logger.warning(
                "auto mode: %s in %s failed: %s", result.kind, result.frame.url, result.error
            )
        else:
            logger.info("auto mode: %s %s in %s", what, result.kind, result.frame.url)

    async def _refresh(
        self,
        watch: _PageWatch,
        item: FoundCaptcha[Any],
        result: CaptchaResult,
        user_agent: str | None,
        refreshes: int,
    ) -> None:
        expires_at, solved_at = result.expires_at or 0.0, result.solved_at or 0.0
        ahead = min(REFRESH_AHEAD, (expires_at - solved_at) / 4)
        await asyncio.sleep(max(expires_at - ahead - time.time(), 0.0))
        if not await run_async(flow.present(item)):
            return  # submitted (navigated) or removed: nothing to keep alive
        self._spawn(watch.busy, self._solve(watch, [item], user_agent, refreshes + 1))

    # -- public -----------------------------------------------------------------

    async def wait_solved(
        self,
        page: Any,
        *,
        timeout: float = 180.0,
        wait: float = 10.0,
        raise_on_error: bool = True,
    ) -> list[CaptchaResult]:
        """Wait until every captcha of ``page`` is solved and injected.

        Looks at the page once more (a widget may have rendered an instant
        ago), waits up to ``wait`` seconds for widgets declared in the page
        but not rendered yet, and until the solves in flight are done.
        Returns the results of ``page`` not returned before (in order of
        completion); raises the first error among them unless
        ``raise_on_error`` is false. A page without captchas returns ``[]``
        at once. Raises :class:`~scrapy_vastcaptcha.api.errors.SolveTimeoutError`
        if solves are still running after ``timeout`` seconds (they go on).
        """
        if self._stopped:
            raise RuntimeError("auto mode was stopped")
        watch = self._watch(page)
        started = time.monotonic()
        deadline, wait_until = started + timeout, started + min(wait, timeout)
        self.poke(page)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            if watch.scanning is not None:
                await _wait_event(watch.scanned, left)
            elif watch.busy:
                await asyncio.wait(set(watch.busy), timeout=left)
                self.poke(page)  # a callback may have rendered another widget
            elif watch.unready and time.monotonic() < wait_until:
                watch.scanned.clear()
                await _wait_event(watch.scanned, min(left, wait_until - time.monotonic()))
            else:
                break
        if watch.busy:
            raise SolveTimeoutError(
                f"{len(watch.busy)} solve(s) of the page still running after {timeout:g} s"
            )
        results, watch.unreported = watch.unreported, []
        if raise_on_error:
            for result in results:
                if result.error is not None:
                    raise result.error
        return results

    async def stop(self) -> None:
        """Stop solving: cancel every solve in flight (the client stops polling
        at once), every pending refresh and scan; close the client it made."""
        if self._stopped:
            return
        self._stopped = True
        if _SOLVERS.get(self._target) is self:
            del _SOLVERS[self._target]
        for emitter, event, handler in self._listeners:
            emitter.remove_listener(event, handler)
        self._listeners.clear()
        tasks = [task for watch in self._pages.values() for task in _tasks(watch)]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
        if self._on_close is not None:
            await self._on_close()

    @property
    def stopped(self) -> bool:
        return self._stopped

    async def __aenter__(self) -> AutoSolver:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


def _identity(item: FoundCaptcha[Any]) -> WidgetKey:
    """What makes a widget the same one from scan to scan."""
    if item.kind == "recaptcha-v3":
        # one token per site key serves the page's execute() calls, whether
        # the library has registered its client yet (another ref) or not
        return (item.frame, item.document, f"v3:{item.captcha.sitekey}")
    return (item.frame, item.document, item.ref)


def _tasks(watch: _PageWatch) -> list[asyncio.Task[None]]:
    scanning = [watch.scanning] if watch.scanning is not None else []
    return [*scanning, *watch.busy, *watch.timers]


async def _wait_event(event: asyncio.Event, timeout: float) -> None:
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(event.wait(), max(timeout, 0.0))


def _dispatch(source: Any, *args: Any) -> None:
    """The binding hook.js calls: tell the solver of the page's context (or page)."""
    page = source["page"]
    for target in (page, source["context"]):
        solver = _SOLVERS.get(target)
        if solver is not None:
            solver.poke(page)
            return

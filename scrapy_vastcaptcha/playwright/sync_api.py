"""Solve the captchas of a live Playwright page (sync API).

Same functions, arguments and results as :mod:`scrapy_vastcaptcha.playwright`,
for ``playwright.sync_api`` pages. Auto mode, the zero-code way::

    with auto_solve(context) as solver:      # key from $VASTCAPTCHA_API_KEY
        page = context.new_page()
        page.goto(url)
        solver.wait_solved(page)             # optional: tokens are in
        page.click("button[type=submit]")

Sync Playwright runs an asyncio loop on the calling thread whenever a
Playwright call is in progress; auto mode runs on that loop, on the objects
behind the sync wrappers, so it works while the script is inside any
Playwright call (``goto``, ``fill``, ``click``, ``wait_for_timeout``, ...),
exactly as Playwright's own event handlers do. No reactor or event loop to manage: the
VastCap client runs on a background thread that runs Twisted's (global)
asyncio reactor for the rest of the process (a reactor cannot be restarted),
while the calling thread drives the browser and blocks on the solves with the
call's deadline. Without ``client=``, each call makes (and closes) its own
client on that thread; pass a :class:`BackgroundSolver` to share one between
calls::

    with BackgroundSolver() as solver:
        for url in urls:
            page.goto(url)
            solve_captchas(page, client=solver)
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Coroutine, Mapping
from importlib.metadata import version
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from scrapy_vastcaptcha.api.credentials import ApiKey
from scrapy_vastcaptcha.playwright import DEFAULT_MIN_SCORE, DEFAULT_TIMEOUT, DEFAULT_WAIT, flow
from scrapy_vastcaptcha.playwright import auto as core
from scrapy_vastcaptcha.playwright.auto import (
    DEFAULT_MAX_CAPTCHAS_PER_PAGE,
    DEFAULT_MAX_REFRESHES,
    AutoSettings,
    Launch,
)
from scrapy_vastcaptcha.playwright.background import BackgroundSolver
from scrapy_vastcaptcha.playwright.results import CaptchaResult, FoundCaptcha
from scrapy_vastcaptcha.playwright.scripts import hook_script
from scrapy_vastcaptcha.playwright.steps import run_sync

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Frame, Page

__all__ = [
    "AutoSolver",
    "BackgroundSolver",
    "auto_solve",
    "find_captchas",
    "install_hooks",
    "solve_captchas",
]

T = TypeVar("T")


def install_hooks(target: BrowserContext | Page) -> None:
    """Sync twin of :func:`scrapy_vastcaptcha.playwright.install_hooks`;
    call it before navigating."""
    target.add_init_script(script=hook_script())


def find_captchas(
    page: Page,
    *,
    kinds: Collection[str] | None = None,
    wait: float = DEFAULT_WAIT,
    timeout: float = DEFAULT_TIMEOUT,
    image_selector: str | None = None,
    image_field: str | None = None,
    min_score: float | None = DEFAULT_MIN_SCORE,
    action: str | None = None,
) -> list[FoundCaptcha[Frame]]:
    """Sync twin of :func:`scrapy_vastcaptcha.playwright.find_captchas`."""
    options = flow.Options.build(
        timeout=timeout,
        wait=wait,
        kinds=kinds,
        image_selector=image_selector,
        image_field=image_field,
        min_score=min_score,
        action=action,
    )
    return run_sync(flow.find(page, options)).found


def solve_captchas(
    page: Page,
    *,
    api_key: str | ApiKey | None = None,
    api_url: str | None = None,
    client: BackgroundSolver | None = None,
    kinds: Collection[str] | None = None,
    wait: float = DEFAULT_WAIT,
    timeout: float = DEFAULT_TIMEOUT,
    raise_on_error: bool = True,
    forward_user_agent: bool = True,
    proxy: str | None = None,
    cookies: bool = False,
    image_selector: str | None = None,
    image_field: str | None = None,
    min_score: float | None = DEFAULT_MIN_SCORE,
    action: str | None = None,
    poll_interval: float | None = None,
) -> list[CaptchaResult]:
    """Sync twin of :func:`scrapy_vastcaptcha.playwright.solve_captchas`;
    ``client`` is a :class:`BackgroundSolver` (not closed here)."""
    options = flow.Options.build(
        timeout=timeout,
        wait=wait,
        kinds=kinds,
        raise_on_error=raise_on_error,
        forward_user_agent=forward_user_agent,
        proxy=proxy,
        cookies=cookies,
        image_selector=image_selector,
        image_field=image_field,
        min_score=min_score,
        action=action,
    )
    own = None
    if client is None:
        client = own = BackgroundSolver(
            api_key, api_url, solve_timeout=timeout, poll_interval=poll_interval
        )
    try:
        return run_sync(flow.solve(page, options), client.solve_all)
    finally:
        if own is not None:
            own.close()


def auto_solve(
    target: BrowserContext | Page,
    *,
    api_key: str | ApiKey | None = None,
    api_url: str | None = None,
    client: BackgroundSolver | None = None,
    kinds: Collection[str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    forward_user_agent: bool = True,
    proxy: str | None = None,
    cookies: bool = False,
    image_selector: str | None = None,
    image_field: str | None = None,
    min_score: float | None = DEFAULT_MIN_SCORE,
    action: str | None = None,
    poll_interval: float | None = None,
    max_captchas_per_page: int = DEFAULT_MAX_CAPTCHAS_PER_PAGE,
    max_refreshes: int = DEFAULT_MAX_REFRESHES,
    token_lifetimes: Mapping[str, float] | None = None,
) -> AutoSolver:
    """Sync twin of :func:`scrapy_vastcaptcha.playwright.auto_solve`; use the
    returned :class:`AutoSolver` as a context manager or call its ``stop()``.
    ``client`` is a :class:`BackgroundSolver` (not closed here)."""
    settings = AutoSettings.build(
        timeout=timeout,
        kinds=kinds,
        max_captchas_per_page=max_captchas_per_page,
        max_refreshes=max_refreshes,
        token_lifetimes=token_lifetimes,
        forward_user_agent=forward_user_agent,
        proxy=proxy,
        cookies=cookies,
        image_selector=image_selector,
        image_field=image_field,
        min_score=min_score,
        action=action,
    )
    shared = client.loop_solver() if client is not None else None
    launch = Launch(settings, shared, api_key, api_url, poll_interval)
    return AutoSolver(_on_loop(target, launch.start), target)


class AutoSolver:
    """Sync twin of :class:`scrapy_vastcaptcha.playwright.AutoSolver`."""

    def __init__(self, handle: core.AutoSolver, target: Any) -> None:
        self._handle = handle
        self._target = target

    @property
    def results(self) -> list[CaptchaResult]:
        """Every solve and refresh so far, in order."""
        return self._handle.results

    @property
    def errors(self) -> list[Exception]:
        """Every failure so far (failed solves, TooManyCaptchasError)."""
        return self._handle.errors

    def wait_solved(
        self,
        page: Page,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        wait: float = DEFAULT_WAIT,
        raise_on_error: bool = True,
    ) -> list[CaptchaResult]:
        """Sync twin of :meth:`scrapy_vastcaptcha.playwright.AutoSolver.wait_solved`."""
        return _on_loop(
            page,
            lambda twin: self._handle.wait_solved(
                twin, timeout=timeout, wait=wait, raise_on_error=raise_on_error
            ),
        )

    def stop(self) -> None:
        """Stop solving; cancels what is in flight (see the async twin)."""
        if not self._handle.stopped:
            _on_loop(self._target, lambda _twin: self._handle.stop())

    def __enter__(self) -> AutoSolver:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _on_loop(wrapper: Any, work: Callable[[Any], Coroutine[Any, Any, T]]) -> T:
    """Run ``work(twin)`` on the event loop of the sync Playwright page or context
    ``wrapper`` until it is done; ``twin`` is the async object behind ``wrapper``.

    Auto mode is async code (tasks, timers, awaited browser calls) that must run
    on the loop of the script's own Playwright connection, which runs only while
    the script is inside a Playwright call. Playwright has no public way to get
    the async object behind a sync one (and a coroutine on that loop cannot use
    the sync objects: their calls block by switching to the greenlet that runs
    the loop), nor to run a coroutine on that loop until it is done. So this
    function, and only this one, uses two private members of the sync wrappers:
    ``_impl_obj`` (the async object) and ``_sync`` (what every sync method calls
    to block on the loop). tests/test_playwright_sync_bridge.py fails loudly if a
    release changes them.
    """
    from playwright.sync_api import BrowserContext, Page

    if not isinstance(wrapper, BrowserContext | Page):
        raise TypeError(f"expected a playwright.sync_api page or context, got {wrapper!r}")
    twin, run = getattr(wrapper, "_impl_obj", None), getattr(wrapper, "_sync", None)
    if twin is None or not callable(run):
        raise RuntimeError(
            f"Playwright {version('playwright')} changed the insides of its sync API that "
            "auto mode relies on; use the async API or another Playwright release"
        )
    result: T = run(work(twin))
    return result

"""Solve the captchas of a live Playwright page (async API).

The zero-code way, auto mode: every captcha of every page of the context is
solved as soon as it renders, kept fresh until submitted, at most
``max_captchas_per_page`` per page::

    from scrapy_vastcaptcha.playwright import auto_solve

    async with auto_solve(context) as solver:   # key from $VASTCAPTCHA_API_KEY
        page = await context.new_page()
        await page.goto(url)
        await solver.wait_solved(page)          # optional: tokens are in
        await page.click("button[type=submit]")

Or by hand, one page at a time::

    from scrapy_vastcaptcha.playwright import install_hooks, solve_captchas

    await install_hooks(context)       # before navigating; see install_hooks
    await page.goto(url)
    results = await solve_captchas(page)   # key from $VASTCAPTCHA_API_KEY
    await page.click("button[type=submit]")

Widgets are found in the page and in every frame (nested, cross-origin):
reCAPTCHA v2 (checkbox, invisible, explicitly rendered), v3 and Enterprise
(also from ``www.recaptcha.net``), hCaptcha, Turnstile, FunCaptcha, and image
captchas named by ``image_selector``. Each is solved as its own task, all in
parallel; each token goes into the fields of the widget that owns it, in the
frame that owns it, and that widget's callback is fired. The callback is
looked up in this order (see :data:`CALLBACK_SOURCES`): the container's
``data-callback`` attribute, the ``callback`` option of a recorded
``*.render()`` call for that container, the widget's client in
``___grecaptcha_cfg.clients``, and a recorded ``*.render()`` call matched by
widget id. The library's own API then answers with the solved token too, for
pages that ask it instead of reading the fields: ``getResponse`` of
``grecaptcha``, ``hcaptcha`` and ``turnstile``, and for reCAPTCHA ``execute``
(also ``grecaptcha.enterprise``), which resolves with the token and calls the
widget's callback, so that v3 pages asking for a token at submit time get ours.

A reCAPTCHA widget's client in ``___grecaptcha_cfg.clients`` is tied to its
container by containment, whatever element the release keeps and however deep;
whether it is v2, invisible v2 or v3 is decided by the rules of
:mod:`scrapy_vastcaptcha.evidence`, shared with the HTML detector.

The helper works from any event loop, any number of times per process (see
:mod:`scrapy_vastcaptcha.playwright.reactor`): inside Scrapy and
scrapy-playwright the client runs on Scrapy's reactor; anywhere else (plain
``asyncio.run`` scripts, several of them, pytest-asyncio, Jupyter) on a
reactor thread of its own. For synchronous Playwright use
:mod:`scrapy_vastcaptcha.playwright.sync_api`.
"""

from __future__ import annotations

from collections.abc import Collection, Generator, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

from scrapy_vastcaptcha.api.credentials import ApiKey
from scrapy_vastcaptcha.api.errors import (
    BrowserCaptchaError,
    ImageCaptureError,
    InjectionError,
    ReactorMismatchError,
    SolveTimeoutError,
    TooManyCaptchasError,
    WidgetNotReadyError,
)
from scrapy_vastcaptcha.captcha import TOKEN_LIFETIMES
from scrapy_vastcaptcha.playwright import flow
from scrapy_vastcaptcha.playwright.auto import (
    DEFAULT_MAX_CAPTCHAS_PER_PAGE,
    DEFAULT_MAX_REFRESHES,
    AutoSettings,
    AutoSolver,
    Launch,
)
from scrapy_vastcaptcha.playwright.results import (
    CALLBACK_SOURCES,
    CallbackInfo,
    CaptchaResult,
    FoundCaptcha,
    FrameInfo,
)
from scrapy_vastcaptcha.playwright.scripts import hook_script
from scrapy_vastcaptcha.playwright.solving import AsyncClient, LoopSolver
from scrapy_vastcaptcha.playwright.steps import run_async_until

if TYPE_CHECKING:
    from playwright.async_api import BrowserContext, Frame, Page

__all__ = [
    "CALLBACK_SOURCES",
    "TOKEN_LIFETIMES",
    "AutoSolver",
    "BrowserCaptchaError",
    "CallbackInfo",
    "CaptchaResult",
    "FoundCaptcha",
    "FrameInfo",
    "ImageCaptureError",
    "InjectionError",
    "ReactorMismatchError",
    "SolveTimeoutError",
    "TooManyCaptchasError",
    "WidgetNotReadyError",
    "auto_solve",
    "find_captchas",
    "install_hooks",
    "solve_captchas",
]

DEFAULT_WAIT = 10.0
DEFAULT_TIMEOUT = 180.0
DEFAULT_MIN_SCORE = 0.7


async def install_hooks(target: BrowserContext | Page) -> None:
    """Record ``grecaptcha/hcaptcha/turnstile.render(...)`` calls in every frame.

    Call it on the context (or page) BEFORE navigating: it is an init script
    that must run before the page's own scripts. Without it everything is still
    detected except options that exist only in a ``render()`` call (a Turnstile
    challenge page's ``action``, ``cData``, ``chlPageData`` and function
    callbacks of hCaptcha and Turnstile).
    """
    await target.add_init_script(script=hook_script())


async def find_captchas(
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
    """The captchas of ``page`` and all its frames, without solving anything.

    Waits up to ``wait`` seconds (event-driven) for a widget to appear and for
    declared widgets to be rendered; an empty list means none appeared. See
    :func:`solve_captchas` for the other arguments.
    """
    options = flow.Options.build(
        timeout=timeout,
        wait=wait,
        kinds=kinds,
        image_selector=image_selector,
        image_field=image_field,
        min_score=min_score,
        action=action,
    )
    detection = await run_async_until(
        flow.find(page, options), None, options.deadline, f"the {timeout:g} s timeout"
    )
    return detection.found


async def solve_captchas(
    page: Page,
    *,
    api_key: str | ApiKey | None = None,
    api_url: str | None = None,
    client: AsyncClient | None = None,
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
    """Solve every captcha of ``page`` and its frames; one result per captcha.

    :param api_key: VastCap key; default ``$VASTCAPTCHA_API_KEY``.
    :param api_url: API URL; default ``$VASTCAPTCHA_API_URL`` or the service.
    :param client: a client to use instead (e.g. a shared
        :class:`~scrapy_vastcaptcha.api.client.VastCaptchaClient`); it is not closed.
    :param kinds: only these :data:`~scrapy_vastcaptcha.api.tasks.KINDS`.
    :param wait: seconds to wait for a captcha to appear and render; 0 looks once.
    :param timeout: overall deadline of the call in seconds (waiting, solving, injecting).
    :param raise_on_error: raise the first captcha's error; otherwise report
        errors in :attr:`CaptchaResult.error` (other captchas are still injected).
    :param forward_user_agent: send ``navigator.userAgent`` with each task.
    :param proxy: ``login:password@host:port`` the solver should use, e.g. the browser's.
    :param cookies: send the page's cookies with tasks whose type takes them
        (only FunCaptcha has a cookie field at VastCap; others ignore it).
    :param image_selector: CSS selector of an image captcha's picture (img or canvas).
    :param image_field: selector of its answer input; default the first text
        input of the picture's form.
    :param min_score: minimum reCAPTCHA v3 score to ask for (0.1-0.9, or None).
    :param action: reCAPTCHA v3 action for pages that reveal none before submitting.
    :param poll_interval: override the client's polling interval (when it makes one).

    Returns ``[]`` when no captcha appeared within ``wait``. Tokens expire
    (:attr:`CaptchaResult.expires_at`); call again to solve afresh, also after
    a navigation.
    """
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
    solver = await LoopSolver.open(
        client, api_key, api_url, solve_timeout=timeout, poll_interval=poll_interval
    )
    try:
        return await run_async_until(
            flow.solve(page, options),
            solver.solve_all,
            options.deadline,
            f"the {timeout:g} s timeout",
        )
    finally:
        await solver.close()


def auto_solve(
    target: BrowserContext | Page,
    *,
    api_key: str | ApiKey | None = None,
    api_url: str | None = None,
    client: AsyncClient | None = None,
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
) -> _AutoStart:
    """Solve every captcha of ``target`` (a context: all its pages, new ones
    too; or one page) as soon as it renders, in any frame; once per widget.

    Use it as ``async with auto_solve(context) as solver:`` or
    ``solver = await auto_solve(context)`` then ``await solver.stop()``; it
    replaces :func:`install_hooks`. Call it before navigating; pages already
    open are hooked too, but their widgets rendered before are seen only by
    their fields. ``await solver.wait_solved(page)`` waits until the page's
    captchas are solved and injected and returns their results; ``solver.results``
    and ``solver.errors`` list everything so far.

    A token still on the page (the widget is still there) near the end of its
    lifetime (:data:`TOKEN_LIFETIMES`, overridden per kind by
    ``token_lifetimes``) is replaced by a fresh one, at most ``max_refreshes``
    times per widget; the fields and the library's API get the new token,
    the callback is not fired again. At most ``max_captchas_per_page`` widgets
    are solved per page (top-frame document); beyond that a
    :class:`TooManyCaptchasError` is reported in ``solver.errors`` and logged.
    ``timeout`` bounds each solve. Other arguments: see :func:`solve_captchas`.
    """
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
    return _AutoStart(target, Launch(settings, client, api_key, api_url, poll_interval))


class _AutoStart:
    """What :func:`auto_solve` returns: await it for the :class:`AutoSolver`,
    or use it as an async context manager that stops it on exit."""

    def __init__(self, target: BrowserContext | Page, launch: Launch) -> None:
        self._target = target
        self._launch = launch
        self._solver: AutoSolver | None = None

    def __await__(self) -> Generator[Any, None, AutoSolver]:
        return self._launch.start(self._target).__await__()

    async def __aenter__(self) -> AutoSolver:
        self._solver = await self
        return self._solver

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._solver is not None:
            await self._solver.stop()

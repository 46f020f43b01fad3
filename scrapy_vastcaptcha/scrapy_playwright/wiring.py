"""How the middleware hands rendered pages to the page method, and takes them back."""

from __future__ import annotations

import logging
import weakref
from collections.abc import Awaitable, Callable
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from scrapy import Request
from scrapy.http import Response
from scrapy.utils.misc import load_object

from scrapy_vastcaptcha.meta import META_KEY
from scrapy_vastcaptcha.scrapy_playwright.page import REPORT_KEY, PageSolver
from scrapy_vastcaptcha.scrapy_playwright.report import BrowserReport

if TYPE_CHECKING:
    from playwright.async_api import Page

    from scrapy_vastcaptcha.middleware import VastCaptchaMiddleware

__all__ = [
    "MIN_SCRAPY_PLAYWRIGHT",
    "BrowserSolving",
    "browser_solving",
    "scrapy_playwright_version",
]

logger = logging.getLogger(__name__)

#: The first scrapy-playwright release whose PageMethod takes a callable (0.0.42).
MIN_SCRAPY_PLAYWRIGHT = (0, 0, 42)

#: Private meta key, gone again when the response reaches the callback: the
#: request's own values of the keys the add-on replaces while it is downloaded.
SAVED_KEY = "_vastcaptcha_saved"
_REPLACED = ("playwright_page_methods", "playwright_page_init_callback")


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


class BrowserSolving:
    """The middleware's side of in-page solving; see the package docstring."""

    def __init__(self, middleware: VastCaptchaMiddleware) -> None:
        self.middleware = middleware
        self._hooked: weakref.WeakSet[Page] = weakref.WeakSet()
        self._solver = PageSolver(middleware)

    # -- before the download -------------------------------------------------

    def prepare(self, request: Request) -> None:
        """Give a ``playwright`` request the init hook and the solving page method."""
        meta = request.meta
        if not meta.get("playwright") or meta.get(META_KEY) is False:
            return
        from scrapy_playwright.page import PageMethod  # type: ignore[import-untyped]

        self.forget(request)  # a copy (a retry) may carry the last attempt's entries
        meta[SAVED_KEY] = {key: meta[key] for key in _REPLACED if key in meta}
        ours = PageMethod(self._solver.solve_page, request)
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

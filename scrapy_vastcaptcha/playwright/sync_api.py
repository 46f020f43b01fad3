"""Solve the captchas of a live Playwright page (sync API).

Same functions, arguments and results as :mod:`scrapy_vastcaptcha.playwright`,
for ``playwright.sync_api`` pages. No reactor or event loop to manage: the
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

from collections.abc import Collection
from typing import TYPE_CHECKING

from scrapy_vastcaptcha.api.credentials import ApiKey
from scrapy_vastcaptcha.playwright import DEFAULT_MIN_SCORE, DEFAULT_TIMEOUT, DEFAULT_WAIT, flow
from scrapy_vastcaptcha.playwright.background import BackgroundSolver
from scrapy_vastcaptcha.playwright.results import CaptchaResult, FoundCaptcha
from scrapy_vastcaptcha.playwright.scripts import hook_script
from scrapy_vastcaptcha.playwright.steps import run_sync

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Frame, Page

__all__ = ["BackgroundSolver", "find_captchas", "install_hooks", "solve_captchas"]


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

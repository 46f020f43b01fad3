"""Hostile site keys, tokens and callback names cannot run code in the page.

Pages are served by a Playwright route on a loopback URL (the stand-in widget
scripts are routed in as everywhere else). Site keys are checked against the
emulator. The emulator only mints URL-safe tokens, so a hostile token comes
from a test double standing in for the service.
"""

from __future__ import annotations

import time
from html import escape
from typing import Any, TypeVar

import pytest
import pytest_twisted
from playwright.async_api import Browser, Page

from scrapy_vastcaptcha.api._protocol import Solution
from scrapy_vastcaptcha.api.client import SolveResult
from scrapy_vastcaptcha.api.errors import InvalidTaskError
from scrapy_vastcaptcha.api.tasks import Task
from scrapy_vastcaptcha.playwright import CaptchaResult, install_hooks, solve_captchas
from scrapy_vastcaptcha.testing import EmulatorHandle
from scrapy_vastcaptcha.testing.browser import route_widget_scripts
from tests.browsing import aio

pytestmark = pytest.mark.browser

T = TypeVar("T")
PAGE_URL = "http://127.0.0.1:9/hostile"
HOSTILE = '"\'`);window.__pwned=1;//</script><img src=x onerror="window.__pwned=2">\u2028💥${1}'
GOOD_KEY = "6LdHostileTestPageKey0000000000000000001"


def widget_page(sitekey: str, callback: str) -> str:
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8"></head><body><form>'
        f'<div class="g-recaptcha" data-sitekey="{escape(sitekey)}" '
        f'data-callback="{escape(callback)}"></div></form>'
        "<script>function onToken(token) { window.__got = token; }"
        "window.__pwned = undefined;</script>"
        '<script src="https://www.google.com/recaptcha/api.js" async defer></script>'
        "</body></html>"
    )


async def open_page(browser: Browser, html: str) -> Page:
    context = await browser.new_context()
    await route_widget_scripts(context)
    await install_hooks(context)
    page = await context.new_page()
    await page.route(
        PAGE_URL, lambda route: route.fulfill(body=html, content_type="text/html; charset=utf-8")
    )
    await page.goto(PAGE_URL)
    return page


async def pwned(page: Page) -> Any:
    return await page.evaluate("() => window.__pwned")


class HostileService:
    """Answers every task with the hostile token, as a compromised service might."""

    def __init__(self) -> None:
        self.tasks: list[Task] = []

    async def solve_async(self, task: Task) -> SolveResult:
        self.tasks.append(task)
        return SolveResult(
            task_id="hostile-1",
            solution=Solution(token=HOSTILE),
            kind=task.KIND,
            attempts=1,
            polls=1,
            elapsed=0.0,
            solved_at=time.time(),
        )


@pytest_twisted.ensureDeferred
async def test_hostile_site_key_is_refused_before_any_task(
    browser: Browser, vastcaptcha_emulator: EmulatorHandle
) -> None:
    async def run() -> tuple[list[CaptchaResult], Any]:
        page = await open_page(browser, widget_page(HOSTILE, "onToken"))
        try:
            results = await solve_captchas(
                page,
                api_key=vastcaptcha_emulator.api_key,
                api_url=vastcaptcha_emulator.api_url,
                raise_on_error=False,
            )
            return results, await pwned(page)
        finally:
            await page.context.close()

    (result,), marker = await aio(run())
    assert result.captcha.sitekey == HOSTILE  # read as data, exactly
    assert isinstance(result.error, InvalidTaskError)
    assert result.token is None
    assert marker is None
    assert vastcaptcha_emulator.tasks() == []


@pytest_twisted.ensureDeferred
async def test_hostile_token_is_injected_as_data(browser: Browser) -> None:
    service = HostileService()

    async def run() -> tuple[list[CaptchaResult], Any, Any, Any]:
        page = await open_page(browser, widget_page(GOOD_KEY, "onToken"))
        try:
            results = await solve_captchas(page, client=service)
            field = await page.locator("textarea.g-recaptcha-response").input_value()
            got = await page.evaluate("() => window.__got")
            return results, field, got, await pwned(page)
        finally:
            await page.context.close()

    (result,), field, got, marker = await aio(run())
    assert result.ok
    assert result.read_back
    assert result.callback_fired
    assert field == HOSTILE
    assert got == HOSTILE
    assert marker is None
    assert len(service.tasks) == 1


@pytest_twisted.ensureDeferred
async def test_callback_names_are_looked_up_never_evaluated(browser: Browser) -> None:
    async def run() -> tuple[list[CaptchaResult], Any]:
        page = await open_page(browser, widget_page(GOOD_KEY, "(window.__pwned=3)"))
        try:
            results = await solve_captchas(page, client=HostileService())
            return results, await pwned(page)
        finally:
            await page.context.close()

    (result,), marker = await aio(run())
    assert result.ok
    assert result.callback is None
    assert not result.callback_fired
    assert marker is None

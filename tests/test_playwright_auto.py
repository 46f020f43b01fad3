"""Auto mode (``auto_solve``) in real Chromium against the demo shop and the emulator.

These run as Twisted coroutines on Scrapy's kind of reactor (pytest-twisted,
``--reactor=asyncio``): the client runs on the test's own loop, as inside
Scrapy. The other loops (plain scripts, the sync API) are covered in
subprocesses, here and in tests/test_playwright_loops.py and the examples.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, TypeVar

import pytest
import pytest_twisted
from playwright.async_api import Browser, BrowserContext, Page
from twisted.internet import defer

from scrapy_vastcaptcha.api.client import VastCaptchaClient
from scrapy_vastcaptcha.api.errors import BudgetExhaustedError, SolveTimeoutError
from scrapy_vastcaptcha.budget import BudgetConfig, BudgetGuard
from scrapy_vastcaptcha.demo.catalog import products
from scrapy_vastcaptcha.playwright import TooManyCaptchasError, auto_solve
from scrapy_vastcaptcha.testing import DemoSiteHandle, EmulatorHandle
from scrapy_vastcaptcha.testing.browser import route_widget_scripts
from tests.browsing import aio
from tests.user_scripts import run_script

pytestmark = pytest.mark.browser

T = TypeVar("T")
POLL = 0.2
PAGE_URL = "http://127.0.0.1:9/auto"
KEY = "6LdAutoModeTestPageKey000000000000000001"

# path, the frame holding the form, whether the page submits itself
DEMO_PAGES = [
    ("recaptcha-v2", "/recaptcha-v2", None, False),
    ("recaptcha-v2-invisible", "/recaptcha-v2-invisible", None, True),
    ("recaptcha-v2-explicit", "/recaptcha-v2-explicit", None, True),
    ("recaptcha-v3", "/recaptcha-v3", None, False),
    ("recaptcha-enterprise", "/recaptcha-enterprise", None, False),
    ("hcaptcha", "/hcaptcha", None, False),
    ("turnstile", "/turnstile", None, False),
    ("turnstile-interstitial", "/turnstile-interstitial/catalog", None, True),
    ("image", "/image", None, False),
    ("two-captchas", "/two-captchas", None, False),
    ("iframe", "/iframe", "#shop-frame", False),
]


def creds(emulator: EmulatorHandle) -> dict[str, Any]:
    return {"api_key": emulator.api_key, "api_url": emulator.api_url, "poll_interval": POLL}


async def new_context(browser: Browser, html: str | None = None) -> BrowserContext:
    """A context with the stand-in widgets; ``html`` is served at PAGE_URL."""
    context = await browser.new_context()
    await route_widget_scripts(context)
    if html is not None:
        await context.route(
            PAGE_URL,
            lambda route: route.fulfill(body=html, content_type="text/html; charset=utf-8"),
        )
    return context


async def submit_and_read(page: Page, frame: str | None, submits_itself: bool) -> list[str]:
    where = page.frame_locator(frame) if frame else page
    if not submits_itself:
        await where.locator("#captcha-form button[type=submit]").click()
    await where.locator(".product").first.wait_for(timeout=15_000)
    return await where.locator(".product .name").all_inner_texts()


async def every_demo_kind(
    browser: Browser, site: DemoSiteHandle, emulator: EmulatorHandle
) -> dict[str, Any]:
    context = await new_context(browser)
    pages: dict[str, list[str]] = {}
    try:
        async with auto_solve(context, image_selector="#captcha-image", **creds(emulator)) as auto:
            page = await context.new_page()
            for kind, path, frame, submits_itself in DEMO_PAGES:
                await page.goto(site.url + path)
                if not submits_itself:
                    await auto.wait_solved(page)
                pages[kind] = await submit_and_read(page, frame, submits_itself)
            return {"pages": pages, "results": list(auto.results), "errors": list(auto.errors)}
    finally:
        await context.close()


@pytest_twisted.ensureDeferred
async def test_every_demo_kind_without_calling_solve(
    browser: Browser, vastcaptcha_demo_site: DemoSiteHandle, vastcaptcha_emulator: EmulatorHandle
) -> None:
    out = await aio(every_demo_kind(browser, vastcaptcha_demo_site, vastcaptcha_emulator))

    for kind, _, _, _ in DEMO_PAGES:
        assert out["pages"][kind] == [item.name for item in products(kind, 1)], kind
    assert out["errors"] == []
    # once per widget: eleven pages, twelve widgets (two-captchas has two)
    assert len(out["results"]) == 12
    assert all(result.ok for result in out["results"])
    assert len(vastcaptcha_emulator.tasks()) == 12


async def open_and_new_pages(
    browser: Browser, site: DemoSiteHandle, emulator: EmulatorHandle
) -> list[list[str]]:
    context = await new_context(browser)
    try:
        # a tab open (and its widget rendered) before auto mode starts
        opened = await context.new_page()
        await opened.goto(site.url + "/recaptcha-v2")
        await opened.locator(".g-recaptcha textarea").wait_for(state="attached")
        async with auto_solve(context, **creds(emulator)) as auto:

            async def visit(path: str) -> list[str]:
                page = await context.new_page()
                await page.goto(site.url + path)
                await auto.wait_solved(page)
                return await submit_and_read(page, None, False)

            await auto.wait_solved(opened)
            return [
                await submit_and_read(opened, None, False),
                *await asyncio.gather(visit("/hcaptcha"), visit("/turnstile")),
            ]
    finally:
        await context.close()


@pytest_twisted.ensureDeferred
async def test_open_pages_and_pages_opened_later_are_covered(
    browser: Browser, vastcaptcha_demo_site: DemoSiteHandle, vastcaptcha_emulator: EmulatorHandle
) -> None:
    opened, hcaptcha, turnstile = await aio(
        open_and_new_pages(browser, vastcaptcha_demo_site, vastcaptcha_emulator)
    )
    assert opened == [item.name for item in products("recaptcha-v2", 1)]
    assert hcaptcha == [item.name for item in products("hcaptcha", 1)]
    assert turnstile == [item.name for item in products("turnstile", 1)]


LATE_WIDGET = f"""<!DOCTYPE html><html><body>
<form id="f"><div id="later"></div></form>
<script>
  function renderLater() {{
    grecaptcha.render("later", {{sitekey: "{KEY}"}});
    window.renderedAt = Date.now();
    // a page (or a test) poking the helper's binding must not buy more solves
    for (let i = 0; i < 25; i++) {{ window.__vastcaptchaAuto__(); }}
  }}
  window.onloadCallback = () => setTimeout(renderLater, 300);
</script>
<script src="https://www.google.com/recaptcha/api.js?onload=onloadCallback&render=explicit"
  async defer></script>
</body></html>"""


async def late_widget(browser: Browser, emulator: EmulatorHandle) -> dict[str, Any]:
    context = await new_context(browser, LATE_WIDGET)
    try:
        async with auto_solve(context, **creds(emulator)) as auto:
            page = await context.new_page()
            await page.goto(PAGE_URL)
            loaded = await page.evaluate("() => Date.now()")
            # no helper call: the token shows up in the field on its own
            await page.wait_for_function(
                "() => (document.querySelector('#later textarea') || {}).value",
                timeout=15_000,
            )
            rendered = await page.evaluate("() => window.renderedAt")
            # more notices after the solve change nothing either
            await page.evaluate("() => window.__vastcaptchaAuto__()")
            await auto.wait_solved(page)
            return {"loaded": loaded, "rendered": rendered, "results": list(auto.results)}
    finally:
        await context.close()


@pytest_twisted.ensureDeferred
async def test_widget_rendered_later_is_solved_once_on_its_own(
    browser: Browser, vastcaptcha_emulator: EmulatorHandle
) -> None:
    out = await aio(late_widget(browser, vastcaptcha_emulator))
    assert out["rendered"] > out["loaded"]  # rendered after goto() returned
    assert [(r.kind, r.ok) for r in out["results"]] == [("recaptcha-v2", True)]
    assert len(vastcaptcha_emulator.tasks()) == 1


def widget_loop_page(count: int) -> str:
    """A broken page: a fresh widget every 30 ms, ``count`` in all."""
    return f"""<!DOCTYPE html><html><body><form id="f"></form>
<script>
  window.rendered = 0;
  window.onloadCallback = () => {{
    const timer = setInterval(() => {{
      const box = document.createElement("div");
      document.getElementById("f").appendChild(box);
      grecaptcha.render(box, {{sitekey: "{KEY}"}});
      window.rendered += 1;
      if (window.rendered === {count}) clearInterval(timer);
    }}, 30);
  }};
</script>
<script src="https://www.google.com/recaptcha/api.js?onload=onloadCallback&render=explicit"
  async defer></script>
</body></html>"""


async def widget_loop(browser: Browser, emulator: EmulatorHandle) -> dict[str, Any]:
    context = await new_context(browser, widget_loop_page(25))
    try:
        async with auto_solve(context, max_captchas_per_page=3, **creds(emulator)) as auto:
            page = await context.new_page()
            await page.goto(PAGE_URL)
            await page.wait_for_function("() => window.rendered === 25", timeout=15_000)
            await auto.wait_solved(page)
            return {"results": list(auto.results), "errors": list(auto.errors)}
    finally:
        await context.close()


@pytest_twisted.ensureDeferred
async def test_a_page_rendering_widgets_in_a_loop_hits_the_cap(
    browser: Browser, vastcaptcha_emulator: EmulatorHandle, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="scrapy_vastcaptcha.playwright.auto"):
        out = await aio(widget_loop(browser, vastcaptcha_emulator))

    assert len(out["results"]) == 3
    assert len(vastcaptcha_emulator.tasks()) == 3  # 3 paid for, not 25
    assert [type(error) for error in out["errors"]] == [TooManyCaptchasError]
    assert "more than 3 captchas" in caplog.text


async def gated(browser: Browser, emulator: EmulatorHandle) -> dict[str, Any]:
    client = VastCaptchaClient(emulator.api_key, emulator.api_url, poll_interval=POLL)
    client.gate = guard = BudgetGuard(BudgetConfig(max_tasks=2), client.get_balance)
    loop = asyncio.get_running_loop()
    await defer.Deferred.fromCoroutine(guard.open()).asFuture(loop)
    context = await new_context(browser, widget_loop_page(4))
    try:
        async with auto_solve(context, client=client) as auto:
            page = await context.new_page()
            await page.goto(PAGE_URL)
            await page.wait_for_function("() => window.rendered === 4", timeout=15_000)
            await auto.wait_solved(page, raise_on_error=False)
            return {"results": list(auto.results), "errors": list(auto.errors)}
    finally:
        await context.close()
        await defer.Deferred.fromCoroutine(guard.close()).asFuture(loop)
        await client.close_async()


@pytest_twisted.ensureDeferred
async def test_the_clients_limits_hold_in_auto_mode(
    browser: Browser, vastcaptcha_emulator: EmulatorHandle
) -> None:
    out = await aio(gated(browser, vastcaptcha_emulator))

    assert sum(result.ok for result in out["results"]) == 2
    assert len(out["results"]) == 4
    assert [type(error) for error in out["errors"]] == [BudgetExhaustedError] * 2
    assert len(vastcaptcha_emulator.tasks()) == 2


async def slow_form(
    browser: Browser, site: DemoSiteHandle, emulator: EmulatorHandle, lifetime: float
) -> dict[str, Any]:
    """Open the v2 form, refresh on (2) and off (0), submit both once the
    first token is dead."""

    async def fill_slowly(max_refreshes: int) -> dict[str, Any]:
        context = await new_context(browser)
        try:
            async with auto_solve(
                context,
                max_refreshes=max_refreshes,
                token_lifetimes={"recaptcha-v2": lifetime},
                **creds(emulator),
            ) as auto:
                page = await context.new_page()
                await page.goto(site.url + "/recaptcha-v2")
                (first,) = await auto.wait_solved(page)
                if max_refreshes:
                    # the field gets a fresh token before the first one dies
                    await page.wait_for_function(
                        "(old) => document.querySelector("
                        "'textarea[name=g-recaptcha-response]').value !== old",
                        arg=first.token,
                        timeout=lifetime * 1000,
                    )
                # a slow user: the form is submitted after the first token expired
                assert first.expires_at is not None
                await asyncio.sleep(max(first.expires_at - time.time(), 0) + 0.2)
                await page.click("#captcha-form button[type=submit]")
                await page.wait_for_load_state()
                return {
                    "products": await page.locator(".product").count(),
                    "error": await page.locator(".error").all_inner_texts(),
                    "results": list(auto.results),
                }
        finally:
            await context.close()

    refreshed, expired = await asyncio.gather(fill_slowly(2), fill_slowly(0))
    return {"refreshed": refreshed, "expired": expired}


@pytest_twisted.ensureDeferred
async def test_a_token_that_expires_on_the_page_is_replaced(
    browser: Browser, vastcaptcha_demo_site: DemoSiteHandle, vastcaptcha_emulator: EmulatorHandle
) -> None:
    vastcaptcha_emulator.configure(token_ttl=6)
    out = await aio(slow_form(browser, vastcaptcha_demo_site, vastcaptcha_emulator, 6.0))

    refreshed, expired = out["refreshed"], out["expired"]
    assert refreshed["products"] == 4, refreshed["error"]
    first, second = refreshed["results"][:2]
    assert second.token != first.token
    assert second.solved_at < first.expires_at  # replaced before it died
    assert not second.callback_fired
    # without refreshes the same slow user submits a dead token
    assert expired["products"] == 0
    assert "verification failed" in " ".join(expired["error"])
    assert len(expired["results"]) == 1


async def stop_in_flight(
    browser: Browser, site: DemoSiteHandle, emulator: EmulatorHandle
) -> dict[str, Any]:
    context = await new_context(browser)
    try:
        auto = await auto_solve(context, **creds(emulator))
        page = await context.new_page()
        await page.goto(site.url + "/recaptcha-v2")
        try:
            await auto.wait_solved(page, timeout=1.5)
        except SolveTimeoutError as exc:
            timed_out = str(exc)
        started = time.monotonic()
        await auto.stop()
        stopped_in = time.monotonic() - started
        left = [
            task
            for task in asyncio.all_tasks()
            if "AutoSolver." in repr(task.get_coro()) and not task.done()
        ]
        field = await page.locator("textarea[name=g-recaptcha-response]").input_value()
        return {"timed_out": timed_out, "stopped_in": stopped_in, "left": left, "field": field}
    finally:
        await context.close()


@pytest_twisted.ensureDeferred
async def test_stop_cancels_what_is_in_flight(
    browser: Browser, vastcaptcha_demo_site: DemoSiteHandle, vastcaptcha_emulator: EmulatorHandle
) -> None:
    vastcaptcha_emulator.configure(solve_time=[60, 60])
    out = await aio(stop_in_flight(browser, vastcaptcha_demo_site, vastcaptcha_emulator))

    assert "still running" in out["timed_out"]
    assert out["stopped_in"] < 2.0
    assert out["left"] == []
    assert out["field"] == ""
    assert len(vastcaptcha_emulator.tasks()) == 1


SYNC_SCRIPT = """
    import json, sys
    from playwright.sync_api import sync_playwright
    from scrapy_vastcaptcha.testing.browser import (
        chromium_launch_options, route_widget_scripts_sync,
    )
    from scrapy_vastcaptcha.playwright.sync_api import BackgroundSolver, auto_solve

    site, api_url, api_key = sys.argv[1:4]
    out = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(**chromium_launch_options())
        context = browser.new_context()
        route_widget_scripts_sync(context)
        with BackgroundSolver(api_key, api_url, poll_interval=0.2) as shared:
            with auto_solve(context, client=shared) as auto:
                first, second = context.new_page(), context.new_page()
                first.goto(site + "/turnstile")
                second.goto(site + "/recaptcha-v2-invisible")  # submits itself
                # no helper call: solving goes on while the script waits in Playwright
                first.wait_for_function(
                    "() => document.querySelector('[name=cf-turnstile-response]').value"
                )
                first.click("#captcha-form button[type=submit]")
                out["pages"] = []
                for page in (first, second):
                    page.locator(".product").first.wait_for()
                    out["pages"].append(page.locator(".product").count())
                out["results"] = [[r.kind, r.ok] for r in auto.results]
            out["stopped"] = True
        browser.close()
    print(json.dumps(out))
"""


def test_sync_auto_mode(
    vastcaptcha_demo_site: DemoSiteHandle, vastcaptcha_emulator: EmulatorHandle
) -> None:
    out = run_script(
        SYNC_SCRIPT,
        vastcaptcha_demo_site.url,
        vastcaptcha_emulator.api_url,
        vastcaptcha_emulator.api_key,
    )
    assert out["pages"] == [4, 4]
    assert sorted(out["results"]) == [["recaptcha-v2", True], ["turnstile", True]]
    assert out["stopped"]

"""The async Playwright helper against the demo shop and the emulator, in real Chromium.

The tests run as Twisted coroutines on Scrapy's kind of reactor (pytest-twisted
with ``--reactor=asyncio``): the "inside Scrapy" situation. Playwright's
asyncio calls are wrapped in :func:`aio`. The plain ``asyncio.run`` path runs
in a subprocess, as a user's script would.
"""

from __future__ import annotations

import textwrap
import time
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest
import pytest_twisted
from playwright.async_api import Browser, BrowserContext, FrameLocator, Page

from scrapy_vastcaptcha.api.errors import ApiError, SolveTimeoutError
from scrapy_vastcaptcha.demo.catalog import products
from scrapy_vastcaptcha.playwright import (
    CaptchaResult,
    find_captchas,
    install_hooks,
    solve_captchas,
)
from scrapy_vastcaptcha.testing import DemoSiteHandle, EmulatorHandle
from scrapy_vastcaptcha.testing.browser import route_widget_scripts
from tests.browsing import aio
from tests.user_scripts import run_script

pytestmark = pytest.mark.browser

T = TypeVar("T")
POLL = 0.2  # the emulator solves in 0.3-0.8 s


async def new_context(browser: Browser, *, hooks: bool = True) -> BrowserContext:
    context = await browser.new_context()
    await route_widget_scripts(context)
    if hooks:
        await install_hooks(context)
    return context


def creds(emulator: EmulatorHandle) -> dict[str, Any]:
    return {"api_key": emulator.api_key, "api_url": emulator.api_url, "poll_interval": POLL}


@dataclass(frozen=True)
class Scenario:
    """One demo page: how it is submitted and what the helper must report."""

    kind: str
    path: str
    #: "callback": the page submits itself from the widget's callback
    submit: str = "form"
    result_kinds: tuple[str, ...] = ("recaptcha-v2",)
    callback_source: str | None = None
    frame: str | None = None
    image: bool = False


SCENARIOS = [
    Scenario("recaptcha-v2", "/recaptcha-v2"),
    Scenario(
        "recaptcha-v2-invisible",
        "/recaptcha-v2-invisible",
        submit="callback",
        callback_source="data-callback",
    ),
    Scenario(
        "recaptcha-v2-explicit",
        "/recaptcha-v2-explicit",
        submit="callback",
        callback_source="render-option",
    ),
    Scenario("recaptcha-v3", "/recaptcha-v3", result_kinds=("recaptcha-v3",)),
    Scenario("recaptcha-enterprise", "/recaptcha-enterprise"),
    Scenario("hcaptcha", "/hcaptcha", result_kinds=("hcaptcha",)),
    Scenario("turnstile", "/turnstile", result_kinds=("turnstile",)),
    Scenario(
        "turnstile-interstitial",
        "/turnstile-interstitial/catalog",
        submit="callback",
        result_kinds=("turnstile",),
        callback_source="render-option",
    ),
    Scenario("image", "/image", result_kinds=("image",), image=True),
    Scenario("two-captchas", "/two-captchas", result_kinds=("recaptcha-v2", "turnstile")),
    Scenario("iframe", "/iframe", frame="#shop-frame"),
]


def scope(page: Page, scenario: Scenario) -> Page | FrameLocator:
    return page.frame_locator(scenario.frame) if scenario.frame else page


async def product_names(page: Page, scenario: Scenario) -> list[str]:
    where = scope(page, scenario)
    await where.locator(".product").first.wait_for(timeout=10_000)
    return await where.locator(".product .name").all_inner_texts()


async def solve_demo_page(
    browser: Browser, site: DemoSiteHandle, emulator: EmulatorHandle, scenario: Scenario
) -> tuple[list[CaptchaResult], list[str], str]:
    context = await new_context(browser)
    try:
        page = await context.new_page()
        await page.goto(site.url + scenario.path)
        results = await solve_captchas(
            page, image_selector="#captcha-image" if scenario.image else None, **creds(emulator)
        )
        if scenario.submit == "form":
            await scope(page, scenario).locator("#captcha-form button[type=submit]").click()
        names = await product_names(page, scenario)
        user_agent = await page.evaluate("() => navigator.userAgent")
        return results, names, user_agent
    finally:
        await context.close()


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.kind for s in SCENARIOS])
@pytest_twisted.ensureDeferred
async def test_demo_page_is_solved_and_accepted(
    browser: Browser,
    vastcaptcha_demo_site: DemoSiteHandle,
    vastcaptcha_emulator: EmulatorHandle,
    scenario: Scenario,
) -> None:
    results, names, user_agent = await aio(
        solve_demo_page(browser, vastcaptcha_demo_site, vastcaptcha_emulator, scenario)
    )

    assert names == [item.name for item in products(scenario.kind, 1)]
    assert [r.kind for r in results] == list(scenario.result_kinds)
    tasks = vastcaptcha_emulator.tasks()
    assert len(tasks) == len(results)
    for result in results:
        assert result.ok, result.error
        assert result.token
        assert result.read_back
        assert result.fields
        assert result.task_id in {task["task_id"] for task in tasks}
        assert result.solved_at is not None
        if result.kind == "image":
            assert result.expires_at is None
        else:
            lifetime = 300 if result.kind == "turnstile" else 120
            assert result.expires_at == pytest.approx(result.solved_at + lifetime)
        assert result.callback_fired == (scenario.callback_source is not None)
        if scenario.callback_source:
            assert result.callback is not None
            assert result.callback.source == scenario.callback_source
    # the browser's user agent travels with every task
    assert all(task["fields"].get("userAgent") == user_agent for task in tasks)


@pytest_twisted.ensureDeferred
async def test_tasks_carry_what_the_page_declares(
    browser: Browser, vastcaptcha_demo_site: DemoSiteHandle, vastcaptcha_emulator: EmulatorHandle
) -> None:
    by_path = {s.kind: s for s in SCENARIOS}
    for kind in ("recaptcha-v3", "recaptcha-enterprise", "turnstile", "turnstile-interstitial"):
        await aio(
            solve_demo_page(browser, vastcaptcha_demo_site, vastcaptcha_emulator, by_path[kind])
        )
    v3, enterprise, turnstile, interstitial = (t["fields"] for t in vastcaptcha_emulator.tasks())
    assert (v3["pageAction"], v3["minScore"]) == ("checkout", 0.7)
    assert (enterprise["isEnterprise"], enterprise["pageAction"]) == (True, "login")
    assert (turnstile["action"], turnstile["cData"]) == ("search", "sess-42")
    # only in the turnstile.render() call: captured by the init hook
    assert interstitial["action"] == "managed"
    assert interstitial["chlPageData"] == f"chl-{interstitial['cData']}"


@pytest_twisted.ensureDeferred
async def test_two_widgets_get_their_own_tokens_in_parallel(
    browser: Browser, vastcaptcha_demo_site: DemoSiteHandle, vastcaptcha_emulator: EmulatorHandle
) -> None:
    vastcaptcha_emulator.configure(solve_time=1.0)
    results, _, _ = await aio(
        solve_demo_page(browser, vastcaptcha_demo_site, vastcaptcha_emulator, SCENARIOS[-2])
    )
    recaptcha, turnstile = results
    assert recaptcha.token != turnstile.token
    assert recaptcha.fields == ("g-recaptcha-response",)
    assert turnstile.fields == ("cf-turnstile-response",)
    first, second = vastcaptcha_emulator.tasks()
    assert second["created_at"] < first["ready_at"]


@pytest_twisted.ensureDeferred
async def test_callback_found_in_grecaptcha_cfg_without_hooks(
    browser: Browser, vastcaptcha_demo_site: DemoSiteHandle, vastcaptcha_emulator: EmulatorHandle
) -> None:
    async def run() -> tuple[list[CaptchaResult], list[str]]:
        context = await new_context(browser, hooks=False)
        try:
            page = await context.new_page()
            await page.goto(vastcaptcha_demo_site.url + "/recaptcha-v2-explicit")
            results = await solve_captchas(page, **creds(vastcaptcha_emulator))
            return results, await product_names(page, SCENARIOS[2])
        finally:
            await context.close()

    (result,), names = await aio(run())
    assert result.callback is not None
    assert (result.callback.source, result.callback.name) == ("grecaptcha-cfg", "verifyCallback")
    assert result.callback_fired
    assert len(names) == 4


@pytest_twisted.ensureDeferred
async def test_render_only_options_need_the_hook(
    browser: Browser, vastcaptcha_demo_site: DemoSiteHandle
) -> None:
    async def run() -> list[Any]:
        context = await new_context(browser, hooks=False)
        try:
            page = await context.new_page()
            await page.goto(vastcaptcha_demo_site.url + "/turnstile-interstitial/catalog")
            return await find_captchas(page)
        finally:
            await context.close()

    (found,) = await aio(run())
    # the site key still comes from the widget's iframe; cData and the callback cannot
    assert found.captcha.sitekey == "0x4AAAAAAAVastDemoChallenge08"
    assert found.captcha.cdata is None
    assert found.callback is None


@pytest_twisted.ensureDeferred
async def test_solving_again_after_navigation(
    browser: Browser, vastcaptcha_demo_site: DemoSiteHandle, vastcaptcha_emulator: EmulatorHandle
) -> None:
    async def run() -> tuple[list[CaptchaResult], list[str]]:
        context = await new_context(browser)
        try:
            page = await context.new_page()
            solved = []
            names = []
            for number in (1, 2):
                await page.goto(f"{vastcaptcha_demo_site.url}/recaptcha-v2?page={number}")
                solved += await solve_captchas(page, **creds(vastcaptcha_emulator))
                await page.click("#captcha-form button[type=submit]")
                names += await product_names(page, SCENARIOS[0])
            return solved, names
        finally:
            await context.close()

    (first, second), names = await aio(run())
    assert first.task_id != second.task_id
    assert first.token != second.token
    expected = products("recaptcha-v2", 1) + products("recaptcha-v2", 2)
    assert names == [item.name for item in expected]


@pytest_twisted.ensureDeferred
async def test_waiting_for_a_late_widget_is_event_driven(
    browser: Browser, vastcaptcha_demo_site: DemoSiteHandle, vastcaptcha_emulator: EmulatorHandle
) -> None:
    late_page = textwrap.dedent(
        """
        <form id="f"><div id="slot"></div></form>
        <script>
        setTimeout(function () {
          var div = document.createElement("div");
          div.className = "g-recaptcha";
          div.setAttribute("data-sitekey", "6LdLateWidgetKey000000000000000000000001");
          document.getElementById("slot").appendChild(div);
          var script = document.createElement("script");
          script.src = "https://www.google.com/recaptcha/api.js";
          document.body.appendChild(script);
        }, 700);
        </script>
        """
    )

    async def run() -> tuple[list[CaptchaResult], float, list[CaptchaResult], float]:
        context = await new_context(browser)
        try:
            page = await context.new_page()
            url = vastcaptcha_demo_site.url + "/late-widget"
            await page.route(
                url, lambda route: route.fulfill(body=late_page, content_type="text/html")
            )
            await page.goto(url)
            started = time.monotonic()
            await find_captchas(page, wait=20)
            # Seen when it appears (0.7 s), not at the 2 s safety re-check.
            late_took = time.monotonic() - started
            late = await solve_captchas(page, wait=20, **creds(vastcaptcha_emulator))
            await page.goto(vastcaptcha_demo_site.url + "/")
            started = time.monotonic()
            none = await solve_captchas(page, wait=1, **creds(vastcaptcha_emulator))
            return late, late_took, none, time.monotonic() - started
        finally:
            await context.close()

    late, late_took, none, none_took = await aio(run())
    assert [r.kind for r in late] == ["recaptcha-v2"]
    assert late[0].read_back
    assert late_took < 1.9
    assert none == []
    assert 1 <= none_took < 4


@pytest_twisted.ensureDeferred
async def test_kinds_filter(
    browser: Browser, vastcaptcha_demo_site: DemoSiteHandle, vastcaptcha_emulator: EmulatorHandle
) -> None:
    async def run() -> list[CaptchaResult]:
        context = await new_context(browser)
        try:
            page = await context.new_page()
            await page.goto(vastcaptcha_demo_site.url + "/two-captchas")
            return await solve_captchas(page, kinds={"turnstile"}, **creds(vastcaptcha_emulator))
        finally:
            await context.close()

    assert [r.kind for r in await aio(run())] == ["turnstile"]
    assert len(vastcaptcha_emulator.tasks()) == 1


async def solve_two_captchas(
    browser: Browser, site: DemoSiteHandle, emulator: EmulatorHandle, **options: Any
) -> tuple[list[CaptchaResult], float]:
    context = await new_context(browser)
    try:
        page = await context.new_page()
        await page.goto(site.url + "/two-captchas")
        started = time.monotonic()
        results = await solve_captchas(page, **creds(emulator), **options)
        return results, time.monotonic() - started
    finally:
        await context.close()


@pytest_twisted.ensureDeferred
async def test_unsolvable_captchas_are_reported_per_captcha(
    browser: Browser, vastcaptcha_demo_site: DemoSiteHandle, vastcaptcha_emulator: EmulatorHandle
) -> None:
    vastcaptcha_emulator.configure(faults={"unsolvable": 1.0})
    results, _ = await aio(
        solve_two_captchas(
            browser, vastcaptcha_demo_site, vastcaptcha_emulator, raise_on_error=False
        )
    )
    assert [r.kind for r in results] == ["recaptcha-v2", "turnstile"]
    for result in results:
        assert isinstance(result.error, ApiError)
        assert result.error.code == "ERROR_CAPTCHA_UNSOLVABLE"
        assert result.token is None
        assert not result.ok
        assert not result.fields

    with pytest.raises(ApiError, match="ERROR_CAPTCHA_UNSOLVABLE"):
        await aio(solve_two_captchas(browser, vastcaptcha_demo_site, vastcaptcha_emulator))


@pytest_twisted.ensureDeferred
async def test_overall_timeout(
    browser: Browser, vastcaptcha_demo_site: DemoSiteHandle, vastcaptcha_emulator: EmulatorHandle
) -> None:
    vastcaptcha_emulator.configure(solve_time=60)
    results, took = await aio(
        solve_two_captchas(
            browser, vastcaptcha_demo_site, vastcaptcha_emulator, timeout=3, raise_on_error=False
        )
    )
    assert took < 6
    assert all(isinstance(r.error, SolveTimeoutError) for r in results)

    started = time.monotonic()
    with pytest.raises(SolveTimeoutError):
        await aio(
            solve_two_captchas(browser, vastcaptcha_demo_site, vastcaptcha_emulator, timeout=2)
        )
    assert time.monotonic() - started < 8


ASYNCIO_SCRIPT = """
    import asyncio, json, sys
    from playwright.async_api import async_playwright
    from scrapy_vastcaptcha.testing.browser import chromium_launch_options, route_widget_scripts
    from scrapy_vastcaptcha.playwright import install_hooks, solve_captchas

    site, api_url, api_key = sys.argv[1:4]
    PAGES = [("/recaptcha-v2", True), ("/turnstile-interstitial/catalog", False)]

    async def main():
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(**chromium_launch_options())
            context = await browser.new_context()
            await route_widget_scripts(context)
            await install_hooks(context)
            page = await context.new_page()
            seen = []
            for path, submit in PAGES:
                await page.goto(site + path)
                results = await solve_captchas(
                    page, api_key=api_key, api_url=api_url, poll_interval=0.2
                )
                if submit:
                    await page.click("#captcha-form button[type=submit]")
                await page.locator(".product").first.wait_for()
                seen.append([[r.kind for r in results], await page.locator(".product").count()])
            await browser.close()
            return seen

    print(json.dumps({"solved": asyncio.run(main())}))
"""


def test_plain_asyncio_script(
    vastcaptcha_demo_site: DemoSiteHandle, vastcaptcha_emulator: EmulatorHandle
) -> None:
    out = run_script(
        ASYNCIO_SCRIPT,
        vastcaptcha_demo_site.url,
        vastcaptcha_emulator.api_url,
        vastcaptcha_emulator.api_key,
    )
    assert out["solved"] == [[["recaptcha-v2"], 4], [["turnstile"], 4]]


MISMATCH_SCRIPT = """
    import asyncio, json
    from twisted.internet import reactor  # installs the default (epoll) reactor
    from scrapy_vastcaptcha.playwright import solve_captchas
    from scrapy_vastcaptcha.api.errors import ReactorMismatchError

    async def main():
        try:
            await solve_captchas(object(), api_key="vastCap_k", api_url="http://127.0.0.1:9")
        except ReactorMismatchError as exc:
            return str(exc)

    print(json.dumps({"error": asyncio.run(main())}))
"""


def test_incompatible_reactor_is_refused_clearly() -> None:
    error = run_script(MISMATCH_SCRIPT)["error"]
    assert "EPollReactor" in error
    assert "asyncioreactor" in error


WITHOUT_PLAYWRIGHT_SCRIPT = """
    import json, sys
    sys.modules["playwright"] = None  # as if the extra were not installed
    try:
        import scrapy_vastcaptcha.playwright
    except ImportError as exc:
        print(json.dumps({"type": type(exc).__name__, "message": str(exc), "name": exc.name}))
"""


def test_missing_playwright_says_which_extra_to_install() -> None:
    error = run_script(WITHOUT_PLAYWRIGHT_SCRIPT)
    assert error["type"] == "ImportError"
    assert 'pip install "scrapy-vastcaptcha[playwright]"' in error["message"]
    assert error["name"] == "playwright"

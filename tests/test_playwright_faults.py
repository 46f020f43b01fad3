"""The Playwright helper keeps working while the solver misbehaves."""

from __future__ import annotations

from typing import Any

import pytest
import pytest_twisted
from playwright.async_api import Browser

from scrapy_vastcaptcha import RetryPolicy, VastCaptchaClient
from scrapy_vastcaptcha.demo.catalog import products
from scrapy_vastcaptcha.playwright import solve_captchas
from scrapy_vastcaptcha.testing import DemoSiteHandle, EmulatorHandle
from tests.browsing import aio
from tests.test_playwright_async import (
    SCENARIOS,
    Scenario,
    new_context,
    product_names,
    scope,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PAGES = [s for s in SCENARIOS if s.kind in ("recaptcha-v2", "hcaptcha", "two-captchas", "iframe")]


async def solve_page(
    browser: Browser, site: DemoSiteHandle, client: VastCaptchaClient, scenario: Scenario
) -> tuple[list[Any], list[str]]:
    context = await new_context(browser)
    try:
        page = await context.new_page()
        await page.goto(site.url + scenario.path)
        results = await solve_captchas(page, client=client)
        await scope(page, scenario).locator("#captcha-form button[type=submit]").click()
        return results, await product_names(page, scenario)
    finally:
        await context.close()


@pytest.mark.parametrize(
    "emulator_settings",
    [
        {"faults": {"http_5xx": 0.3}},
        {"faults": {"malformed": 0.1, "drop": 0.1}},
        {"faults": {"slow": 0.1}, "slow_delay": 5},
        {"faults": {"unsolvable": 0.2}},
        {"capacity": 1},
    ],
    ids=["5xx-30pct", "malformed-and-drop-10pct", "slow-10pct", "unsolvable-20pct", "capacity-1"],
)
@pytest_twisted.ensureDeferred
async def test_pages_are_accepted_despite_faults(
    browser: Browser,
    vastcaptcha_demo_site: DemoSiteHandle,
    vastcaptcha_emulator: EmulatorHandle,
    emulator_settings: dict[str, Any],
) -> None:
    vastcaptcha_emulator.configure(solve_time=[0.1, 0.3], seed=3, **emulator_settings)
    client = VastCaptchaClient(
        vastcaptcha_emulator.api_key,
        vastcaptcha_emulator.api_url,
        poll_interval=0.1,
        http_timeout=0.5,
        retry=RetryPolicy(max_retries=10, base=0.05, cap=0.3),
        # 20% unsolvable: eight fresh tasks make a lost captcha a 1-in-400,000 event.
        max_task_attempts=8,
    )
    try:
        for scenario in PAGES:
            results, names = await aio(solve_page(browser, vastcaptcha_demo_site, client, scenario))
            assert all(r.ok for r in results), [r.error for r in results]
            assert names == [p.name for p in products(scenario.kind, 1)]
    finally:
        await client.close()

"""Spending limits in real crawls against the emulator: tasks, money, balance floor."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import pytest_twisted

from scrapy_vastcaptcha.demo.spider import ShopSpider, expected_skus
from scrapy_vastcaptcha.testing import DemoSiteHandle, EmulatorHandle
from tests.crawling import captcha_settings, crawl, resume_to_the_end, run_crawl

PATHS = "/recaptcha-v2,/hcaptcha,/turnstile"
KINDS = ["recaptcha-v2", "hcaptcha", "turnstile"]


@pytest.mark.slow
def test_max_tasks_stops_at_the_cap_and_a_resumed_crawl_finishes(
    vastcaptcha_emulator: EmulatorHandle, vastcaptcha_demo_site: DemoSiteHandle, tmp_path: Path
) -> None:
    vastcaptcha_emulator.configure(solve_time=0.1)
    jobdir = f"JOBDIR={tmp_path / 'job'}"
    stats = run_crawl(
        vastcaptcha_emulator,
        vastcaptcha_demo_site,
        tmp_path,
        "first",
        jobdir,
        "VASTCAPTCHA_MAX_TASKS=20",
        pages=20,
        paths=PATHS,
    )
    assert stats["finish_reason"] == "vastcaptcha_budget_exhausted"
    assert len(vastcaptcha_emulator.tasks()) == 20
    assert stats["vastcaptcha/budget/tasks"] == 20
    # With JOBDIR the requests left are kept, untouched, for a later run with
    # a fresh budget.
    assert stats["errbacks"] == []
    resume_to_the_end(vastcaptcha_emulator, vastcaptcha_demo_site, tmp_path, jobdir, PATHS, 20)


@pytest_twisted.ensureDeferred
async def test_max_spend_stops_within_the_stated_overshoot(
    vastcaptcha_emulator: EmulatorHandle, vastcaptcha_demo_site: DemoSiteHandle
) -> None:
    # Token tasks cost 0.002 on the emulator: 0.02 is ten tasks. Spending is
    # read from the balance every 4 tasks, so at most 4 tasks go past the cap.
    vastcaptcha_emulator.configure(solve_time=0.1)
    price, cap, every = 0.002, 0.02, 4
    result = await crawl(
        ShopSpider,
        captcha_settings(
            vastcaptcha_emulator,
            VASTCAPTCHA_MAX_SPEND=cap,
            VASTCAPTCHA_BALANCE_CHECK_TASKS=every,
        ),
        site=vastcaptcha_demo_site.url,
        pages=20,
        paths=PATHS.split(","),
    )
    assert result.reason == "vastcaptcha_budget_exhausted"
    spent = result.stats["vastcaptcha/balance/start"] - result.stats["vastcaptcha/balance/end"]
    assert cap <= spent + 1e-9
    assert spent <= cap + every * price + 1e-9
    assert len(vastcaptcha_emulator.tasks()) <= round((cap + every * price) / price)


@pytest_twisted.ensureDeferred
async def test_min_balance_warns_once_and_the_crawl_goes_on(
    vastcaptcha_emulator: EmulatorHandle,
    vastcaptcha_demo_site: DemoSiteHandle,
    caplog: pytest.LogCaptureFixture,
) -> None:
    vastcaptcha_emulator.configure(solve_time=0.05)
    vastcaptcha_emulator.set_account(vastcaptcha_emulator.api_key, balance=0.5)
    with caplog.at_level(logging.WARNING):
        result = await crawl(
            ShopSpider,
            captcha_settings(vastcaptcha_emulator, VASTCAPTCHA_MIN_BALANCE=1.0),
            site=vastcaptcha_demo_site.url,
            pages=3,
            paths=["/recaptcha-v2"],
        )
    assert result.reason == "finished"
    assert {i["sku"] for i in result.items} == expected_skus(3, ["recaptcha-v2"])
    warnings = [r for r in caplog.records if "VASTCAPTCHA_MIN_BALANCE" in r.getMessage()]
    assert len(warnings) == 1
    assert warnings[0].levelno == logging.WARNING


@pytest_twisted.ensureDeferred
async def test_min_balance_stops_before_any_task_when_asked(
    vastcaptcha_emulator: EmulatorHandle, vastcaptcha_demo_site: DemoSiteHandle
) -> None:
    vastcaptcha_emulator.set_account(vastcaptcha_emulator.api_key, balance=0.5)
    result = await crawl(
        ShopSpider,
        captcha_settings(
            vastcaptcha_emulator,
            VASTCAPTCHA_MIN_BALANCE=1.0,
            VASTCAPTCHA_STOP_AT_MIN_BALANCE=True,
        ),
        site=vastcaptcha_demo_site.url,
        pages=3,
        paths=["/recaptcha-v2"],
    )
    assert result.reason == "vastcaptcha_min_balance"
    assert vastcaptcha_emulator.stats()["calls"]["createTask"] == 0
    spider = result.crawler.spider
    assert isinstance(spider, ShopSpider)
    # No persistent queue: every request that met the captcha reached its errback.
    detected = result.stats.get("vastcaptcha/detected/recaptcha-v2", 0)
    assert len(spider.failures) == detected

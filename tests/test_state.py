"""The typed solve state, and requests queued by 0.1 (JOBDIR, Redis) resuming after the upgrade."""

from __future__ import annotations

import time
import urllib.request
from typing import Any

import pytest_twisted
import scrapy
from scrapy.http import HtmlResponse

from scrapy_vastcaptcha.captcha import Captcha
from scrapy_vastcaptcha.demo.spider import ShopSpider, expected_skus
from scrapy_vastcaptcha.resubmit import plan_form
from scrapy_vastcaptcha.state import STATE_KEY, Failure, SolveState
from scrapy_vastcaptcha.testing import DemoSiteHandle, EmulatorHandle
from tests.crawling import captcha_settings, crawl

SITEKEY = "6LdVastDemoRecaptchaV2CheckboxKey0000001"


def legacy_state(site: str, page: int, *, solved_at: float) -> dict[str, Any]:
    """``meta["_vastcaptcha"]`` exactly as 0.1 wrote it after a solve: its
    key names and value shapes, the form read from the live page."""
    url = f"{site}/recaptcha-v2?page={page}"
    no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with no_proxy.open(url) as answer:  # the demo answers 200 with the form
        body = answer.read()
    response = HtmlResponse(url, body=body, encoding="utf-8")
    captcha = Captcha(kind="recaptcha-v2", sitekey=SITEKEY, page_url=url)
    plan = plan_form(response, [captcha], 0)
    data = captcha.to_dict()
    del data["alternative"]  # a field 0.1 did not have
    return {
        "attempts": 1,
        "spec": None,
        "captchas": [data],
        "plan": plan.to_dict(),
        "referer": url,
        "image_url": None,
        "token_url": plan.url,
        "solved_at": solved_at,
        "outcome": {"kind": "recaptcha-v2", "task_id": "old", "solve_seconds": 1.0},
    }


def test_round_trip_keeps_everything() -> None:
    state = SolveState(
        spec={"sitekey": "x"},
        attempts=2,
        tasks=3,
        solve_seconds=4.5,
        captchas=(Captcha(kind="recaptcha-v3", sitekey="k", alternative="recaptcha-v2"),),
        token_url="http://a.example/",
        solved_at=1.0,
        outcome={"kind": "recaptcha-v3"},
        failure=Failure("X", "y"),
        rejected=(("k", "recaptcha-v3"),),
        challenge="c",
        waited=True,
    )
    assert SolveState.from_meta({STATE_KEY: state.to_meta()}) == state


def test_reads_the_first_round_state_of_0_1() -> None:
    state = SolveState.from_meta({STATE_KEY: {"attempts": 0, "spec": {"form": "#f"}}})
    assert state == SolveState(spec={"form": "#f"})
    assert not state.answered


@pytest_twisted.ensureDeferred
async def test_requests_queued_by_0_1_resume(
    vastcaptcha_emulator: EmulatorHandle, vastcaptcha_demo_site: DemoSiteHandle
) -> None:
    # Two requests as a 0.1 JOBDIR would hand them back: one waiting for its
    # first solve, one carrying a token that went stale in the queue.
    vastcaptcha_emulator.configure(solve_time=0.1)
    site = vastcaptcha_demo_site.url
    stale = legacy_state(site, 2, solved_at=time.time() - 3600)

    class Resumed(ShopSpider):
        async def start(self) -> Any:
            yield scrapy.Request(
                f"{site}/recaptcha-v2?page=1",
                meta={STATE_KEY: {"attempts": 0, "spec": None}},
                errback=self.failed,
            )
            yield scrapy.FormRequest(
                stale["token_url"],
                formdata={"g-recaptcha-response": "stale-token"},
                meta={STATE_KEY: stale},
                errback=self.failed,
                dont_filter=True,
            )

    result = await crawl(Resumed, captcha_settings(vastcaptcha_emulator), site=site)
    spider = result.crawler.spider
    assert isinstance(spider, ShopSpider)
    assert spider.failures == []
    assert {i["sku"] for i in result.items} == expected_skus(2, ["recaptcha-v2"])
    assert result.stats["vastcaptcha/token_expired"] == 1

"""Real crawls of the demo shop through the add-on, against the emulator."""

from __future__ import annotations

import base64
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
import scrapy
from scrapy import Request, Spider
from scrapy.http import Response
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet import reactor
from twisted.internet.task import deferLater

from scrapy_vastcaptcha import CaptchaError
from scrapy_vastcaptcha import signals as vc_signals
from scrapy_vastcaptcha.demo.catalog import SITEKEYS
from scrapy_vastcaptcha.demo.spider import ShopSpider, expected_skus
from scrapy_vastcaptcha.testing import DemoSiteHandle, EmulatorHandle
from tests.crawling import captcha_settings, crawl


def failures(spider: Any) -> list[str]:
    assert isinstance(spider, ShopSpider)
    return [f.getErrorMessage() for f in spider.failures]


@pytest_twisted.ensureDeferred
async def test_every_kind_is_solved_with_one_task_per_captcha(
    vastcaptcha_emulator: EmulatorHandle, vastcaptcha_demo_site: DemoSiteHandle
) -> None:
    vastcaptcha_emulator.configure(solve_time=0.2)
    result = await crawl(
        ShopSpider, captcha_settings(vastcaptcha_emulator), site=vastcaptcha_demo_site.url, pages=2
    )
    assert failures(result.crawler.spider) == []
    assert {item["sku"] for item in result.items} == expected_skus(pages=2)
    assert len(result.items) == len(expected_skus(pages=2))

    tasks = vastcaptcha_emulator.tasks()
    by_key = Counter((t["type"], t["fields"].get("websiteKey")) for t in tasks)
    expected = Counter(
        {
            ("RecaptchaV2Task", SITEKEYS["recaptcha-v2"]): 2,
            ("RecaptchaV2Task", SITEKEYS["recaptcha-v2-invisible"]): 2,
            ("RecaptchaV2Task", SITEKEYS["recaptcha-v2-explicit"]): 2,
            ("RecaptchaV3Task", SITEKEYS["recaptcha-v3"]): 2,
            ("RecaptchaV2Task", SITEKEYS["recaptcha-enterprise"]): 2,
            ("HCaptchaTask", SITEKEYS["hcaptcha"]): 2,
            ("TurnstileTask", SITEKEYS["turnstile"]): 2,
            # The second page waits for the first one's clearance: one solve per session.
            ("TurnstileTask", SITEKEYS["turnstile-interstitial"]): 1,
            ("RecaptchaV2Task", SITEKEYS["two-captchas-recaptcha"]): 2,
            ("TurnstileTask", SITEKEYS["two-captchas-turnstile"]): 2,
            ("RecaptchaV2Task", SITEKEYS["iframe"]): 2,
            ("ImageToTextTask", None): 2,
        }
    )
    assert by_key == expected

    def fields(key: str) -> dict[str, Any]:
        return next(t["fields"] for t in tasks if t["fields"].get("websiteKey") == SITEKEYS[key])

    assert fields("recaptcha-v2-invisible")["isInvisible"] is True
    assert "isInvisible" not in fields("recaptcha-v2")
    assert fields("recaptcha-enterprise")["isEnterprise"] is True
    assert fields("recaptcha-enterprise")["pageAction"] == "login"
    assert fields("recaptcha-v3")["pageAction"] == "checkout"
    assert fields("recaptcha-v3")["minScore"] == 0.7
    assert (fields("turnstile")["action"], fields("turnstile")["cData"]) == ("search", "sess-42")
    challenge = fields("turnstile-interstitial")
    assert challenge["action"] == "managed"
    assert challenge["cData"]
    assert challenge["chlPageData"]
    assert fields("iframe")["websiteURL"].startswith(vastcaptcha_demo_site.url + "/iframe/inner")
    for task in tasks:
        if task["type"] == "ImageToTextTask":
            assert base64.b64decode(task["fields"]["body"]).startswith(b"\x89PNG")

    # One solve each, accepted at the first resubmission, reported to the callback.
    stats = result.stats
    assert stats["vastcaptcha/tasks_created"] == len(tasks)
    assert stats["vastcaptcha/solved"] == len(tasks)
    assert stats["vastcaptcha/attempts"] == len(tasks) - 2  # two-captchas: 2 tasks, 1 attempt
    assert stats["vastcaptcha/polls"] >= len(tasks)
    assert stats["vastcaptcha/solve_ms"] > 0
    assert stats["vastcaptcha/detected/turnstile"] == 6
    assert not any(k.startswith("vastcaptcha/failed") for k in stats)
    item = next(i for i in result.items if "HCAPTCHA" in i["sku"])
    assert item["captcha"]["kind"] == "hcaptcha"
    assert item["captcha"]["attempts"] == 1
    assert item["captcha"]["task_id"] in {t["task_id"] for t in tasks}
    assert item["captcha"]["solve_seconds"] > 0
    v3_item = next(i for i in result.items if "RECAPTCHA-V3" in i["sku"])
    assert v3_item["captcha"]["score"] >= 0.7


@pytest_twisted.ensureDeferred
async def test_solves_do_not_hold_downloader_slots(
    vastcaptcha_emulator: EmulatorHandle, vastcaptcha_demo_site: DemoSiteHandle
) -> None:
    """200 captcha pages with CONCURRENT_REQUESTS=16: far more than 16 solves
    are pending at once, so the crawl takes about one solve time, not 13
    rounds of it (benchmarks/ measures the wall time)."""
    vastcaptcha_emulator.configure(solve_time=2.0)
    result = await crawl(
        ShopSpider,
        captcha_settings(
            vastcaptcha_emulator, CONCURRENT_REQUESTS=16, VASTCAPTCHA_POLL_INTERVAL=0.5
        ),
        site=vastcaptcha_demo_site.url,
        pages=200,
        paths=["/recaptcha-v2"],
    )
    assert failures(result.crawler.spider) == []
    assert len(result.items) == 800
    tasks = vastcaptcha_emulator.tasks()
    assert len(tasks) == 200
    events = sorted(
        [(t["created_at"], 1) for t in tasks] + [(t["delivered_at"], -1) for t in tasks]
    )
    pending = peak = 0
    for _, change in events:
        pending += change
        peak = max(peak, pending)
    assert peak >= 4 * 16


class ExplicitSpider(scrapy.Spider):
    """Describes the captcha in meta instead of relying on detection."""

    name = "explicit"

    def __init__(self, site: str, meta: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.site = site
        self.meta = meta
        self.responses: list[Response] = []
        self.errors: list[Any] = []

    async def start(self) -> Any:
        yield Request(
            f"{self.site}/recaptcha-v2?page=3",
            meta={"vastcaptcha": self.meta},
            errback=self.errors.append,
        )

    def parse(self, response: Response) -> Any:
        self.responses.append(response)
        for sku in response.css(".product::attr(data-sku)").getall():
            yield {"sku": sku}


@pytest_twisted.ensureDeferred
async def test_explicit_meta_for_a_token_captcha(
    vastcaptcha_emulator: EmulatorHandle, vastcaptcha_demo_site: DemoSiteHandle
) -> None:
    vastcaptcha_emulator.configure(solve_time=0.1)
    meta = {
        "kind": "recaptcha-v2",
        "sitekey": SITEKEYS["recaptcha-v2"],
        "form": "form#captcha-form",
        "extra": {"note": "from meta"},
    }
    result = await crawl(
        ExplicitSpider,
        captcha_settings(vastcaptcha_emulator, VASTCAPTCHA_DETECT=[]),
        site=vastcaptcha_demo_site.url,
        meta=meta,
    )
    assert len(result.items) == 4
    (task,) = vastcaptcha_emulator.tasks()
    assert task["fields"]["note"] == "from meta"
    assert task["fields"]["websiteKey"] == SITEKEYS["recaptcha-v2"]


@pytest_twisted.ensureDeferred
async def test_false_skips_the_request(
    vastcaptcha_emulator: EmulatorHandle, vastcaptcha_demo_site: DemoSiteHandle
) -> None:
    result = await crawl(
        ExplicitSpider,
        captcha_settings(vastcaptcha_emulator),
        site=vastcaptcha_demo_site.url,
        meta=False,
    )
    spider = result.crawler.spider
    assert isinstance(spider, ExplicitSpider)
    (response,) = spider.responses
    assert response.css(".g-recaptcha")  # the captcha page itself reached the callback
    assert result.items == []
    assert vastcaptcha_emulator.stats()["calls"]["createTask"] == 0
    assert not any(k.startswith("vastcaptcha/") for k in result.stats)


@pytest.mark.parametrize("meta", [{"kind": "nonsense"}, {"kind": "image"}, {"bogus": 1}, "yes"])
@pytest_twisted.ensureDeferred
async def test_bad_meta_fails_into_the_errback(
    vastcaptcha_emulator: EmulatorHandle, vastcaptcha_demo_site: DemoSiteHandle, meta: Any
) -> None:
    result = await crawl(
        ExplicitSpider,
        captcha_settings(vastcaptcha_emulator),
        site=vastcaptcha_demo_site.url,
        meta=meta,
    )
    spider = result.crawler.spider
    assert isinstance(spider, ExplicitSpider)
    (failure,) = spider.errors
    assert failure.check(CaptchaError)
    assert 'meta["vastcaptcha"]' in failure.getErrorMessage()
    assert vastcaptcha_emulator.stats()["calls"]["createTask"] == 0


@pytest_twisted.ensureDeferred
async def test_attempt_limit_fails_into_the_errback(
    vastcaptcha_emulator: EmulatorHandle, vastcaptcha_demo_site: DemoSiteHandle
) -> None:
    # Tokens that expire at once: the site rejects every one and keeps
    # showing the captcha.
    vastcaptcha_emulator.configure(solve_time=0.05, token_ttl=0)
    result = await crawl(
        ShopSpider,
        captcha_settings(vastcaptcha_emulator, VASTCAPTCHA_MAX_ATTEMPTS=2),
        site=vastcaptcha_demo_site.url,
        paths=["/recaptcha-v2"],
    )
    spider = result.crawler.spider
    assert isinstance(spider, ShopSpider)
    (failure,) = spider.failures
    assert failure.check(CaptchaError)
    assert isinstance(failure.value, CaptchaError)
    assert failure.value.code == "MAX_ATTEMPTS"
    assert len(vastcaptcha_emulator.tasks()) == 2
    assert result.stats["vastcaptcha/gave_up"] == 1
    assert result.stats["vastcaptcha/failed/MAX_ATTEMPTS"] == 1
    assert result.items == []


@pytest.mark.parametrize(
    ("account", "reason"),
    [
        ({"disabled": True}, "vastcaptcha_account_disabled"),
        ({"balance": 0}, "vastcaptcha_insufficient_balance"),
        ({"ip_allowed": False}, "vastcaptcha_ip_not_allowed"),
        ({"banned": True}, "vastcaptcha_ip_banned"),
        (None, "vastcaptcha_key_does_not_exist"),
    ],
)
@pytest_twisted.ensureDeferred
async def test_fatal_error_closes_the_spider_without_new_tasks(
    vastcaptcha_emulator: EmulatorHandle,
    vastcaptcha_demo_site: DemoSiteHandle,
    account: dict[str, Any] | None,
    reason: str,
) -> None:
    settings = captcha_settings(vastcaptcha_emulator, VASTCAPTCHA_MAX_CONCURRENT=1)
    if account is None:
        settings["VASTCAPTCHA_API_KEY"] = "not-a-vastcap-key-0123456789"
    else:
        vastcaptcha_emulator.set_account(vastcaptcha_emulator.api_key, **account)
    result = await crawl(
        ShopSpider,
        settings,
        site=vastcaptcha_demo_site.url,
        pages=10,
        paths=["/recaptcha-v2", "/hcaptcha"],
    )
    assert result.reason == reason
    assert vastcaptcha_emulator.stats()["calls"]["createTask"] == 1
    assert result.items == []
    # Without a persistent queue nothing would keep them: every request that
    # met a captcha reached its errback with the account error.
    spider = result.crawler.spider
    assert isinstance(spider, ShopSpider)
    met = sum(v for k, v in result.stats.items() if k.startswith("vastcaptcha/detected/"))
    assert met >= 1
    code = "ERROR_" + reason.removeprefix("vastcaptcha_").upper()
    assert [getattr(f.value, "code", None) for f in spider.failures] == [code] * met


class DelayTokenRequests:
    """Holds the first token-bearing request long enough for its token to go stale,
    as a scheduler backlog or a disk queue would."""

    def __init__(self) -> None:
        self.delayed = 0

    # Scrapy 2.13 passes the spider; later releases may not.
    async def process_request(self, request: Request, spider: Spider | None = None) -> None:
        if request.method == "POST" and not self.delayed:
            self.delayed += 1
            await maybe_deferred_to_future(deferLater(reactor, 0.6, lambda: None))


@pytest_twisted.ensureDeferred
async def test_stale_token_is_solved_again(
    vastcaptcha_emulator: EmulatorHandle, vastcaptcha_demo_site: DemoSiteHandle
) -> None:
    vastcaptcha_emulator.configure(solve_time=0.05)
    result = await crawl(
        ShopSpider,
        captcha_settings(
            vastcaptcha_emulator,
            VASTCAPTCHA_TOKEN_MAX_AGE=0.3,
            DOWNLOADER_MIDDLEWARES={f"{__name__}.DelayTokenRequests": 570},
        ),
        site=vastcaptcha_demo_site.url,
        paths=["/hcaptcha"],
    )
    assert failures(result.crawler.spider) == []
    assert len(result.items) == 4
    assert result.stats["vastcaptcha/token_expired"] == 1
    assert len(vastcaptcha_emulator.tasks()) == 2
    # The stale token never reached the site: one verification, and it passed.
    verifications = vastcaptcha_emulator.stats()["verifications"]
    assert (verifications["total"], verifications["succeeded"]) == (1, 1)


@pytest_twisted.ensureDeferred
async def test_settings_given_as_strings(
    vastcaptcha_emulator: EmulatorHandle, vastcaptcha_demo_site: DemoSiteHandle
) -> None:
    vastcaptcha_emulator.configure(solve_time=0.05)
    settings = captcha_settings(
        vastcaptcha_emulator,
        VASTCAPTCHA_ENABLED="True",
        VASTCAPTCHA_POLL_INTERVAL="0.1",
        VASTCAPTCHA_TIMEOUT="30",
        VASTCAPTCHA_MAX_CONCURRENT="4",
        VASTCAPTCHA_MAX_ATTEMPTS="2",
        VASTCAPTCHA_TOKEN_MAX_AGE="60",
        VASTCAPTCHA_DETECT="hcaptcha,turnstile",
        VASTCAPTCHA_FORWARD_USER_AGENT="1",
        USER_AGENT="TestBot/1.0",
    )
    result = await crawl(
        ShopSpider, settings, site=vastcaptcha_demo_site.url, paths=["/hcaptcha", "/recaptcha-v2"]
    )
    assert {i["sku"] for i in result.items} == expected_skus(1, ["hcaptcha"])
    (task,) = vastcaptcha_emulator.tasks()
    assert task["type"] == "HCaptchaTask"
    assert task["fields"]["userAgent"] == "TestBot/1.0"


@pytest_twisted.ensureDeferred
async def test_signals_are_sent(
    vastcaptcha_emulator: EmulatorHandle, vastcaptcha_demo_site: DemoSiteHandle
) -> None:
    vastcaptcha_emulator.configure(solve_time=0.05)
    seen: list[tuple[str, Any]] = []

    class SignalSpider(ShopSpider):
        @classmethod
        def from_crawler(cls, crawler: Any, *args: Any, **kwargs: Any) -> Any:
            spider = super().from_crawler(crawler, *args, **kwargs)
            for name in ("captcha_detected", "captcha_solved", "captcha_failed"):
                crawler.signals.connect(
                    lambda name=name, **kw: seen.append((name, kw)),
                    signal=getattr(vc_signals, name),
                    weak=False,
                )
            return spider

    await crawl(
        SignalSpider,
        captcha_settings(vastcaptcha_emulator),
        site=vastcaptcha_demo_site.url,
        paths=["/turnstile"],
    )
    names = [name for name, _ in seen]
    assert names == ["captcha_detected", "captcha_solved"]
    detected, solved = (kw for _, kw in seen)
    assert detected["captcha"].kind == "turnstile"
    assert detected["response"].status == 200
    assert solved["result"].token


@pytest_twisted.ensureDeferred
async def test_jobdir_crawl_with_captcha_requests_on_disk(
    vastcaptcha_emulator: EmulatorHandle, vastcaptcha_demo_site: DemoSiteHandle, tmp_path: Path
) -> None:
    vastcaptcha_emulator.configure(solve_time=0.1)
    result = await crawl(
        ShopSpider,
        captcha_settings(vastcaptcha_emulator, JOBDIR=str(tmp_path / "job")),
        site=vastcaptcha_demo_site.url,
        paths=["/recaptcha-v2", "/turnstile", "/image"],
        pages=3,
    )
    assert failures(result.crawler.spider) == []
    assert {i["sku"] for i in result.items} == expected_skus(
        3, ["recaptcha-v2", "turnstile", "image"]
    )
    # The resubmissions (token and form state in meta) went through the disk queue.
    assert result.stats["scheduler/enqueued/disk"] >= 9 + 9


@pytest_twisted.ensureDeferred
async def test_polls_stop_when_the_spider_closes(
    vastcaptcha_emulator: EmulatorHandle, vastcaptcha_demo_site: DemoSiteHandle
) -> None:
    vastcaptcha_emulator.configure(solve_time=60)
    result = await crawl(
        ShopSpider,
        captcha_settings(vastcaptcha_emulator, CLOSESPIDER_TIMEOUT=1),
        site=vastcaptcha_demo_site.url,
        paths=["/recaptcha-v2"],
    )
    assert result.reason == "closespider_timeout"
    polls = vastcaptcha_emulator.stats()["polls"]["total"]
    assert polls > 0
    # Run something else that takes several poll intervals; the dead task must not move.
    vastcaptcha_emulator.configure(solve_time=0.3)
    await crawl(
        ShopSpider,
        captcha_settings(vastcaptcha_emulator),
        site=vastcaptcha_demo_site.url,
        paths=["/hcaptcha"],
    )
    (dead,) = [t for t in vastcaptcha_emulator.tasks() if t["type"] == "RecaptchaV2Task"]
    assert dead["polls"] == polls

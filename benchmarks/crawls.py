"""Benchmark crawls: one spider, three middleware set-ups, timings and stats.

The spider fetches ``captcha_pages`` reCAPTCHA v2 pages of the demo shop
(``/recaptcha-v2?page=N``, a form that must be resubmitted with a token; or
``captcha_path`` of another site, e.g. scenario 6's gated site) and
``plain_pages`` pages without a captcha (the shop's index, ``/?n=N``: the
site ignores that query, so each URL is a distinct request for the same page).
It records when the spider opened, when each page behind a captcha reached
its callback, and when the last plain page did.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal

import scrapy
from scrapy import signals
from scrapy.crawler import Crawler, CrawlerRunner
from scrapy.exceptions import CloseSpider
from scrapy.http import Response
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.python.failure import Failure

from benchmarks.baselines import SOLVED_KEY
from scrapy_vastcaptcha.testing import EmulatorHandle

Contender = Literal["ours", "async", "blocking"]
CONTENDERS: tuple[Contender, ...] = ("ours", "async", "blocking")
LABELS: dict[Contender, str] = {
    "ours": "scrapy-vastcaptcha",
    "async": "async SDK baseline",
    "blocking": "blocking SDK baseline",
}

CAPTCHA_PATH = "/recaptcha-v2"


class BenchSpider(scrapy.Spider):
    """Captcha pages, then plain pages (``captcha_priority`` > 0: captcha pages first)."""

    name = "bench"

    def __init__(
        self,
        site: str,
        captcha_pages: int = 0,
        plain_pages: int = 0,
        *,
        solve: bool = True,
        close_after_plain: bool = False,
        captcha_priority: int = 0,
        captcha_path: str = CAPTCHA_PATH,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.site = site
        self.captcha_path = captcha_path
        self.captcha_pages = captcha_pages
        self.plain_pages = plain_pages
        self.solve = solve
        self.close_after_plain = close_after_plain
        self.captcha_priority = captcha_priority
        self.opened = 0.0
        self.solved_times: list[float] = []
        self.captcha_fetched = 0
        self.unsolved: list[str] = []
        self.plain = 0
        self.plain_done: float | None = None
        self.failures: list[str] = []

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> BenchSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        crawler.signals.connect(spider._opened, signal=signals.spider_opened)
        return spider

    def _opened(self, spider: scrapy.Spider) -> None:
        self.opened = time.monotonic()

    async def start(self) -> AsyncIterator[scrapy.Request]:
        # solve=False fetches the same pages with every solver told to skip them.
        meta: dict[str, Any] = {} if self.solve else {"vastcaptcha": False, SOLVED_KEY: True}
        for page in range(1, self.captcha_pages + 1):
            yield scrapy.Request(
                f"{self.site}{self.captcha_path}?page={page}",
                callback=self.parse_captcha,
                errback=self.failed,
                priority=self.captcha_priority,
                meta=dict(meta),
            )
        for n in range(self.plain_pages):
            yield scrapy.Request(
                f"{self.site}/?n={n}", callback=self.parse_plain, errback=self.failed
            )

    def parse_captcha(self, response: Response) -> None:
        self.captcha_fetched += 1
        if response.css(".product"):
            self.solved_times.append(time.monotonic())
        elif self.solve:
            self.unsolved.append(response.url)

    def parse_plain(self, response: Response) -> None:
        self.plain += 1
        if self.plain == self.plain_pages:
            self.plain_done = time.monotonic()
            if self.close_after_plain:
                raise CloseSpider("plain_pages_done")

    def failed(self, failure: Failure) -> None:
        self.failures.append(f"{failure.type.__name__ if failure.type else '?'}: {failure.value}")


@dataclass
class CrawlMetrics:
    contender: Contender
    captcha_pages: int
    plain_pages: int
    solved: int
    unsolved: int
    plain: int
    failures: list[str]
    #: spider opened -> last page behind a captcha in its callback (s)
    solve_wall: float | None
    #: spider opened -> last plain page in its callback (s)
    plain_wall: float | None
    #: whole crawl, runner start to finish (s)
    total_wall: float
    finish_reason: str | None
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def plain_pps(self) -> float | None:
        if not self.plain_wall or not self.plain:
            return None
        return self.plain / self.plain_wall

    def check(self) -> None:
        """Fail loudly when the crawl did not do what it was asked."""
        problems = []
        if self.failures:
            problems.append(f"{len(self.failures)} failure(s), first: {self.failures[0]}")
        if self.unsolved:
            problems.append(f"{self.unsolved} captcha page(s) still showed the captcha")
        if problems:
            raise RuntimeError(f"{LABELS[self.contender]} crawl went wrong: {'; '.join(problems)}")


def settings_for(
    contender: Contender,
    emulator: EmulatorHandle,
    *,
    poll_interval: float | None,
    sdk_polling: float,
    concurrency: int = 16,
    **overrides: Any,
) -> dict[str, Any]:
    """Crawl settings for one contender against ``emulator``.

    ``poll_interval`` is ours (``None``: the real schedule, 5 s then 3 s);
    ``sdk_polling`` is the SDK's sleep between polls.
    """
    settings: dict[str, Any] = {
        "LOG_LEVEL": "WARNING",
        "TELNETCONSOLE_ENABLED": False,
        "ROBOTSTXT_OBEY": False,
        # One host (the demo site): the per-domain limit (8 by default) would
        # otherwise halve the downloader's 16 slots.
        "CONCURRENT_REQUESTS": concurrency,
        "CONCURRENT_REQUESTS_PER_DOMAIN": concurrency,
    }
    if contender == "ours":
        settings.update(
            {
                "ADDONS": {"scrapy_vastcaptcha.Addon": 500},
                "VASTCAPTCHA_API_KEY": emulator.api_key,
                "VASTCAPTCHA_API_URL": emulator.api_url,
                "VASTCAPTCHA_LOG_INTERVAL": 3600,
            }
        )
        if poll_interval is not None:
            settings["VASTCAPTCHA_POLL_INTERVAL"] = poll_interval
    else:
        middleware = "AsyncSdkMiddleware" if contender == "async" else "BlockingSdkMiddleware"
        settings.update(
            {
                "DOWNLOADER_MIDDLEWARES": {f"benchmarks.baselines.{middleware}": 580},
                "SDK_API_KEY": emulator.api_key,
                "SDK_API_URL": emulator.api_url,
                "SDK_POLLING": sdk_polling,
            }
        )
    settings.update(overrides)
    return settings


async def run_crawl(
    contender: Contender,
    settings: dict[str, Any],
    site: str,
    *,
    captcha_pages: int = 0,
    plain_pages: int = 0,
    solve: bool = True,
    close_after_plain: bool = False,
    captcha_priority: int = 0,
    captcha_path: str = CAPTCHA_PATH,
) -> CrawlMetrics:
    """Run one crawl to the end (on the running asyncio reactor)."""
    runner = CrawlerRunner(settings)
    crawler = runner.create_crawler(BenchSpider)
    started = time.monotonic()
    await maybe_deferred_to_future(
        runner.crawl(
            crawler,
            site=site,
            captcha_pages=captcha_pages,
            plain_pages=plain_pages,
            solve=solve,
            close_after_plain=close_after_plain,
            captcha_priority=captcha_priority,
            captcha_path=captcha_path,
        )
    )
    total = time.monotonic() - started
    spider = crawler.spider
    assert isinstance(spider, BenchSpider)
    assert crawler.stats is not None
    stats = crawler.stats.get_stats()
    solved = len(spider.solved_times)
    return CrawlMetrics(
        contender=contender,
        captcha_pages=captcha_pages,
        plain_pages=plain_pages,
        solved=solved,
        unsolved=len(spider.unsolved),
        plain=spider.plain,
        failures=spider.failures,
        solve_wall=max(spider.solved_times) - spider.opened if solved else None,
        plain_wall=spider.plain_done - spider.opened if spider.plain_done else None,
        total_wall=total,
        finish_reason=stats.get("finish_reason"),
        stats={k: v for k, v in stats.items() if isinstance(v, int | float | str)},
    )

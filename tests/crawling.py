"""Run real Scrapy crawls inside the test reactor and collect what they produce."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from scrapy import Spider, signals
from scrapy.crawler import Crawler, CrawlerRunner

from scrapy_vastcaptcha.testing import EmulatorHandle


def captcha_settings(emulator: EmulatorHandle, **overrides: Any) -> dict[str, Any]:
    """Settings for a crawl through the add-on against the emulator, fast polls."""
    settings: dict[str, Any] = {
        "ADDONS": {"scrapy_vastcaptcha.Addon": 500},
        "VASTCAPTCHA_API_KEY": emulator.api_key,
        "VASTCAPTCHA_API_URL": emulator.api_url,
        "VASTCAPTCHA_POLL_INTERVAL": 0.1,
        "LOG_LEVEL": "INFO",
        "TELNETCONSOLE_ENABLED": False,
        "REQUEST_FINGERPRINTER_IMPLEMENTATION": "2.7",
        "ROBOTSTXT_OBEY": False,
    }
    settings.update(overrides)
    return settings


@dataclass
class CrawlResult:
    crawler: Crawler
    items: list[dict[str, Any]] = field(default_factory=list)
    errors: list[Any] = field(default_factory=list)

    @property
    def stats(self) -> dict[str, Any]:
        assert self.crawler.stats is not None
        return self.crawler.stats.get_stats()

    @property
    def reason(self) -> str | None:
        return self.stats.get("finish_reason")


async def crawl(spider_cls: type[Spider], settings: dict[str, Any], **kwargs: Any) -> CrawlResult:
    runner = CrawlerRunner(settings)
    crawler = runner.create_crawler(spider_cls)
    result = CrawlResult(crawler)

    def on_item(item: Any) -> None:
        result.items.append(dict(item))

    crawler.signals.connect(on_item, signal=signals.item_scraped)
    await runner.crawl(crawler, **kwargs)
    return result

"""Run real Scrapy crawls (in the test reactor or in a process of their own) and collect results."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scrapy import Request, Spider, signals
from scrapy.crawler import Crawler, CrawlerRunner
from scrapy.http import Response
from twisted.python.failure import Failure

from scrapy_vastcaptcha.demo.spider import expected_skus
from scrapy_vastcaptcha.testing import DemoSiteHandle, EmulatorHandle


def captcha_settings(emulator: EmulatorHandle, **overrides: Any) -> dict[str, Any]:
    """Settings for a crawl through the add-on against the emulator, fast polls."""
    settings: dict[str, Any] = {
        "ADDONS": {"scrapy_vastcaptcha.Addon": 500},
        "VASTCAPTCHA_API_KEY": emulator.api_key,
        "VASTCAPTCHA_API_URL": emulator.api_url,
        "VASTCAPTCHA_POLL_INTERVAL": 0.1,
        "LOG_LEVEL": "INFO",
        "TELNETCONSOLE_ENABLED": False,
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


# -- crawls in their own process (tests.shop_crawl_main) ----------------------

ROOT = Path(__file__).parent.parent


def start_crawl(
    emulator: EmulatorHandle,
    site: DemoSiteHandle,
    workdir: Path,
    name: str,
    *settings: str,
    pages: int = 1,
    paths: str = "",
    api_key: str | None = None,
    stay_idle: bool = False,
) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-m",
        "tests.shop_crawl_main",
        "--site",
        site.url,
        "--api-url",
        emulator.api_url,
        "--api-key",
        api_key or emulator.api_key,
        "--out",
        str(workdir / "items.jsonl"),
        "--stats",
        str(workdir / f"{name}.stats.json"),
        "--pages",
        str(pages),
        "--paths",
        paths,
    ]
    for setting in settings:
        command += ["-s", setting]
    if stay_idle:
        command.append("--stay-idle")
    # The child keeps its own copy of the descriptor.
    with (workdir / f"{name}.log").open("wb") as log:
        return subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)


def finish(process: subprocess.Popen[bytes], workdir: Path, name: str) -> dict[str, object]:
    try:
        code = process.wait(timeout=120)
    except subprocess.TimeoutExpired:
        process.kill()
        raise
    log = (workdir / f"{name}.log").read_text()
    assert code == 0, log[-3000:]
    stats: dict[str, object] = json.loads((workdir / f"{name}.stats.json").read_text())
    return stats


def run_crawl(
    emulator: EmulatorHandle,
    site: DemoSiteHandle,
    workdir: Path,
    name: str,
    *settings: str,
    **options: Any,
) -> dict[str, object]:
    """A shop crawl in its own process, to its end: its stats."""
    return finish(start_crawl(emulator, site, workdir, name, *settings, **options), workdir, name)


def resume_to_the_end(
    emulator: EmulatorHandle,
    site: DemoSiteHandle,
    workdir: Path,
    jobdir: str,
    paths: str,
    pages: int,
) -> None:
    """Resume a JOBDIR crawl of ``paths``: it finishes, no request reaches an
    errback, and over both runs every item was scraped exactly once."""
    stats = run_crawl(emulator, site, workdir, "resumed", jobdir, pages=pages, paths=paths)
    assert stats["finish_reason"] == "finished"
    assert stats["errbacks"] == []
    kinds = [path.strip("/") for path in paths.split(",")]
    skus = Counter(str(item["sku"]) for item in items(workdir))
    assert set(skus) == expected_skus(pages, kinds)
    assert max(skus.values()) == 1


def items(workdir: Path) -> list[dict[str, object]]:
    path = workdir / "items.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line]


# -- a crawl of given requests, for pages served by tests.static_site ----------


class RequestsSpider(Spider):
    """Sends ``requests`` and keeps what comes back: responses and errback failures."""

    name = "requests"

    def __init__(self, requests: list[Request], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.responses: list[Response] = []
        self.errors: list[Failure] = []
        self.requests = [
            r.replace(callback=self.parse, errback=self.errors.append, dont_filter=True)
            for r in requests
        ]

    async def start(self) -> AsyncIterator[Request]:
        for request in self.requests:
            yield request

    def parse(self, response: Response) -> None:
        self.responses.append(response)


async def crawl_requests(emulator: EmulatorHandle, requests: list[Request]) -> RequestsSpider:
    """Crawl ``requests`` through the add-on against ``emulator``."""
    result = await crawl(RequestsSpider, captcha_settings(emulator), requests=requests)
    spider = result.crawler.spider
    assert isinstance(spider, RequestsSpider)
    return spider

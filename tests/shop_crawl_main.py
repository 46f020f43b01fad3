"""Run the shop spider in its own process: ``python -m tests.shop_crawl_main ...``.

Used by tests that need a real process (SIGINT, two crawlers sharing Redis).
Items are appended to ``--out`` as JSON lines; the crawl's stats are written
to ``--stats`` when it ends.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from scrapy import signals
from scrapy.crawler import CrawlerProcess
from scrapy.exceptions import DontCloseSpider

from scrapy_vastcaptcha.demo.spider import ShopSpider


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--site", required=True)
    parser.add_argument("--api-url", required=True)
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--stats", required=True)
    parser.add_argument("--pages", type=int, default=1)
    parser.add_argument("--paths", default="")
    parser.add_argument("-s", dest="settings", action="append", default=[])
    parser.add_argument(
        "--stay-idle",
        action="store_true",
        help="do not close when idle (as a RedisSpider): other processes may queue work",
    )
    args = parser.parse_args()
    settings: dict[str, Any] = {
        "ADDONS": {"scrapy_vastcaptcha.Addon": 500},
        "VASTCAPTCHA_API_KEY": args.api_key,
        "VASTCAPTCHA_API_URL": args.api_url,
        "VASTCAPTCHA_POLL_INTERVAL": 0.1,
        "TELNETCONSOLE_ENABLED": False,
        "LOG_LEVEL": "INFO",
        "FEEDS": {args.out: {"format": "jsonlines", "overwrite": False}},
    }
    for pair in args.settings:
        name, _, value = pair.partition("=")
        settings[name] = value
    process = CrawlerProcess(settings)
    crawler = process.create_crawler(ShopSpider)

    def dump_stats(spider: Any, reason: str) -> None:
        assert crawler.stats is not None
        stats = {k: v for k, v in crawler.stats.get_stats().items() if isinstance(v, (int, str))}
        # Errbacks, by code: every request must end in exactly one callback or errback.
        errbacks = [getattr(f.value, "code", repr(f.value)) for f in spider.failures]
        with open(args.stats, "w") as f:
            json.dump({**stats, "finish_reason": reason, "errbacks": errbacks}, f)

    crawler.signals.connect(dump_stats, signal=signals.spider_closed)
    if args.stay_idle:

        def stay(spider: Any) -> None:
            raise DontCloseSpider

        crawler.signals.connect(stay, signal=signals.spider_idle, weak=False)
    process.crawl(
        crawler,
        site=args.site,
        pages=args.pages,
        paths=[p for p in args.paths.split(",") if p] or None,
    )
    process.start()


if __name__ == "__main__":
    main()

"""``vastcaptcha demo``: the whole product on the bundled emulator, in one command.

Starts the emulator and the demo shop, crawls every page of the shop with
Scrapy through the add-on (every captcha kind), then solves the shop's pages
in a real browser with the Playwright helper, and reports what happened. With
``--start-url`` and an API key, the same crawl runs against the real service.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import time
from collections import Counter, defaultdict
from typing import Any

from scrapy_vastcaptcha.api.credentials import ENV_API_KEY
from scrapy_vastcaptcha.cli._common import add_api_arguments

#: Solve times of the emulator in the demo: like the service's 5-30 s, ten times faster.
DEMO_SOLVE_TIME = "0.5:3"
DEMO_POLL_INTERVAL = 0.3
#: The demo shop's session-wide challenge: its pages are crawled at Scrapy's
#: concurrency so that one solve serves them all.
SESSION_WIDE_KIND = "turnstile-interstitial"
INTERSTITIAL_PAGES = 16


def configure(parser: argparse.ArgumentParser) -> None:
    add_api_arguments(parser)
    parser.add_argument(
        "--start-url",
        help="crawl this site on the real service instead (needs an API key)",
    )
    parser.add_argument("--pages", type=int, default=2, help="pages per captcha kind (offline)")
    parser.add_argument(
        "--interstitial-pages",
        type=int,
        default=INTERSTITIAL_PAGES,
        help="pages behind the shop's session-wide interstitial, solved once for all of them "
        "(offline; default: %(default)s)",
    )
    parser.add_argument(
        "--solve-time",
        default=DEMO_SOLVE_TIME,
        help="emulator solve time in seconds, MIN:MAX (default: %(default)s, the service's "
        "5-30 s scaled down ten times)",
    )
    parser.add_argument("--no-browser", action="store_true", help="skip the Playwright part")


def run(args: argparse.Namespace) -> int:
    if args.start_url:
        if not (args.api_key or os.environ.get(ENV_API_KEY)):
            print(f"error: --start-url needs --api-key or {ENV_API_KEY}", file=sys.stderr)
            return 2
        return _crawl_real_site(args)
    return _offline_demo(args)


def _offline_demo(args: argparse.Namespace) -> int:
    from scrapy_vastcaptcha.demo.catalog import PAGES_BY_KIND
    from scrapy_vastcaptcha.demo.spider import ShopSpider
    from scrapy_vastcaptcha.testing import DemoSiteHandle, EmulatorHandle, quiet_offline

    quiet_offline()
    print("Starting the VastCap emulator and the demo shop (offline, no API key needed)...")
    with (
        EmulatorHandle.launch("--solve-time", args.solve_time) as emulator,
        DemoSiteHandle.launch(emulator.url) as site,
    ):
        print(f"  emulator:  {emulator.api_url} (solves take {args.solve_time} s)")
        print(f"  demo shop: {site.url}\n")
        print(
            f"Scrapy: crawling {args.pages} page(s) of each protected page kind, "
            f"{args.interstitial_pages} behind the session-wide interstitial..."
        )
        started = time.monotonic()
        crawl = _run_crawl(
            ShopSpider,
            {
                "VASTCAPTCHA_API_KEY": emulator.api_key,
                "VASTCAPTCHA_API_URL": emulator.api_url,
                "VASTCAPTCHA_POLL_INTERVAL": DEMO_POLL_INTERVAL,
            },
            site=site.url,
            pages=args.pages,
            pages_per_path={PAGES_BY_KIND[SESSION_WIDE_KIND].path: args.interstitial_pages},
        )
        elapsed = time.monotonic() - started
        _report_crawl(crawl, elapsed, emulator.tasks())
        failed = bool(crawl["failures"]) or crawl["reason"] != "finished"
        if not args.no_browser:
            failed |= _browser_demo(emulator.api_url, emulator.api_key, site.url) != 0
    return 1 if failed else 0


def _run_crawl(spider_cls: Any, settings: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """Run one crawl in this process and return what the report needs."""
    from scrapy import signals
    from scrapy.crawler import CrawlerProcess

    process = CrawlerProcess(
        {
            "ADDONS": {"scrapy_vastcaptcha.Addon": 500},
            "LOG_LEVEL": "WARNING",
            "TELNETCONSOLE_ENABLED": False,
            "EXTENSIONS": {"scrapy_vastcaptcha.cli.demo.Progress": 0},
            **settings,
        }
    )
    crawler = process.create_crawler(spider_cls)
    items: list[dict[str, Any]] = []
    crawler.signals.connect(lambda item: items.append(dict(item)), signals.item_scraped, weak=False)
    process.crawl(crawler, **kwargs)
    process.start()
    assert crawler.stats is not None
    stats = crawler.stats.get_stats()
    spider = crawler.spider
    return {
        "items": items,
        "stats": stats,
        "reason": stats.get("finish_reason"),
        "failures": [f.getErrorMessage() for f in getattr(spider, "failures", [])],
    }


class Progress:
    """Prints a progress line every second while the crawl runs."""

    def __init__(self, crawler: Any) -> None:
        from twisted.internet.task import LoopingCall

        self.crawler = crawler
        self.loop = LoopingCall(self.show)
        from scrapy import signals

        crawler.signals.connect(self.opened, signals.spider_opened)
        crawler.signals.connect(self.closed, signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler: Any) -> Progress:
        return cls(crawler)

    def opened(self) -> None:
        self.loop.start(1.0, now=False)

    def closed(self) -> None:
        if self.loop.running:
            self.loop.stop()

    def show(self) -> None:
        stats = self.crawler.stats
        found = sum(
            v for k, v in stats.get_stats().items() if k.startswith("vastcaptcha/detected/")
        )
        solved = stats.get_value("vastcaptcha/solved", 0)
        failed = sum(v for k, v in stats.get_stats().items() if k.startswith("vastcaptcha/failed/"))
        items = stats.get_value("item_scraped_count", 0)
        pages = stats.get_value("response_received_count", 0)
        print(
            f"  ... {pages} pages, {items} items, captchas: {found} found, "
            f"{solved} solved, {failed} failed, {stats.get_value('vastcaptcha/polls', 0)} polls",
            flush=True,
        )


_TYPE_KIND = {
    "RecaptchaV2Task": "reCAPTCHA v2",
    "RecaptchaV3Task": "reCAPTCHA v3",
    "HCaptchaTask": "hCaptcha",
    "TurnstileTask": "Turnstile",
    "FunCaptchaTask": "FunCaptcha",
    "ImageToTextTask": "image",
}


def _report_crawl(crawl: dict[str, Any], elapsed: float, tasks: list[dict[str, Any]]) -> None:
    items = crawl["items"]
    stats = crawl["stats"]
    # SKUs are "<PAGE-KIND>-<number>".
    pages = Counter(item["sku"].rsplit("-", 1)[0].lower() for item in items)
    print(f"\nScrapy crawl finished ({crawl['reason']}) in {elapsed:.1f} s: {len(items)} items")
    for page, count in sorted(pages.items()):
        print(f"  {page:<24} {count} items")
    rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for task in tasks:
        kind = _TYPE_KIND.get(task["type"], task["type"])
        if task["fields"].get("isEnterprise"):
            kind += " Enterprise"
        rows[kind].append(task)
    print(f"\n  {'captcha kind':<24} {'solved':>6} {'polls':>6} {'mean solve':>11}")
    for kind, group in sorted(rows.items()):
        done = [t for t in group if t.get("delivered_at")]
        polls = sum(t["polls"] for t in group)
        mean = sum(t["delivered_at"] - t["created_at"] for t in done) / len(done) if done else 0.0
        print(f"  {kind:<24} {len(done):>6} {polls:>6} {mean:>10.2f}s")
    polls = sum(t["polls"] for t in tasks)
    solved = stats.get("vastcaptcha/solved", 0)
    print(
        f"  {'total':<24} {solved:>6} {polls:>6}   ({polls / max(solved, 1):.1f} polls per solve)"
    )
    print("\n  Session-wide challenge (its clearance opens every page of the session):")
    print(f"    {_session_saving(crawl, tasks)}")
    failures = {
        k.split("/", 2)[2]: v for k, v in stats.items() if k.startswith("vastcaptcha/failed/")
    }
    if failures or crawl["failures"]:
        print("\n  Failures:")
        for code, count in sorted(failures.items()):
            print(f"    {code}: {count}")
        for message in crawl["failures"]:
            print(f"    request failed: {message}")
    else:
        print("\n  No failures.")


def _session_saving(crawl: dict[str, Any], tasks: list[dict[str, Any]]) -> str:
    """How many interstitial pages went through and how many solves they cost,
    e.g. ``turnstile-interstitial: 16 pages, 1 solve (15 waited on a shared solve)``."""
    from scrapy_vastcaptcha.demo.catalog import SITEKEYS

    prefix = SESSION_WIDE_KIND.upper() + "-"
    pages = len({item["url"] for item in crawl["items"] if item["sku"].startswith(prefix)})
    # Every task is a solve paid for, whether or not its token was used.
    solves = sum(
        1 for task in tasks if task["fields"].get("websiteKey") == SITEKEYS[SESSION_WIDE_KIND]
    )
    # Only the interstitial is session-wide in the shop: every wait was on it.
    waited = crawl["stats"].get("vastcaptcha/coalesced", 0)
    return (
        f"{SESSION_WIDE_KIND}: {pages} page{'s' * (pages != 1)}, "
        f"{solves} solve{'s' * (solves != 1)} ({waited} waited on a shared solve)"
    )


def _browser_demo(api_url: str, api_key: str, site: str) -> int:
    """The Playwright part, in its own process (it needs a browser and its own loop)."""
    if importlib.util.find_spec("playwright") is None:
        print(
            '\nPlaywright part skipped: pip install "scrapy-vastcaptcha[playwright]" '
            "(or run scripts/demo.sh, which sets everything up)"
        )
        return 0
    print("\nPlaywright: solving the shop's pages in Chromium...")
    command = [sys.executable, "-m", "scrapy_vastcaptcha.demo.browser_demo", "--site", site]
    env = {**os.environ, "VASTCAPTCHA_API_URL": api_url, ENV_API_KEY: api_key}
    return subprocess.call(command, env=env)


def _crawl_real_site(args: argparse.Namespace) -> int:
    from scrapy_vastcaptcha.demo.spider import SiteSpider

    print(f"Crawling {args.start_url} through the real VastCap service...")
    settings: dict[str, Any] = {}
    if args.api_key:
        settings["VASTCAPTCHA_API_KEY"] = args.api_key
    if args.api_url:
        settings["VASTCAPTCHA_API_URL"] = args.api_url
    started = time.monotonic()
    crawl = _run_crawl(SiteSpider, settings, start_url=args.start_url, max_pages=args.pages * 10)
    stats = crawl["stats"]
    print(f"\nCrawl finished ({crawl['reason']}) in {time.monotonic() - started:.1f} s")
    for key in sorted(k for k in stats if k.startswith("vastcaptcha/")):
        print(f"  {key}: {stats[key]}")
    return 0 if crawl["reason"] == "finished" else 1

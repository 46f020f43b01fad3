"""Scenario 4 in a fresh process: many solves pending at once, memory and CPU.

Crawls ``--solves`` reCAPTCHA v2 pages through the middleware with
``VASTCAPTCHA_MAX_CONCURRENT`` as large, the real polling schedule (first
poll after 5 s, then every 3 s) and an emulator that takes far longer than
the measurement to solve. Once every task is created, it measures this
process's CPU over ``--window`` seconds, samples its RSS all along, then
closes the spider (the pending solves are cancelled) and prints one JSON
line. Run by ``python -m benchmarks``; the emulator must already be
configured with a long solve time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

from scrapy.crawler import CrawlerRunner
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet.task import LoopingCall

from benchmarks import runtime
from benchmarks.crawls import BenchSpider
from benchmarks.measure import self_cpu, self_rss


async def probe(args: argparse.Namespace) -> dict[str, Any]:
    settings = {
        "LOG_LEVEL": "ERROR",
        "TELNETCONSOLE_ENABLED": False,
        "ROBOTSTXT_OBEY": False,
        "CONCURRENT_REQUESTS": 16,
        "CONCURRENT_REQUESTS_PER_DOMAIN": 16,
        "ADDONS": {"scrapy_vastcaptcha.Addon": 500},
        "VASTCAPTCHA_API_KEY": args.api_key,
        "VASTCAPTCHA_API_URL": args.api_url,
        "VASTCAPTCHA_MAX_CONCURRENT": args.solves,
        "VASTCAPTCHA_TIMEOUT": 3600,
        "VASTCAPTCHA_LOG_INTERVAL": 3600,
    }
    runner = CrawlerRunner(settings)
    crawler = runner.create_crawler(BenchSpider)
    rss_before_crawl = self_rss()
    samples: list[int] = []
    sampler = LoopingCall(lambda: samples.append(self_rss()))
    sampler.start(0.1, now=True)
    done = maybe_deferred_to_future(
        runner.crawl(crawler, site=args.site, captcha_pages=args.solves)
    )

    def stat(name: str) -> int:
        assert crawler.stats is not None
        return int(crawler.stats.get_value(f"vastcaptcha/{name}", 0))

    spider_opened_rss = None
    started = time.monotonic()
    while stat("tasks_created") < args.solves:
        if spider_opened_rss is None and crawler.spider is not None:
            spider_opened_rss = samples[-1]
        if time.monotonic() - started > args.setup_timeout:
            raise RuntimeError(
                f"only {stat('tasks_created')} of {args.solves} tasks created "
                f"in {args.setup_timeout:g} s"
            )
        await asyncio.sleep(0.05)
    setup_seconds = time.monotonic() - started
    rss_all_pending = self_rss()
    cpu0, wall0, polls0 = self_cpu(), time.monotonic(), stat("polls")
    rss_window_start = len(samples)
    await asyncio.sleep(args.window)
    cpu1, wall1, polls1 = self_cpu(), time.monotonic(), stat("polls")
    window_samples = samples[rss_window_start:]
    pending = stat("tasks_created") - stat("solved")
    engine = crawler.engine
    assert engine is not None
    await engine.close_spider_async(reason="benchmark_done")
    await done
    sampler.stop()
    baseline = spider_opened_rss or rss_before_crawl
    wall = wall1 - wall0
    return {
        "solves": args.solves,
        "pending_during_window": pending,
        "setup_seconds": round(setup_seconds, 2),
        "window_seconds": round(wall, 2),
        "rss_before_crawl_mb": round(rss_before_crawl / 2**20, 1),
        "rss_at_spider_open_mb": round(baseline / 2**20, 1),
        "rss_all_pending_mb": round(rss_all_pending / 2**20, 1),
        "rss_peak_mb": round(max(samples) / 2**20, 1),
        "rss_peak_in_window_mb": round(max(window_samples, default=0) / 2**20, 1),
        "rss_growth_mb": round((max(samples) - baseline) / 2**20, 1),
        "cpu_seconds_in_window": round(cpu1 - cpu0, 3),
        "cpu_percent_of_one_core": round(100 * (cpu1 - cpu0) / wall, 2),
        "polls_in_window": polls1 - polls0,
        "polls_per_second": round((polls1 - polls0) / wall, 1),
    }


async def probe_sdk(args: argparse.Namespace) -> dict[str, Any]:
    """The same wait with the SDK's aiohttp client (``async with`` per solve, as
    documented; polls at once, then every 3 s), for comparison."""
    from vastcap import AsyncVast, RecaptchaV2Task

    from scrapy_vastcaptcha.demo.catalog import SITEKEYS

    polls = 0

    async def solve(page: int) -> None:
        nonlocal polls
        async with AsyncVast(args.api_key) as client:
            client.API_BASE_URL = args.api_url
            original = client.get_task_result

            async def counted(task_id: str) -> Any:
                nonlocal polls
                polls += 1
                return await original(task_id)

            client.get_task_result = counted  # type: ignore[method-assign]
            await client.solve(
                RecaptchaV2Task(
                    website_url=f"{args.site}/recaptcha-v2?page={page}",
                    website_key=SITEKEYS["recaptcha-v2"],
                ),
                timeout=3600,
            )

    rss0 = self_rss()
    samples: list[int] = [rss0]
    sampler = LoopingCall(lambda: samples.append(self_rss()))
    sampler.start(0.1, now=True)
    started = time.monotonic()
    tasks = [asyncio.ensure_future(solve(page)) for page in range(1, args.solves + 1)]
    await asyncio.sleep(args.window / 3)  # creation and first polls
    setup_seconds = time.monotonic() - started
    cpu0, wall0, polls0 = self_cpu(), time.monotonic(), polls
    await asyncio.sleep(args.window)
    cpu1, wall1, polls1 = self_cpu(), time.monotonic(), polls
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    sampler.stop()
    wall = wall1 - wall0
    return {
        "solves": args.solves,
        "setup_seconds": round(setup_seconds, 2),
        "window_seconds": round(wall, 2),
        "rss_growth_mb": round((max(samples) - rss0) / 2**20, 1),
        "cpu_seconds_in_window": round(cpu1 - cpu0, 3),
        "cpu_percent_of_one_core": round(100 * (cpu1 - cpu0) / wall, 2),
        "polls_in_window": polls1 - polls0,
        "polls_per_second": round((polls1 - polls0) / wall, 1),
    }


async def probe_client(args: argparse.Namespace) -> dict[str, Any]:
    """The client alone (no crawl) with ``--solves`` pending on the fixed
    schedule: what one poll costs. ``--client agent`` makes its calls through
    Twisted's ``Agent`` (the client's transport before the lean path),
    ``--client lean`` through its own keep-alive connections."""
    from twisted.internet import reactor
    from twisted.web.client import Agent, HTTPConnectionPool

    from scrapy_vastcaptcha.api.client import CONNECT_TIMEOUT, VastCaptchaClient
    from scrapy_vastcaptcha.api.tasks import RecaptchaV2Task
    from scrapy_vastcaptcha.demo.catalog import SITEKEYS

    agent = None
    pool = None
    if args.client == "agent":
        pool = HTTPConnectionPool(reactor, persistent=True)
        pool.maxPersistentPerHost = 32
        agent = Agent(reactor, pool=pool, connectTimeout=CONNECT_TIMEOUT)
    polls = created = 0

    def count(event: Any) -> None:
        nonlocal polls, created
        polls += event.name == "polled"
        created += event.name == "created"

    client = VastCaptchaClient(args.api_key, args.api_url, on_event=count, agent=agent)
    solves = [
        client.solve(
            RecaptchaV2Task(
                website_url=f"{args.site}/recaptcha-v2?page={page}",
                website_key=SITEKEYS["recaptcha-v2"],
            ),
            timeout=3600,
        )
        for page in range(1, args.solves + 1)
    ]
    for solve in solves:
        solve.addErrback(lambda _: None)
    started = time.monotonic()
    while created < args.solves:
        if time.monotonic() - started > args.setup_timeout:
            raise RuntimeError(f"only {created} of {args.solves} tasks created")
        await asyncio.sleep(0.05)
    # Past the first polls (5 s after creation), into the steady 3 s beat.
    await asyncio.sleep(6.0)
    cpu0, wall0, polls0 = time.process_time(), time.monotonic(), polls
    await asyncio.sleep(args.window)
    cpu1, wall1, polls1 = time.process_time(), time.monotonic(), polls
    await client.close_async()
    if pool is not None:
        await maybe_deferred_to_future(pool.closeCachedConnections())
    wall, calls = wall1 - wall0, polls1 - polls0
    return {
        "transport": args.client,
        "solves": args.solves,
        "window_seconds": round(wall, 2),
        "polls_in_window": calls,
        "polls_per_second": round(calls / wall, 1),
        "cpu_percent_of_one_core": round(100 * (cpu1 - cpu0) / wall, 2),
        "cpu_ms_per_poll": round(1000 * (cpu1 - cpu0) / calls, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--api-url", required=True)
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--site", required=True)
    parser.add_argument("--solves", type=int, default=1000)
    parser.add_argument("--window", type=float, default=15.0)
    parser.add_argument("--setup-timeout", type=float, default=120.0)
    parser.add_argument("--sdk", action="store_true", help="measure the SDK's async client")
    parser.add_argument(
        "--client",
        choices=("lean", "agent"),
        help="measure our client alone (no crawl) on this transport",
    )
    args = parser.parse_args()
    result = runtime.run(
        lambda: probe_sdk(args) if args.sdk else probe_client(args) if args.client else probe(args)
    )
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()

"""Crawls in real processes: pause (SIGINT) and resume with JOBDIR, and two
crawlers sharing one scrapy-redis queue."""

from __future__ import annotations

import signal
from collections import Counter
from pathlib import Path

import pytest

from scrapy_vastcaptcha.demo.spider import expected_skus
from scrapy_vastcaptcha.testing import DemoSiteHandle, EmulatorHandle
from tests.crawling import finish, items, resume_to_the_end, run_crawl, start_crawl


@pytest.mark.slow
def test_pause_with_solves_pending_then_resume(
    vastcaptcha_emulator: EmulatorHandle, vastcaptcha_demo_site: DemoSiteHandle, tmp_path: Path
) -> None:
    vastcaptcha_emulator.configure(solve_time=120)
    jobdir = f"JOBDIR={tmp_path / 'job'}"
    paths = "/recaptcha-v2,/turnstile,/image"
    first = start_crawl(
        vastcaptcha_emulator, vastcaptcha_demo_site, tmp_path, "first", jobdir, pages=3, paths=paths
    )
    vastcaptcha_emulator.wait_for(lambda s: s["tasks"]["created"] >= 9, timeout=60)
    first.send_signal(signal.SIGINT)
    stats = finish(first, tmp_path, "first")
    assert stats["finish_reason"] == "shutdown"
    assert stats["vastcaptcha/requeued_at_close"] == 9
    assert items(tmp_path) == []

    vastcaptcha_emulator.configure(solve_time=0.1)
    stats = finish(
        start_crawl(
            vastcaptcha_emulator, vastcaptcha_demo_site, tmp_path, "second", jobdir, paths=paths
        ),
        tmp_path,
        "second",
    )
    assert stats["finish_reason"] == "finished"
    skus = Counter(str(item["sku"]) for item in items(tmp_path))
    assert set(skus) == expected_skus(3, ["recaptcha-v2", "turnstile", "image"])
    assert max(skus.values()) == 1
    # No token was ever rejected: nothing stale reached the site.
    assert vastcaptcha_emulator.stats()["verifications"]["failed"] == 0


@pytest.mark.slow
def test_sigint_during_slow_create_task_calls_loses_and_duplicates_nothing(
    vastcaptcha_emulator: EmulatorHandle, vastcaptcha_demo_site: DemoSiteHandle, tmp_path: Path
) -> None:
    # createTask answers are held back: the pause cancels solves whose
    # connection or call is still in flight. A cancelled solve is not a failure.
    vastcaptcha_emulator.configure(
        solve_time=0.1, faults={"slow": 1.0}, fault_methods=["createTask"], slow_delay=60
    )
    jobdir = f"JOBDIR={tmp_path / 'job'}"
    paths = "/recaptcha-v2,/hcaptcha,/turnstile"
    first = start_crawl(
        vastcaptcha_emulator,
        vastcaptcha_demo_site,
        tmp_path,
        "first",
        jobdir,
        "CONCURRENT_REQUESTS=32",
        pages=20,
        paths=paths,
    )
    vastcaptcha_emulator.wait_for(lambda s: s["calls"]["createTask"] >= 20, timeout=60)
    first.send_signal(signal.SIGINT)
    stats = finish(first, tmp_path, "first")
    assert stats["finish_reason"] == "shutdown"
    assert stats["errbacks"] == []

    vastcaptcha_emulator.configure(faults={"slow": 0.0})
    resume_to_the_end(vastcaptcha_emulator, vastcaptcha_demo_site, tmp_path, jobdir, paths, 20)


@pytest.mark.slow
def test_fatal_error_with_jobdir_keeps_every_request_for_a_later_run(
    vastcaptcha_emulator: EmulatorHandle, vastcaptcha_demo_site: DemoSiteHandle, tmp_path: Path
) -> None:
    vastcaptcha_emulator.configure(solve_time=0.1)
    vastcaptcha_emulator.set_account(vastcaptcha_emulator.api_key, balance=0)
    jobdir = f"JOBDIR={tmp_path / 'job'}"
    paths = "/recaptcha-v2,/hcaptcha,/turnstile"
    stats = run_crawl(
        vastcaptcha_emulator,
        vastcaptcha_demo_site,
        tmp_path,
        "first",
        jobdir,
        "VASTCAPTCHA_MAX_CONCURRENT=1",
        pages=20,
        paths=paths,
    )
    assert stats["finish_reason"] == "vastcaptcha_insufficient_balance"
    assert stats["errbacks"] == []
    assert vastcaptcha_emulator.stats()["calls"]["createTask"] == 1

    vastcaptcha_emulator.set_account(vastcaptcha_emulator.api_key, balance=100)
    resume_to_the_end(vastcaptcha_emulator, vastcaptcha_demo_site, tmp_path, jobdir, paths, 20)


@pytest.mark.slow
@pytest.mark.redis
def test_two_crawlers_share_one_redis_queue(
    vastcaptcha_emulator: EmulatorHandle,
    vastcaptcha_demo_site: DemoSiteHandle,
    tmp_path: Path,
    redis_url: str,
) -> None:
    vastcaptcha_emulator.configure(solve_time=[0.5, 1.5])
    settings = (
        "SCHEDULER=scrapy_redis.scheduler.Scheduler",
        "DUPEFILTER_CLASS=scrapy_redis.dupefilter.RFPDupeFilter",
        f"REDIS_URL={redis_url}",
        f"SCHEDULER_QUEUE_KEY=shop-{tmp_path.name}:requests",
        f"SCHEDULER_DUPEFILTER_KEY=shop-{tmp_path.name}:dupefilter",
        "SCHEDULER_IDLE_BEFORE_CLOSE=1",
        # As with a RedisSpider, a process with an empty queue waits for work
        # (another may still have solves pending); each stops after 4 s without items.
        "CLOSESPIDER_TIMEOUT_NO_ITEM=4",
    )
    # Each process starts a part of the crawl; every request (first fetches and
    # token-bearing resubmissions alike) goes through the shared queue, and an
    # idle process (it looks at the queue every 5 s, like any Scrapy engine)
    # takes whatever is there.
    starts = {"a": "/recaptcha-v2,/hcaptcha,/turnstile", "b": "/image,/two-captchas"}
    crawlers = [
        start_crawl(
            vastcaptcha_emulator,
            vastcaptcha_demo_site,
            tmp_path,
            name,
            *settings,
            pages=6,
            paths=paths,
            stay_idle=True,
        )
        for name, paths in starts.items()
    ]
    stats = [finish(p, tmp_path, name) for p, name in zip(crawlers, "ab", strict=True)]
    skus = Counter(str(item["sku"]) for item in items(tmp_path))
    assert set(skus) == expected_skus(
        6, ["recaptcha-v2", "hcaptcha", "turnstile", "image", "two-captchas"]
    )
    assert max(skus.values()) == 1
    # Both processes did part of the work.
    assert all(int(str(s.get("item_scraped_count", 0))) > 0 for s in stats)
    # One task per captcha across both processes.
    assert len(vastcaptcha_emulator.tasks()) == 6 * 6

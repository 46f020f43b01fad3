"""Spending limits held by a fleet of Scrapy processes on one scrapy-redis queue."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from scrapy_vastcaptcha.testing import DemoSiteHandle, EmulatorHandle
from tests.crawling import finish, items, start_crawl

pytestmark = [pytest.mark.slow, pytest.mark.redis]

PATHS = ("/recaptcha-v2", "/hcaptcha", "/turnstile")


def fleet_settings(redis_url: str, name: str, *extra: str) -> tuple[str, ...]:
    return (
        "SCHEDULER=scrapy_redis.scheduler.Scheduler",
        "DUPEFILTER_CLASS=scrapy_redis.dupefilter.RFPDupeFilter",
        "SCHEDULER_PERSIST=True",
        f"REDIS_URL={redis_url}",
        f"SCHEDULER_QUEUE_KEY={name}:requests",
        f"SCHEDULER_DUPEFILTER_KEY={name}:dupefilter",
        f"VASTCAPTCHA_CRAWL_NAME={name}",
        *extra,
    )


def test_three_workers_share_one_task_budget_and_concurrency_cap(
    vastcaptcha_emulator: EmulatorHandle,
    vastcaptcha_demo_site: DemoSiteHandle,
    tmp_path: Path,
    redis_url: str,
) -> None:
    # The emulator refuses a fifth task in flight (ERROR_NO_SLOT_AVAILABLE):
    # the fleet-wide cap of 4 must keep every worker under it together.
    vastcaptcha_emulator.configure(solve_time=[0.3, 0.6], capacity=4)
    name = f"fleet-{tmp_path.name}"
    settings = fleet_settings(
        redis_url, name, "VASTCAPTCHA_MAX_TASKS=30", "VASTCAPTCHA_MAX_CONCURRENT=4"
    )
    workers = [
        start_crawl(
            vastcaptcha_emulator,
            vastcaptcha_demo_site,
            tmp_path,
            f"w{n}",
            *settings,
            pages=30,
            paths=path,
            stay_idle=True,
        )
        for n, path in enumerate(PATHS)
    ]
    stats = [finish(worker, tmp_path, f"w{n}") for n, worker in enumerate(workers)]
    assert [s["finish_reason"] for s in stats] == ["vastcaptcha_budget_exhausted"] * 3
    assert len(vastcaptcha_emulator.tasks()) <= 30
    assert "ERROR_NO_SLOT_AVAILABLE" not in vastcaptcha_emulator.stats()["errors"]
    # The queue persists: what was not scraped waits in Redis for a later
    # run, and nothing went to an errback.
    assert all(s["errbacks"] == [] for s in stats)
    left = redis.Redis.from_url(redis_url).zcard(f"{name}:requests")
    assert left > 0
    assert len(items(tmp_path)) < 90 * 4


def test_a_fatal_account_error_in_one_worker_stops_the_fleet(
    vastcaptcha_emulator: EmulatorHandle,
    vastcaptcha_demo_site: DemoSiteHandle,
    tmp_path: Path,
    redis_url: str,
) -> None:
    vastcaptcha_emulator.configure(solve_time=3.0)
    name = f"fatal-{tmp_path.name}"
    settings = fleet_settings(redis_url, name, "VASTCAPTCHA_MAX_CONCURRENT=4")
    workers = [
        start_crawl(
            vastcaptcha_emulator,
            vastcaptcha_demo_site,
            tmp_path,
            f"w{n}",
            *settings,
            pages=20,
            paths=path,
            stay_idle=True,
            # One worker runs with a key the service does not know.
            api_key="not-a-vastcap-key-0123456789" if n == 0 else None,
        )
        for n, path in enumerate(PATHS)
    ]
    stats = [finish(worker, tmp_path, f"w{n}") for n, worker in enumerate(workers)]
    assert [s["finish_reason"] for s in stats] == ["vastcaptcha_key_does_not_exist"] * 3
    # No task was created after the error beyond those already in flight
    # (solves take 3 s; at most 4 are in flight fleet-wide).
    assert len(vastcaptcha_emulator.tasks()) <= 4

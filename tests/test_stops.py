"""Ending the run: the decisions of :class:`RunStop`, with the crawl's actions recorded.

The crawls that meet these stops for real (account errors, budgets, JOBDIR,
scrapy-redis) are in test_reliability_*.py and test_budget_crawl.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from scrapy import Request
from scrapy.settings import Settings

from scrapy_vastcaptcha.api.client import VastCaptchaClient
from scrapy_vastcaptcha.api.errors import (
    AccountError,
    CaptchaError,
    ServiceBusyError,
    api_error,
)
from scrapy_vastcaptcha.state import STATE_KEY, SolveState
from scrapy_vastcaptcha.stops import CrawlActions, RunStop, stops_the_run

KEY = "k" * 32


@dataclass
class Crawl:
    """The middleware's side, as a record of what the stop asked of it."""

    pending: list[Request] = field(default_factory=list)
    waiting: list[Request] = field(default_factory=list)
    crawled: list[Request] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    closed: list[str] = field(default_factory=list)
    stats: dict[str, int] = field(default_factory=dict)

    def actions(self) -> CrawlActions:
        def take(requests: list[Request]) -> list[Request]:
            taken = list(requests)
            requests.clear()
            return taken

        return CrawlActions(
            cancel_pending=lambda: take(self.pending),
            drain_waiting=lambda: take(self.waiting),
            crawl=self.crawled.append,
            fail=lambda request, state, code, message: self.failed.append((request.url, code)),
            close_spider=self.closed.append,
            count=lambda name, n: self.stats.__setitem__(name, self.stats.get(name, 0) + n),
            budget_stats=lambda: None,
        )


def run_stop(crawl: Crawl, **settings: object) -> tuple[RunStop, VastCaptchaClient]:
    client = VastCaptchaClient(KEY, "http://127.0.0.1:9/")
    return RunStop(client, None, Settings(settings), crawl.actions()), client


def no_balance() -> AccountError:
    error = api_error("ERROR_ZERO_BALANCE", "top up")
    assert isinstance(error, AccountError)
    return error


def test_only_errors_of_the_whole_run_stop_it() -> None:
    assert stops_the_run(no_balance())
    assert not stops_the_run(ServiceBusyError("ERROR_NO_SLOT_AVAILABLE"))
    assert not stops_the_run(CaptchaError("MAX_ATTEMPTS", "gave up"))


def test_every_waiting_request_reaches_its_errback_before_the_spider_closes() -> None:
    crawl = Crawl(pending=[Request("http://shop.test/2")], waiting=[Request("http://shop.test/3")])
    stop, client = run_stop(crawl)
    stop.stop(no_balance(), Request("http://shop.test/1"))
    assert client.fatal_error is not None  # no task is created from now on
    assert crawl.failed == [
        ("http://shop.test/1", "ERROR_ZERO_BALANCE"),
        ("http://shop.test/2", "ERROR_ZERO_BALANCE"),
        ("http://shop.test/3", "ERROR_ZERO_BALANCE"),
    ]
    # The spider closes after the last failure is delivered, not before.
    stop.failure_delivered("ERROR_ZERO_BALANCE")
    stop.failure_delivered("MAX_ATTEMPTS")  # another request's own failure
    stop.failure_delivered("ERROR_ZERO_BALANCE")
    assert crawl.closed == []
    stop.failure_delivered("ERROR_ZERO_BALANCE")
    assert crawl.closed == ["vastcaptcha_zero_balance"]
    # A second failure of the same kind hands back only its own request.
    crawl.pending.append(Request("http://shop.test/4"))
    stop.stop(no_balance(), Request("http://shop.test/5"))
    assert crawl.failed[-1] == ("http://shop.test/5", "ERROR_ZERO_BALANCE")
    assert len(crawl.failed) == 4


def test_with_a_persistent_queue_requests_go_back_untouched_for_a_later_run() -> None:
    state = SolveState(spec={"form": "#f"}, attempts=2).to_meta()
    crawl = Crawl(pending=[Request("http://shop.test/2", meta={STATE_KEY: state, "a": 1})])
    stop, _ = run_stop(crawl, JOBDIR="/tmp/job")
    stop.stop(no_balance())
    assert [r.url for r in crawl.crawled] == ["http://shop.test/2"]
    assert crawl.crawled[0].meta == {"a": 1}  # solved afresh by the next run
    assert crawl.closed == ["vastcaptcha_zero_balance"]
    # A captcha met after the stop goes back too, instead of failing.
    stop.stopped(Request("http://shop.test/9"))
    assert crawl.crawled[-1].url == "http://shop.test/9"
    assert crawl.failed == []


def test_a_captcha_met_after_the_stop_fails_at_once_without_a_persistent_queue() -> None:
    crawl = Crawl()
    stop, client = run_stop(crawl)
    # The client met the account error on its own (a balance reading).
    client.stop(no_balance())
    assert stop.check() is client.fatal_error
    assert crawl.closed == ["vastcaptcha_zero_balance"]
    with pytest.raises(CaptchaError) as raised:
        stop.stopped(Request("http://shop.test/9"))
    assert raised.value.code == "ERROR_ZERO_BALANCE"
    assert crawl.stats == {"failed/ERROR_ZERO_BALANCE": 1}


def test_at_close_pending_requests_go_back_to_the_scheduler_and_are_counted() -> None:
    crawl = Crawl(pending=[Request("http://shop.test/1")], waiting=[Request("http://shop.test/2")])
    stop, _ = run_stop(crawl)
    stop.release_pending()
    assert [r.url for r in crawl.crawled] == ["http://shop.test/1", "http://shop.test/2"]
    assert crawl.stats == {"requeued_at_close": 2}
    stop.release_pending()
    assert crawl.stats == {"requeued_at_close": 2}

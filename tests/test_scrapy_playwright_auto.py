"""Captchas solved in the live page of a scrapy-playwright crawl; no captcha code in the spider.

The add-on gives every ``playwright`` request a page method that solves the
page's captchas in the browser before scrapy-playwright reads its HTML; the
callback gets the page after the captcha. Real Chromium, the demo shop and
the emulator; widget scripts are routed to the bundled stand-ins.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_twisted
from playwright.async_api import Page
from scrapy import Request, Spider, signals
from scrapy.crawler import CrawlerRunner
from scrapy.http import HtmlResponse, Response
from scrapy.selector import Selector
from scrapy.settings import Settings
from scrapy.utils.test import get_crawler
from scrapy_playwright.page import PageMethod  # type: ignore[import-untyped]
from twisted.python.failure import Failure
from twisted.web import http, proxy

from scrapy_vastcaptcha import Addon
from scrapy_vastcaptcha import signals as vc_signals
from scrapy_vastcaptcha.api import Solution, SolveResult
from scrapy_vastcaptcha.api.errors import CaptchaError
from scrapy_vastcaptcha.captcha import Captcha
from scrapy_vastcaptcha.demo.catalog import PAGES, SITEKEYS
from scrapy_vastcaptcha.demo.pages import challenge_page, form_page
from scrapy_vastcaptcha.demo.spider import IMAGE_META, expected_skus
from scrapy_vastcaptcha.meta import Spec, parse_spec
from scrapy_vastcaptcha.middleware import VastCaptchaMiddleware
from scrapy_vastcaptcha.playwright import CaptchaResult, FrameInfo, flow
from scrapy_vastcaptcha.playwright.steps import Flow
from scrapy_vastcaptcha.scrapy_playwright import BrowserSolving
from scrapy_vastcaptcha.scrapy_playwright.report import (
    BrowserReport,
    Round,
    browser_proxy,
    helper_options,
)
from scrapy_vastcaptcha.scrapy_playwright.sessions import BrowserSessions
from scrapy_vastcaptcha.testing import DemoSiteHandle, EmulatorHandle
from scrapy_vastcaptcha.testing.browser import chromium_launch_options, route_widget_scripts
from tests.crawling import CrawlResult, captcha_settings, crawl

KINDS = [page.kind for page in PAGES]

PLAYWRIGHT_SETTINGS: dict[str, Any] = {
    "DOWNLOAD_HANDLERS": {
        "http": "scrapy_playwright.handler.ScrapyPlaywrightDownloadHandler",
        "https": "scrapy_playwright.handler.ScrapyPlaywrightDownloadHandler",
    },
    "PLAYWRIGHT_LAUNCH_OPTIONS": chromium_launch_options(),
    "CONCURRENT_REQUESTS": 16,
}


async def route_stand_ins(page: Page, request: Request) -> None:
    """The test's own page init callback: the add-on runs it after its hooks."""
    await route_widget_scripts(page)


class ShopSpider(Spider):
    """Every page of the demo shop through the browser; nothing about captchas
    except the image page's description (an image has no widget to detect)."""

    name = "shop_in_browser"

    def __init__(
        self,
        site: str,
        kinds: list[str] | None = None,
        include_page: bool = False,
        extra_meta: dict[str, Any] | None = None,
        pages: int = 1,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.site = site
        self.pages = pages
        self.kinds = kinds or KINDS
        self.include_page = include_page
        self.extra_meta = extra_meta or {}
        self.responses: list[Response] = []
        self.failures: list[Failure] = []
        self.page_urls: list[str] = []

    def meta(self, kind: str) -> dict[str, Any]:
        meta: dict[str, Any] = {
            "playwright": True,
            "playwright_page_init_callback": route_stand_ins,
            **self.extra_meta,
        }
        if kind == "image":
            meta["vastcaptcha"] = IMAGE_META
        if self.include_page:
            meta["playwright_include_page"] = True
        return meta

    async def start(self) -> AsyncIterator[Request]:
        for info in PAGES:
            for number in range(1, self.pages + 1):
                if info.kind not in self.kinds:
                    continue
                yield Request(
                    f"{self.site}{info.path}?page={number}",
                    meta=self.meta(info.kind),
                    cb_kwargs={"kind": info.kind},
                    errback=self.failed,
                )

    async def parse(self, response: Response, kind: str) -> AsyncIterator[Any]:
        self.responses.append(response)
        page: Page | None = response.meta.get("playwright_page")
        if page is not None:
            # The page itself is past its captcha too, in every frame.
            self.page_urls.append(page.url)
            documents = [Selector(text=await frame.content()) for frame in page.frames]
            await page.close()
        else:
            documents = [Selector(text=response.text)]
            for src in response.css("iframe::attr(src)").getall():
                if response.urljoin(src).startswith(self.site):  # not a widget's frame
                    yield response.follow(src, meta=self.meta(kind), cb_kwargs={"kind": kind})
        for document in documents:
            for product in document.css(".product"):
                yield {
                    "sku": product.attrib["data-sku"],
                    "kind": kind,
                    "captcha": response.meta.get("vastcaptcha"),
                    "status": response.status,
                    "url": response.url,
                }

    async def failed(self, failure: Failure) -> None:
        self.failures.append(failure)
        page = failure.request.meta.get("playwright_page")  # type: ignore[attr-defined]
        if page is not None:
            await page.close()


def in_page_settings(emulator: EmulatorHandle, **overrides: Any) -> dict[str, Any]:
    return captcha_settings(emulator, **{**PLAYWRIGHT_SETTINGS, **overrides})


async def crawl_shop(
    emulator: EmulatorHandle, site: DemoSiteHandle, **options: Any
) -> tuple[CrawlResult, ShopSpider, list[tuple[str, Any]]]:
    """Crawl with :class:`ShopSpider`; also what the add-on's signals said."""
    settings = options.pop("settings", None) or in_page_settings(emulator)
    runner = CrawlerRunner(settings)
    crawler = runner.create_crawler(ShopSpider)
    signalled: list[tuple[str, Any]] = []
    items: list[Any] = []
    for name, signal in (
        ("detected", vc_signals.captcha_detected),
        ("solved", vc_signals.captcha_solved),
        ("failed", vc_signals.captcha_failed),
    ):
        crawler.signals.connect(
            lambda captcha, _name=name, **kwargs: signalled.append((_name, captcha)),
            signal=signal,
            weak=False,
        )
    crawler.signals.connect(
        lambda item, **kwargs: items.append(item), signal=signals.item_scraped, weak=False
    )
    await runner.crawl(crawler, site=site.url, **options)
    spider = crawler.spider
    assert isinstance(spider, ShopSpider)
    return CrawlResult(crawler, items), spider, signalled


@pytest.mark.browser
@pytest_twisted.ensureDeferred
async def test_every_kind_is_solved_in_the_page_before_the_callback(
    vastcaptcha_emulator: EmulatorHandle, vastcaptcha_demo_site: DemoSiteHandle
) -> None:
    vastcaptcha_emulator.configure(solve_time=0.1)
    result, spider, signalled = await crawl_shop(vastcaptcha_emulator, vastcaptcha_demo_site)
    assert not spider.failures
    assert {item["sku"] for item in result.items} == expected_skus(1, KINDS)
    by_kind = {item["kind"]: item for item in result.items}
    # The challenge page answered 403; the callback gets the catalog's 200.
    assert {item["status"] for item in result.items} == {200}
    assert by_kind["turnstile-interstitial"]["url"].endswith(
        "/turnstile-interstitial/catalog?page=1"
    )
    outcomes = {kind: item["captcha"] for kind, item in by_kind.items()}
    assert outcomes["recaptcha-v3"]["kind"] == "recaptcha-v3"
    assert outcomes["recaptcha-v3"]["score"] is not None
    assert [c["kind"] for c in outcomes["two-captchas"]["captchas"]] == [
        "recaptcha-v2",
        "turnstile",
    ]
    assert outcomes["image"]["kind"] == "image"
    for kind, item in by_kind.items():
        assert item["captcha"]["attempts"] == 1, kind
        assert item["captcha"]["task_id"], kind
    stats = result.stats
    # One per widget, two on /two-captchas; the framed form's captcha once, on
    # the framed page the spider follows.
    solved = len(KINDS) + 1
    assert stats["vastcaptcha/solved"] == solved
    assert stats["vastcaptcha/attempts"] == solved - 1
    assert stats["vastcaptcha/tasks_created"] == solved
    assert stats["vastcaptcha/detected/turnstile"] == 3
    assert stats["vastcaptcha/solve_ms"] > 0
    assert vastcaptcha_emulator.stats()["tasks"]["created"] == solved
    assert sum(1 for name, _ in signalled if name == "detected") == solved
    assert sum(1 for name, _ in signalled if name == "solved") == solved
    assert "vastcaptcha/failed/MAX_ATTEMPTS" not in stats


@pytest.mark.browser
@pytest_twisted.ensureDeferred
async def test_a_challenge_of_the_whole_browser_session_is_solved_once(
    vastcaptcha_emulator: EmulatorHandle, vastcaptcha_demo_site: DemoSiteHandle
) -> None:
    # Four pages meet the interstitial at once; one solves it, the others
    # wait, then reload with the clearance cookie their context now holds.
    vastcaptcha_emulator.configure(solve_time=1.0)
    kinds = ["turnstile-interstitial"]
    result, spider, _ = await crawl_shop(
        vastcaptcha_emulator, vastcaptcha_demo_site, kinds=kinds, pages=4
    )
    assert not spider.failures
    assert {item["sku"] for item in result.items} == expected_skus(4, kinds)
    assert vastcaptcha_emulator.stats()["tasks"]["created"] == 1
    assert result.stats["vastcaptcha/solved"] == 1
    # A page slower than the solve meets a challenge already passed: it
    # reloads instead of waiting.
    assert 1 <= result.stats["vastcaptcha/coalesced"] <= 3


@pytest.mark.browser
@pytest_twisted.ensureDeferred
async def test_a_framed_captcha_costs_one_task(
    vastcaptcha_emulator: EmulatorHandle, vastcaptcha_demo_site: DemoSiteHandle
) -> None:
    # The callback gets the outer page's HTML, not the frame's: the captcha is
    # solved on the framed page the spider follows, not also in the outer page.
    vastcaptcha_emulator.configure(solve_time=0.1)
    result, spider, _ = await crawl_shop(
        vastcaptcha_emulator, vastcaptcha_demo_site, kinds=["iframe"]
    )
    assert not spider.failures
    assert {item["sku"] for item in result.items} == expected_skus(1, ["iframe"])
    assert vastcaptcha_emulator.stats()["tasks"]["created"] == 1
    assert result.stats["vastcaptcha/solved"] == 1
    assert result.stats["vastcaptcha/detected/recaptcha-v2"] == 1


@pytest.mark.browser
@pytest_twisted.ensureDeferred
async def test_a_round_solves_what_its_one_look_at_the_page_found(
    vastcaptcha_emulator: EmulatorHandle,
    vastcaptcha_demo_site: DemoSiteHandle,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Every look at the page's frames, and how many widgets it saw.
    looks: list[int] = []
    look = flow.scan

    def counted(page: Any, options: flow.Options) -> Flow[flow.PageScan]:
        seen = yield from look(page, options)
        looks.append(len(seen.found))
        return seen

    monkeypatch.setattr(flow, "scan", counted)
    vastcaptcha_emulator.configure(solve_time=0.1)
    kinds = ["hcaptcha", "two-captchas"]
    result, spider, _ = await crawl_shop(vastcaptcha_emulator, vastcaptcha_demo_site, kinds=kinds)
    assert not spider.failures
    assert {item["sku"] for item in result.items} == expected_skus(1, kinds)
    assert vastcaptcha_emulator.stats()["tasks"]["created"] == 3
    # Per page: one look finds its widgets and they are solved, one after
    # its form was submitted finds none.
    assert sorted(looks) == [0, 0, 1, 2]


@pytest.mark.browser
@pytest_twisted.ensureDeferred
async def test_the_included_page_is_already_past_its_captcha(
    vastcaptcha_emulator: EmulatorHandle, vastcaptcha_demo_site: DemoSiteHandle
) -> None:
    vastcaptcha_emulator.configure(solve_time=0.1)
    result, spider, _ = await crawl_shop(
        vastcaptcha_emulator, vastcaptcha_demo_site, include_page=True
    )
    assert not spider.failures
    assert {item["sku"] for item in result.items} == expected_skus(1, KINDS)
    # Frames included: the framed form's products are read from the page itself.
    assert result.stats["vastcaptcha/solved"] == len(KINDS) + 1
    assert any(url.endswith("/turnstile-interstitial/catalog?page=1") for url in spider.page_urls)


@pytest.mark.browser
@pytest_twisted.ensureDeferred
async def test_without_the_add_on_nothing_behind_a_captcha_is_scraped(
    vastcaptcha_emulator: EmulatorHandle, vastcaptcha_demo_site: DemoSiteHandle
) -> None:
    result, spider, _ = await crawl_shop(
        vastcaptcha_emulator,
        vastcaptcha_demo_site,
        settings=in_page_settings(vastcaptcha_emulator, VASTCAPTCHA_ENABLED=False),
    )
    assert result.items == []
    assert len(spider.responses) >= len(KINDS) - 1  # the challenge page's 403 is dropped
    assert vastcaptcha_emulator.stats()["calls"]["createTask"] == 0


@pytest.mark.browser
@pytest_twisted.ensureDeferred
async def test_meta_false_leaves_the_page_alone(
    vastcaptcha_emulator: EmulatorHandle, vastcaptcha_demo_site: DemoSiteHandle
) -> None:
    result, spider, _ = await crawl_shop(
        vastcaptcha_emulator,
        vastcaptcha_demo_site,
        kinds=["recaptcha-v2", "hcaptcha"],
        extra_meta={"vastcaptcha": False},
    )
    assert result.items == []
    assert [r.css(".g-recaptcha, .h-captcha") != [] for r in spider.responses] == [True, True]
    assert vastcaptcha_emulator.stats()["calls"]["createTask"] == 0


@pytest.mark.browser
@pytest_twisted.ensureDeferred
async def test_an_unsolvable_captcha_reaches_the_errback(
    vastcaptcha_emulator: EmulatorHandle, vastcaptcha_demo_site: DemoSiteHandle
) -> None:
    vastcaptcha_emulator.configure(solve_time=0.05, faults={"unsolvable": 1.0})
    result, spider, signalled = await crawl_shop(
        vastcaptcha_emulator,
        vastcaptcha_demo_site,
        kinds=["hcaptcha"],
        settings=in_page_settings(vastcaptcha_emulator, VASTCAPTCHA_MAX_ATTEMPTS=2),
    )
    assert result.items == []
    assert len(spider.failures) == 1
    error = spider.failures[0].value
    assert isinstance(error, CaptchaError)
    assert error.code == "ERROR_CAPTCHA_UNSOLVABLE"
    assert result.stats["vastcaptcha/failed/ERROR_CAPTCHA_UNSOLVABLE"] >= 1
    assert any(name == "failed" for name, _ in signalled)


class OwnMethodsSpider(Spider):
    """A request with its own page methods (a dict) and init callback."""

    name = "own_methods"

    def __init__(self, site: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.site = site
        self.inits: list[str] = []
        self.meta_seen: dict[str, Any] = {}

    async def init_page(self, page: Page, request: Request) -> None:
        self.inits.append(request.url)
        await route_widget_scripts(page)

    async def start(self) -> AsyncIterator[Request]:
        yield Request(
            f"{self.site}/recaptcha-v2-invisible?page=1",
            meta={
                "playwright": True,
                "playwright_page_init_callback": self.init_page,
                "playwright_page_methods": {
                    "count": PageMethod("evaluate", "document.querySelectorAll('.product').length")
                },
            },
        )

    def parse(self, response: Response) -> None:
        self.meta_seen = dict(response.meta)


@pytest.mark.browser
@pytest_twisted.ensureDeferred
async def test_the_request_s_own_page_methods_run_after_the_captcha(
    vastcaptcha_emulator: EmulatorHandle, vastcaptcha_demo_site: DemoSiteHandle
) -> None:
    vastcaptcha_emulator.configure(solve_time=0.1)
    result = await crawl(
        OwnMethodsSpider, in_page_settings(vastcaptcha_emulator), site=vastcaptcha_demo_site.url
    )
    spider = result.crawler.spider
    assert isinstance(spider, OwnMethodsSpider)
    assert spider.inits == [f"{vastcaptcha_demo_site.url}/recaptcha-v2-invisible?page=1"]
    meta = spider.meta_seen
    # The callback sees its own meta: its page methods (run on the products
    # page), its init callback, and the outcome; nothing of ours.
    assert list(meta["playwright_page_methods"]) == ["count"]
    assert meta["playwright_page_methods"]["count"].result == 4
    assert meta["playwright_page_init_callback"] == spider.init_page
    assert meta["vastcaptcha"]["kind"] == "recaptcha-v2"
    assert not [key for key in meta if key.startswith("_vastcaptcha")]


@pytest_twisted.ensureDeferred
async def test_playwright_requests_not_rendered_by_scrapy_playwright_are_solved_as_html(
    vastcaptcha_emulator: EmulatorHandle, vastcaptcha_demo_site: DemoSiteHandle
) -> None:
    # No scrapy-playwright download handler: the page method never runs, and
    # the middleware solves from the HTML and resubmits the form instead.
    vastcaptcha_emulator.configure(solve_time=0.1)
    result, spider, _ = await crawl_shop(
        vastcaptcha_emulator,
        vastcaptcha_demo_site,
        kinds=["hcaptcha", "turnstile"],
        settings=captcha_settings(vastcaptcha_emulator),
    )
    assert not spider.failures
    assert {item["sku"] for item in result.items} == expected_skus(1, ["hcaptcha", "turnstile"])
    assert result.stats["vastcaptcha/solved"] == 2
    assert result.stats["downloader/request_method_count/POST"] == 2


def make_browser_solving() -> BrowserSolving:
    crawler = get_crawler(
        settings_dict={"VASTCAPTCHA_API_KEY": "a" * 32, "VASTCAPTCHA_API_URL": "http://127.0.0.1:9"}
    )
    middleware = VastCaptchaMiddleware.from_crawler(crawler)
    assert middleware.browser is not None
    return middleware.browser


async def own_init(page: Page, request: Request) -> None:
    """A request's own page init callback (never called here)."""


@pytest.mark.parametrize(
    "own",
    [
        {},
        {"playwright_page_methods": [PageMethod("click", "#more")]},
        {"playwright_page_methods": {"more": PageMethod("click", "#more")}},
        {"playwright_page_init_callback": own_init, "playwright_page_methods": ()},
        {"playwright_page_init_callback": "tests.test_scrapy_playwright_auto.own_init"},
    ],
)
def test_the_solving_page_method_goes_first_and_leaves_no_trace(own: dict[str, Any]) -> None:
    browser = make_browser_solving()
    request = Request("https://example.com/", meta={"playwright": True, **own})
    before = dict(request.meta)
    browser.prepare(request)
    methods = request.meta["playwright_page_methods"]
    listed = list(methods.values()) if isinstance(methods, dict) else list(methods)
    user = own.get("playwright_page_methods") or []
    user_listed = list(user.values()) if isinstance(user, dict) else list(user)
    assert listed[1:] == user_listed
    assert callable(listed[0].method)
    assert request.meta["playwright_page_init_callback"] != own.get("playwright_page_init_callback")
    # A retry's copy is prepared afresh: still one solving method, first.
    retry = request.replace(dont_filter=True)
    browser.prepare(retry)
    retried = retry.meta["playwright_page_methods"]
    assert len(retried) == len(listed)
    assert browser.forget(retry) is None
    assert retry.meta == before
    assert browser.forget(request) is None
    assert request.meta == before


@pytest.mark.parametrize(
    "meta",
    [{}, {"playwright": False}, {"playwright": True, "vastcaptcha": False}],
)
def test_requests_not_rendered_or_opted_out_are_not_touched(meta: dict[str, Any]) -> None:
    browser = make_browser_solving()
    request = Request("https://example.com/", meta=dict(meta))
    browser.prepare(request)
    assert request.meta == meta


@pytest.mark.browser
@pytest_twisted.ensureDeferred
async def test_a_page_that_rejects_its_tokens_is_solved_again_then_given_up(
    vastcaptcha_emulator: EmulatorHandle, vastcaptcha_demo_site: DemoSiteHandle
) -> None:
    # Tokens expire before the site checks them: it shows the form again.
    vastcaptcha_emulator.configure(solve_time=0.05, token_ttl=0.001)
    result, spider, _ = await crawl_shop(
        vastcaptcha_emulator,
        vastcaptcha_demo_site,
        kinds=["recaptcha-v2"],
        settings=in_page_settings(vastcaptcha_emulator, VASTCAPTCHA_MAX_ATTEMPTS=2),
    )
    assert result.items == []
    [failure] = spider.failures
    assert isinstance(failure.value, CaptchaError)
    assert failure.value.code == "MAX_ATTEMPTS"
    stats = result.stats
    assert stats["vastcaptcha/attempts"] == 2
    assert stats["vastcaptcha/solved"] == 2
    assert stats["vastcaptcha/gave_up"] == 1
    assert stats["vastcaptcha/failed/MAX_ATTEMPTS"] == 1
    assert vastcaptcha_emulator.stats()["tasks"]["created"] == 2


@pytest.mark.parametrize(
    ("own", "used"),
    [
        ({}, "scrapy_vastcaptcha.scrapy_playwright.page_form_headers"),
        ({"PLAYWRIGHT_PROCESS_REQUEST_HEADERS": None}, None),
    ],
)
def test_the_add_on_sets_the_header_processing_unless_the_project_does(
    own: dict[str, Any], used: str | None
) -> None:
    settings = Settings(own)
    Addon().update_settings(settings)
    assert settings["PLAYWRIGHT_PROCESS_REQUEST_HEADERS"] == used


@pytest.mark.browser
@pytest_twisted.ensureDeferred
async def test_an_account_error_stops_the_crawl_without_new_tasks(
    vastcaptcha_emulator: EmulatorHandle, vastcaptcha_demo_site: DemoSiteHandle
) -> None:
    vastcaptcha_emulator.set_account(vastcaptcha_emulator.api_key, disabled=True)
    result, spider, _ = await crawl_shop(
        vastcaptcha_emulator,
        vastcaptcha_demo_site,
        kinds=["recaptcha-v2", "hcaptcha"],
        pages=3,
        settings=in_page_settings(vastcaptcha_emulator, VASTCAPTCHA_MAX_CONCURRENT=1),
    )
    assert result.reason == "vastcaptcha_account_disabled"
    assert vastcaptcha_emulator.stats()["calls"]["createTask"] == 1
    assert result.items == []
    assert spider.failures
    assert all(isinstance(f.value, CaptchaError) for f in spider.failures)


def solved(kind: str, task_id: str, error: Exception | None = None) -> tuple[Any, SolveResult]:
    captcha = Captcha(kind=kind, sitekey=f"key-{kind}")
    result = CaptchaResult(
        kind=kind,
        sitekey=captcha.sitekey,
        frame=FrameInfo(url="https://example.com/", name=""),
        captcha=captcha,
        token=None if error else "token",
        task_id=task_id,
        error=error,
    )
    solve = SolveResult(
        task_id=task_id,
        solution=Solution(token="token", score=0.9),
        kind=kind,
        attempts=1,
        polls=2,
        elapsed=1.5,
        solved_at=0.0,
    )
    return result, solve


def test_the_outcome_is_that_of_the_last_round_when_it_solved_everything() -> None:
    first, first_solve = solved("turnstile", "t1")
    second, second_solve = solved("recaptcha-v2", "t2")
    last = Round(2, [second.captcha], [first, second], {"t1": first_solve, "t2": second_solve})
    report = BrowserReport(rounds=[Round(1, [first.captcha]), last])
    assert report.outcome_parts() == (
        [first.captcha, second.captcha],
        [first_solve, second_solve],
    )
    failed, _ = solved("hcaptcha", "t3", error=CaptchaError("ERROR_CAPTCHA_UNSOLVABLE", "no"))
    assert Round(1, [], [failed]).failure is failed.error
    assert BrowserReport(rounds=[Round(1, [], [failed])]).outcome_parts() is None
    assert BrowserReport().outcome_parts() is None


def test_what_the_helper_is_told_comes_from_meta_and_the_settings() -> None:
    config = VastCaptchaMiddleware.from_crawler(
        get_crawler(
            settings_dict={"VASTCAPTCHA_API_KEY": "a" * 32, "VASTCAPTCHA_V3_MIN_SCORE": 0.3}
        )
    ).config
    plain = helper_options(Spec(), config)
    assert plain["kinds"] == set(config.detect) - {"image"}
    assert plain["min_score"] == 0.3
    assert plain["image_selector"] is None
    image = parse_spec({"kind": "image", "image": "#pic", "field": 'an"swer', "min_score": 0.9})
    assert image is not None
    options = helper_options(image, config)
    assert "image" in options["kinds"]
    assert options["image_selector"] == "#pic"
    assert options["image_field"] == '[name="an\\"swer"]'
    assert options["min_score"] == 0.9


def test_a_challenge_page_is_shared_by_its_browser_context_and_a_page_s_form_is_not() -> None:
    middleware = VastCaptchaMiddleware.from_crawler(
        get_crawler(settings_dict={"VASTCAPTCHA_API_KEY": "a" * 32})
    )
    sessions = BrowserSessions(middleware.analysis, middleware.config.session_challenges)
    site = "http://shop.test"
    turnstile = Captcha(kind="turnstile", sitekey=SITEKEYS["turnstile-interstitial"])

    def challenge(page: int, context: str | None = None) -> tuple[str, bool | None]:
        url = f"{site}/turnstile-interstitial/catalog?page={page}"
        body = challenge_page(url, f"ray{page}", "csrf", "shop.test")
        snapshot = HtmlResponse(url=url, status=403, body=body)
        request = Request(url, meta={"playwright_context": context} if context else {})
        return sessions.assess(request, snapshot, Spec(), [turnstile])

    key, evident = challenge(1)
    assert evident is True
    assert sessions.decide(key, f"{site}/p1", evident) == "lead"
    assert challenge(2) == (key, True)
    assert sessions.decide(key, f"{site}/p2", True) == "wait"
    assert challenge(3, context="other")[0] != key
    assert not sessions.passed(key)
    sessions.settle(key, passed=True)
    assert sessions.passed(key)

    url = f"{site}/recaptcha-v2?page=1"
    form = HtmlResponse(
        url=url, status=200, body=form_page("recaptcha-v2", "/recaptcha-v2", 1, "csrf")
    )
    v2 = Captcha(kind="recaptcha-v2", sitekey=SITEKEYS["recaptcha-v2"])
    own_key, own_evident = sessions.assess(Request(url), form, Spec(), [v2])
    assert own_evident is False  # the form posts to its own page
    assert sessions.decide(own_key, url, own_evident) == "own"
    assert not sessions.passed(own_key)


@pytest.mark.parametrize(
    ("meta", "settings", "proxy"),
    [
        ({}, {}, None),
        (
            {},
            {"PLAYWRIGHT_LAUNCH_OPTIONS": {"proxy": {"server": "proxy.test:3128"}}},
            "http://proxy.test:3128",
        ),
        (
            {"playwright_context": "eu"},
            {
                "PLAYWRIGHT_CONTEXTS": {
                    "eu": {
                        "proxy": {
                            "server": "http://eu.test:8080",
                            "username": "u",
                            "password": "p",
                        }
                    }
                },
                "PLAYWRIGHT_LAUNCH_OPTIONS": {"proxy": {"server": "proxy.test:3128"}},
            },
            "http://u:p@eu.test:8080",
        ),
        (
            {"playwright_context_kwargs": {"proxy": {"server": "socks5://s.test:1080"}}},
            {},
            "http://s.test:1080",
        ),
        ({}, {"PLAYWRIGHT_LAUNCH_OPTIONS": {"proxy": {"server": "per-context"}}}, None),
    ],
)
def test_the_proxy_given_to_the_solver_is_the_browser_context_s(
    meta: dict[str, Any], settings: dict[str, Any], proxy: str | None
) -> None:
    assert browser_proxy(meta, Settings(settings)) == proxy


class CountingProxyRequest(proxy.ProxyRequest):
    """A plain HTTP forward proxy that counts what it forwards."""

    forwarded = 0

    def process(self) -> None:
        CountingProxyRequest.forwarded += 1
        super().process()  # type: ignore[no-untyped-call]


class CountingProxy(proxy.Proxy):
    requestFactory = CountingProxyRequest


@pytest.mark.browser
@pytest_twisted.ensureDeferred
async def test_with_forward_proxy_the_solver_gets_the_browser_s_proxy(
    vastcaptcha_emulator: EmulatorHandle, vastcaptcha_demo_site: DemoSiteHandle
) -> None:
    from twisted.internet import reactor

    factory: Any = http.HTTPFactory()
    factory.protocol = CountingProxy
    running: Any = reactor  # the global reactor has no usable static type
    port = running.listenTCP(0, factory, interface="127.0.0.1")
    CountingProxyRequest.forwarded = 0
    try:
        vastcaptcha_emulator.configure(solve_time=0.05)
        address = f"127.0.0.1:{port.getHost().port}"
        settings = in_page_settings(
            vastcaptcha_emulator,
            VASTCAPTCHA_FORWARD_PROXY=True,
            PLAYWRIGHT_CONTEXTS={
                "default": {
                    "proxy": {"server": f"http://{address}", "username": "u", "password": "p"}
                }
            },
        )
        result, _, _ = await crawl_shop(
            vastcaptcha_emulator, vastcaptcha_demo_site, kinds=["hcaptcha"], settings=settings
        )
    finally:
        await port.stopListening()
    assert {item["sku"] for item in result.items} == expected_skus(1, ["hcaptcha"])
    assert CountingProxyRequest.forwarded >= 2  # the page and its form, through the proxy
    [task] = vastcaptcha_emulator.tasks()
    assert task["fields"]["proxy"] == f"u:p@{address}"

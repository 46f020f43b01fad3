"""A challenge that guards a whole session is solved once, not once per request in flight."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import parse_qs

import pytest
import pytest_twisted
import scrapy
from scrapy.http import Response
from twisted.web.resource import Resource
from twisted.web.server import Request, Site

from scrapy_vastcaptcha.demo.catalog import SITEKEYS
from scrapy_vastcaptcha.demo.spider import ShopSpider, expected_skus
from scrapy_vastcaptcha.testing import DemoSiteHandle, EmulatorHandle
from tests.crawling import captcha_settings, crawl

INTERSTITIAL = "/turnstile-interstitial/catalog"


def challenge_tasks(emulator: EmulatorHandle) -> int:
    return sum(
        1
        for t in emulator.tasks()
        if t["fields"].get("websiteKey") == SITEKEYS["turnstile-interstitial"]
    )


@pytest_twisted.ensureDeferred
async def test_interstitial_is_solved_once_for_every_request_in_flight(
    vastcaptcha_emulator: EmulatorHandle, vastcaptcha_demo_site: DemoSiteHandle
) -> None:
    vastcaptcha_emulator.configure(solve_time=0.3)
    result = await crawl(
        ShopSpider,
        captcha_settings(vastcaptcha_emulator, CONCURRENT_REQUESTS=16),
        site=vastcaptcha_demo_site.url,
        pages=48,
        paths=[INTERSTITIAL],
    )
    spider = result.crawler.spider
    assert isinstance(spider, ShopSpider)
    assert spider.failures == []
    assert {i["sku"] for i in result.items} == expected_skus(48, ["turnstile-interstitial"])
    assert challenge_tasks(vastcaptcha_emulator) <= 2
    # Every request that met the challenge while it was being solved waited.
    assert result.stats["vastcaptcha/coalesced"] >= 16 - 2
    assert "vastcaptcha/per_request_challenges" not in result.stats


class JarSpider(ShopSpider):
    """The shop spider with its pages spread over ``jars`` cookie jars."""

    def __init__(self, jars: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.jars = jars

    async def start(self) -> AsyncIterator[scrapy.Request]:
        for page in range(1, self.pages + 1):
            yield scrapy.Request(
                f"{self.site}{INTERSTITIAL}?page={page}",
                meta={"cookiejar": page % self.jars},
                errback=self.failed,
            )


@pytest_twisted.ensureDeferred
async def test_each_cookie_jar_is_a_session_of_its_own(
    vastcaptcha_emulator: EmulatorHandle, vastcaptcha_demo_site: DemoSiteHandle
) -> None:
    vastcaptcha_emulator.configure(solve_time=0.3)
    result = await crawl(
        JarSpider,
        captcha_settings(vastcaptcha_emulator, CONCURRENT_REQUESTS=16),
        site=vastcaptcha_demo_site.url,
        pages=32,
        jars=2,
    )
    assert {i["sku"] for i in result.items} == expected_skus(32, ["turnstile-interstitial"])
    # A clearance in one jar opens nothing in the other: one solve each, at most two.
    assert 2 <= challenge_tasks(vastcaptcha_emulator) <= 4


# -- a site whose challenge looks session-wide but is per URL -------------------

SITEKEY = "0x4AAAAAAAPerUrlChallenge01"


class _PerUrlGate(Resource):
    """Every URL answers 403 with a challenge until that very URL is passed:
    the pass cookie opens one page only."""

    isLeaf = True

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]

    def render(self, request: Request) -> bytes:
        path = (request.path or b"/").decode()
        if path == "/verify":
            assert request.content is not None
            fields = parse_qs(request.content.read().decode())
            back = fields["return"][0]
            if not fields.get("cf-turnstile-response", [""])[0]:
                request.setResponseCode(400)
                return b"no token"
            page = back.rsplit("=", 1)[-1]
            request.addCookie(f"pass_{page}".encode(), b"1", path=b"/")
            request.setResponseCode(302)
            request.setHeader(b"Location", back.encode())
            return b""
        page = (request.args or {}).get(b"page", [b"0"])[0].decode()
        if request.getCookie(f"pass_{page}".encode()):
            request.setHeader(b"Content-Type", b"text/html")
            return f'<html><body><p class="item">item-{page}</p></body></html>'.encode()
        request.setResponseCode(403)
        request.setHeader(b"Content-Type", b"text/html")
        request.setHeader(b"cf-mitigated", b"challenge")
        return (
            "<html><body><h1>Just a moment...</h1>"
            '<form method="POST" action="/verify">'
            f'<input type="hidden" name="return" value="/area?page={page}">'
            f'<div class="cf-turnstile" data-sitekey="{SITEKEY}"></div>'
            "</form>"
            '<script src="https://challenges.cloudflare.com/turnstile/v0/api.js" async></script>'
            "</body></html>"
        ).encode()


@pytest.fixture
def per_url_site() -> Iterator[str]:
    from twisted.internet import reactor

    running: Any = reactor
    port = running.listenTCP(0, Site(_PerUrlGate()), interface="127.0.0.1")
    yield f"http://127.0.0.1:{port.getHost().port}"
    port.stopListening()


class AreaSpider(scrapy.Spider):
    name = "area"

    def __init__(self, site: str, pages: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.site = site
        self.pages = pages
        self.failures: list[Any] = []

    async def start(self) -> AsyncIterator[scrapy.Request]:
        for page in range(1, self.pages + 1):
            yield scrapy.Request(f"{self.site}/area?page={page}", errback=self.failures.append)

    def parse(self, response: Response) -> Iterator[dict[str, Any]]:
        for text in response.css(".item::text").getall():
            yield {"item": text}


@pytest_twisted.ensureDeferred
async def test_a_challenge_that_is_per_url_is_learned_and_every_page_scraped(
    vastcaptcha_emulator: EmulatorHandle, per_url_site: str
) -> None:
    vastcaptcha_emulator.configure(solve_time=0.2)
    result = await crawl(
        AreaSpider,
        captcha_settings(vastcaptcha_emulator, CONCURRENT_REQUESTS=8),
        site=per_url_site,
        pages=12,
    )
    spider = result.crawler.spider
    assert isinstance(spider, AreaSpider)
    assert spider.failures == []
    assert sorted(i["item"] for i in result.items) == sorted(f"item-{n}" for n in range(1, 13))
    # Learned within one round: logged and counted once, and no page paid twice.
    assert result.stats["vastcaptcha/per_request_challenges"] == 1
    tasks = Counter(t["fields"].get("websiteKey") for t in vastcaptcha_emulator.tasks())
    assert tasks[SITEKEY] == 12


class HealingSpider(ShopSpider):
    """Turns the emulator's faults off in the first errback it gets."""

    def __init__(self, emulator: EmulatorHandle, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.emulator = emulator

    def failed(self, failure: Any) -> None:
        super().failed(failure)
        self.emulator.configure(faults={"unsolvable": 0.0})


@pytest_twisted.ensureDeferred
async def test_when_the_shared_solve_fails_a_waiting_request_takes_over(
    vastcaptcha_emulator: EmulatorHandle, vastcaptcha_demo_site: DemoSiteHandle
) -> None:
    # Every task is unsolvable until the first request ends in its errback;
    # then one of the requests that waited on it solves for the others.
    vastcaptcha_emulator.configure(solve_time=0.3, faults={"unsolvable": 1.0})
    result = await crawl(
        HealingSpider,
        captcha_settings(vastcaptcha_emulator, CONCURRENT_REQUESTS=8, VASTCAPTCHA_MAX_ATTEMPTS=1),
        site=vastcaptcha_demo_site.url,
        pages=8,
        paths=[INTERSTITIAL],
        emulator=vastcaptcha_emulator,
    )
    spider = result.crawler.spider
    assert isinstance(spider, HealingSpider)
    assert [getattr(f.value, "code", None) for f in spider.failures] == ["ERROR_CAPTCHA_UNSOLVABLE"]
    scraped = {i["url"] for i in result.items}
    # Every request ended once: seven in their callback, the leader in its errback.
    assert len(scraped) == 7
    assert challenge_tasks(vastcaptcha_emulator) == 2

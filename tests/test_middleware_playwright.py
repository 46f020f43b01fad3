"""The middleware on pages rendered by scrapy-playwright."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_twisted
from playwright.async_api import Page
from scrapy import Request, Spider
from scrapy.http import Response

from scrapy_vastcaptcha.demo.spider import expected_skus
from scrapy_vastcaptcha.testing import DemoSiteHandle, EmulatorHandle
from scrapy_vastcaptcha.testing.browser import chromium_launch_options, route_widget_scripts
from tests.crawling import captcha_settings, crawl

pytestmark = pytest.mark.browser

PLAYWRIGHT_SETTINGS = {
    "DOWNLOAD_HANDLERS": {
        "http": "scrapy_playwright.handler.ScrapyPlaywrightDownloadHandler",
        "https": "scrapy_playwright.handler.ScrapyPlaywrightDownloadHandler",
    },
    "PLAYWRIGHT_LAUNCH_OPTIONS": chromium_launch_options(),
    # PLAYWRIGHT_PROCESS_REQUEST_HEADERS is the add-on's: the forms the pages
    # post keep their Content-Type.
}


async def route_stand_ins(page: Page, request: Request) -> None:
    await route_widget_scripts(page)


class RenderedSpider(Spider):
    name = "rendered"

    def __init__(self, site: str, include_page: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.site = site
        self.include_page = include_page
        self.seen: list[Response] = []

    async def start(self) -> AsyncIterator[Request]:
        for path in ("/recaptcha-v2", "/hcaptcha", "/turnstile"):
            meta: dict[str, Any] = {
                "playwright": True,
                "playwright_page_init_callback": route_stand_ins,
            }
            if self.include_page:
                meta["playwright_include_page"] = True
            yield Request(f"{self.site}{path}?page=1", meta=meta)

    async def parse(self, response: Response) -> AsyncIterator[dict[str, Any]]:
        self.seen.append(response)
        if "playwright_page" in response.meta:
            await response.meta["playwright_page"].close()
        for product in response.css(".product"):
            yield {"sku": product.attrib["data-sku"]}


@pytest_twisted.ensureDeferred
async def test_rendered_pages_are_solved_in_the_page(
    vastcaptcha_emulator: EmulatorHandle, vastcaptcha_demo_site: DemoSiteHandle
) -> None:
    vastcaptcha_emulator.configure(solve_time=0.1)
    result = await crawl(
        RenderedSpider,
        captcha_settings(vastcaptcha_emulator, **PLAYWRIGHT_SETTINGS),
        site=vastcaptcha_demo_site.url,
    )
    assert {i["sku"] for i in result.items} == expected_skus(
        1, ["recaptcha-v2", "hcaptcha", "turnstile"]
    )
    assert result.stats["vastcaptcha/solved"] == 3
    # Each page posted its own form: one page per request, no resubmission.
    assert result.stats["playwright/response_count/method/POST"] == 3
    assert result.stats["playwright/page_count"] == 3
    assert result.stats["downloader/request_count"] == 3


@pytest_twisted.ensureDeferred
async def test_pages_handed_to_the_callback_are_past_their_captcha(
    vastcaptcha_emulator: EmulatorHandle, vastcaptcha_demo_site: DemoSiteHandle
) -> None:
    vastcaptcha_emulator.configure(solve_time=0.1)
    result = await crawl(
        RenderedSpider,
        captcha_settings(vastcaptcha_emulator, **PLAYWRIGHT_SETTINGS),
        site=vastcaptcha_demo_site.url,
        include_page=True,
    )
    spider = result.crawler.spider
    assert isinstance(spider, RenderedSpider)
    assert len(spider.seen) == 3
    assert not any(r.css(".g-recaptcha, .h-captcha, .cf-turnstile") for r in spider.seen)
    assert {i["sku"] for i in result.items} == expected_skus(
        1, ["recaptcha-v2", "hcaptcha", "turnstile"]
    )
    assert vastcaptcha_emulator.stats()["calls"]["createTask"] == 3

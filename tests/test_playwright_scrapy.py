"""The async helper inside a real scrapy-playwright crawl.

Scrapy's asyncio reactor drives the loop Playwright runs on; the spider's
callback gets the page (``playwright_include_page``), solves its captchas,
submits, and scrapes the products.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_twisted
from playwright.async_api import Page
from scrapy import Request, Spider
from scrapy.http import Response

from scrapy_vastcaptcha.demo.catalog import products
from scrapy_vastcaptcha.playwright import install_hooks, solve_captchas
from scrapy_vastcaptcha.testing import DemoSiteHandle, EmulatorHandle
from scrapy_vastcaptcha.testing.browser import chromium_launch_options, route_widget_scripts
from tests.crawling import crawl

pytestmark = pytest.mark.browser

# path, iframe holding the form (or None), whether the page submits itself
PAGES = {
    "recaptcha-v2": ("/recaptcha-v2", None, False),
    "recaptcha-v3": ("/recaptcha-v3", None, False),
    "turnstile-interstitial": ("/turnstile-interstitial/catalog", None, True),
    "two-captchas": ("/two-captchas", None, False),
    "iframe": ("/iframe", "#shop-frame", False),
}


async def prepare_page(page: Page, request: Request) -> None:
    """playwright_page_init_callback: runs before the page navigates."""
    await route_widget_scripts(page)
    await install_hooks(page)


class ShopSpider(Spider):
    name = "shop"

    def __init__(self, site: str, api_url: str, api_key: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.site, self.api_url, self.api_key = site, api_url, api_key

    async def start(self) -> AsyncIterator[Request]:
        for kind, (path, _, _) in PAGES.items():
            yield Request(
                self.site + path,
                cb_kwargs={"kind": kind},
                meta={
                    "playwright": True,
                    "playwright_include_page": True,
                    "playwright_page_init_callback": prepare_page,
                },
            )

    async def parse(self, response: Response, kind: str) -> AsyncIterator[dict[str, Any]]:
        page: Page = response.meta["playwright_page"]
        _, frame, submits = PAGES[kind]
        try:
            results = await solve_captchas(
                page, api_key=self.api_key, api_url=self.api_url, poll_interval=0.2
            )
            where = page.frame_locator(frame) if frame else page
            if not submits:
                await where.locator("#captcha-form button[type=submit]").click()
            await where.locator(".product").first.wait_for()
            names = await where.locator(".product .name").all_inner_texts()
        finally:
            await page.close()
        yield {"kind": kind, "captchas": [r.kind for r in results if r.ok], "products": names}


@pytest_twisted.ensureDeferred
async def test_scrapy_playwright_crawl(
    vastcaptcha_demo_site: DemoSiteHandle, vastcaptcha_emulator: EmulatorHandle
) -> None:
    settings = {
        "DOWNLOAD_HANDLERS": {
            "http": "scrapy_playwright.handler.ScrapyPlaywrightDownloadHandler",
            "https": "scrapy_playwright.handler.ScrapyPlaywrightDownloadHandler",
        },
        "PLAYWRIGHT_BROWSER_TYPE": "chromium",
        "PLAYWRIGHT_LAUNCH_OPTIONS": chromium_launch_options(),
        # the default puts the Scrapy request's headers on every navigation,
        # which strips the Content-Type of the forms the pages post
        "PLAYWRIGHT_PROCESS_REQUEST_HEADERS": None,
        "TWISTED_REACTOR": "twisted.internet.asyncioreactor.AsyncioSelectorReactor",
        "LOG_LEVEL": "INFO",
        "TELNETCONSOLE_ENABLED": False,
        "ROBOTSTXT_OBEY": False,
        # a challenge page answers 403; the callback must still see it
        "HTTPERROR_ALLOWED_CODES": [403],
    }
    result = await crawl(
        ShopSpider,
        settings,
        site=vastcaptcha_demo_site.url,
        api_url=vastcaptcha_emulator.api_url,
        api_key=vastcaptcha_emulator.api_key,
    )
    assert result.reason == "finished"
    by_kind = {item["kind"]: item for item in result.items}
    assert set(by_kind) == set(PAGES)
    assert by_kind["two-captchas"]["captchas"] == ["recaptcha-v2", "turnstile"]
    assert by_kind["recaptcha-v3"]["captchas"] == ["recaptcha-v3"]
    for kind, item in by_kind.items():
        assert item["products"] == [p.name for p in products(kind, 1)]
    assert vastcaptcha_emulator.stats()["tasks"]["created"] == 6

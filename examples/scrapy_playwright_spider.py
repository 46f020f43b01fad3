"""A scrapy-playwright spider that solves captchas in the browser page.

    python examples/run_on_emulator.py scrapy-playwright     # offline, on the emulator
    scrapy runspider examples/scrapy_playwright_spider.py -a site=https://your-site

The callback receives the live page (``playwright_include_page``) and calls
the Playwright helper; the add-on's middleware leaves such pages to it. Pages
rendered with ``playwright`` but without ``playwright_include_page`` would be
solved by the middleware instead, their form resubmitted through the browser.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

import scrapy
from playwright.async_api import Page
from scrapy.http import Response

from scrapy_vastcaptcha.playwright import install_hooks, solve_captchas
from scrapy_vastcaptcha.testing.browser import chromium_launch_options, route_widget_scripts

OFFLINE = bool(os.environ.get("EXAMPLE_OFFLINE"))
POLL_INTERVAL = float(os.environ.get("EXAMPLE_POLL_INTERVAL", "3"))


async def prepare(page: Page, request: scrapy.Request) -> None:
    """Runs before the page navigates: the helper's hooks must come first."""
    if OFFLINE:
        await route_widget_scripts(page)
    await install_hooks(page)


class BrowserShopSpider(scrapy.Spider):
    name = "browser_shop"
    custom_settings = {
        "DOWNLOAD_HANDLERS": {
            "http": "scrapy_playwright.handler.ScrapyPlaywrightDownloadHandler",
            "https": "scrapy_playwright.handler.ScrapyPlaywrightDownloadHandler",
        },
        "PLAYWRIGHT_LAUNCH_OPTIONS": chromium_launch_options(),
        # The pages post their own forms: keep the browser's headers for them.
        "PLAYWRIGHT_PROCESS_REQUEST_HEADERS": None,
        # A challenge page answers 403; the callback must still get it.
        "HTTPERROR_ALLOWED_CODES": [403],
        "ADDONS": {"scrapy_vastcaptcha.Addon": 500},
    }

    def __init__(self, site: str = "http://127.0.0.1:8766", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.site = site.rstrip("/")

    async def start(self) -> AsyncIterator[scrapy.Request]:
        for path in ("/recaptcha-v3", "/turnstile-interstitial/catalog"):
            yield scrapy.Request(
                self.site + path,
                meta={
                    "playwright": True,
                    "playwright_include_page": True,
                    "playwright_page_init_callback": prepare,
                },
            )

    async def parse(self, response: Response, **kwargs: Any) -> AsyncIterator[dict[str, Any]]:
        page: Page = response.meta["playwright_page"]
        try:
            results = await solve_captchas(page, poll_interval=POLL_INTERVAL)
            # A fired callback has taken the page on itself (the interstitial
            # posts its challenge form): the page is navigating, so asking it
            # about its form now would race that navigation. Otherwise, submit.
            if not any(result.callback_fired for result in results):
                await page.locator("#captcha-form button[type=submit]").click()
            await page.locator(".product").first.wait_for()
            skus = await page.locator(".product").evaluate_all(
                "nodes => nodes.map(n => n.dataset.sku)"
            )
        finally:
            await page.close()
        for sku in skus:
            yield {"sku": sku, "captchas": [r.kind for r in results]}

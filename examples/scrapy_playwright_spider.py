"""A scrapy-playwright spider whose captchas are solved in the browser, with no captcha code.

    python examples/run_on_emulator.py scrapy-playwright     # offline, on the emulator
    scrapy runspider examples/scrapy_playwright_spider.py -a site=https://your-site

With the add-on enabled, the captchas of every ``playwright`` request are
solved in the live page before scrapy-playwright reads it: each token goes into
the frame that owns its widget, the widget's callback is fired (or
``grecaptcha.execute`` answers with the token) and the form is submitted the
way the page submits it. The callback gets the page after the captcha, and
``response.meta["vastcaptcha"]`` says what was solved. The key comes from
``VASTCAPTCHA_API_KEY``.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

import scrapy
from playwright.async_api import Page
from scrapy.http import Response

from scrapy_vastcaptcha.testing.browser import chromium_launch_options, route_widget_scripts

OFFLINE = bool(os.environ.get("EXAMPLE_OFFLINE"))

PATHS = (
    "/recaptcha-v3",  # the submit handler asks grecaptcha.execute() for a token
    "/recaptcha-v2-invisible",  # only the widget's callback submits the form
    "/turnstile-interstitial/catalog",  # a 403 challenge page in front of the catalog
    "/two-captchas",  # reCAPTCHA and Turnstile in one form
)


async def offline_widgets(page: Page, request: scrapy.Request) -> None:
    """Offline only: the widget scripts come from the bundled stand-ins."""
    await route_widget_scripts(page)


class BrowserShopSpider(scrapy.Spider):
    name = "browser_shop"
    custom_settings = {
        "ADDONS": {"scrapy_vastcaptcha.Addon": 500},
        "DOWNLOAD_HANDLERS": {
            "http": "scrapy_playwright.handler.ScrapyPlaywrightDownloadHandler",
            "https": "scrapy_playwright.handler.ScrapyPlaywrightDownloadHandler",
        },
        "PLAYWRIGHT_LAUNCH_OPTIONS": chromium_launch_options(),
    }

    def __init__(self, site: str = "http://127.0.0.1:8766", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.site = site.rstrip("/")

    async def start(self) -> AsyncIterator[scrapy.Request]:
        meta: dict[str, Any] = {"playwright": True}
        if OFFLINE:
            meta["playwright_page_init_callback"] = offline_widgets
        for path in PATHS:
            yield scrapy.Request(self.site + path, meta=meta)

    def parse(self, response: Response, **kwargs: Any) -> Any:
        solved = response.meta.get("vastcaptcha") or {}
        for product in response.css(".product"):
            yield {
                "sku": product.attrib["data-sku"],
                "name": product.css(".name::text").get(),
                "captchas": [captcha["kind"] for captcha in solved.get("captchas", [])],
            }

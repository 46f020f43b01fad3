"""``ADDONS = {"scrapy_vastcaptcha.Addon": 500}``: everything enabled in one line."""

from __future__ import annotations

from scrapy.settings import BaseSettings

from scrapy_vastcaptcha.config import DEFAULTS
from scrapy_vastcaptcha.middleware import PendingSolvesPipeline, VastCaptchaMiddleware

#: Between RetryMiddleware (550), so that a 403/429 captcha page is solved
#: instead of retried, and HttpCompressionMiddleware (590), so that bodies
#: are already decompressed; before HttpProxyMiddleware (750) in
#: process_request, so that proxy credentials can still be read.
MIDDLEWARE_PRIORITY = 580


#: scrapy-playwright's header processing, keeping the Content-Type of forms
#: posted by the page (see :func:`scrapy_vastcaptcha.scrapy_playwright.page_form_headers`).
PROCESS_REQUEST_HEADERS = "scrapy_vastcaptcha.scrapy_playwright.page_form_headers"

#: Any position works: the pipeline only acts when the spider closes.
PIPELINE_PRIORITY = 0


class Addon:
    """Enables :class:`~scrapy_vastcaptcha.VastCaptchaMiddleware` at
    :data:`MIDDLEWARE_PRIORITY` and its close hook
    :class:`~scrapy_vastcaptcha.middleware.PendingSolvesPipeline`, and sets the
    ``VASTCAPTCHA_*`` defaults and, for scrapy-playwright,
    ``PLAYWRIGHT_PROCESS_REQUEST_HEADERS`` (user values win)."""

    def update_settings(self, settings: BaseSettings) -> None:
        settings.setdefault_in_component_priority_dict(
            "DOWNLOADER_MIDDLEWARES", VastCaptchaMiddleware, MIDDLEWARE_PRIORITY
        )
        settings.setdefault_in_component_priority_dict(
            "ITEM_PIPELINES", PendingSolvesPipeline, PIPELINE_PRIORITY
        )
        for name, value in DEFAULTS.items():
            settings.setdefault(name, value, priority="addon")
        # Forms that pages rendered by scrapy-playwright post themselves (after
        # a captcha solved in the page) keep their Content-Type.
        settings.setdefault(
            "PLAYWRIGHT_PROCESS_REQUEST_HEADERS", PROCESS_REQUEST_HEADERS, priority="addon"
        )

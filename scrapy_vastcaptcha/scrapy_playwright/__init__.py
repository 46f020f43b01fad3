"""Captchas of pages rendered by scrapy-playwright, solved in the live page.

With the add-on enabled, a request with ``meta["playwright"] = True`` gets
two things from :class:`~scrapy_vastcaptcha.VastCaptchaMiddleware` before it
is downloaded, both through scrapy-playwright's own extension points:

* its ``playwright_page_init_callback`` is wrapped so that the helper's init
  script (:func:`~scrapy_vastcaptcha.playwright.install_hooks`) is on the page
  before the page's scripts run; the request's own callback still runs after;
* a :class:`~scrapy_playwright.page.PageMethod` holding a callable goes first
  in its ``playwright_page_methods``. scrapy-playwright awaits page methods
  after the navigation and before it reads the page's HTML, so the page that
  reaches the callback is the page after the captcha.

That page method finds the captchas of the page (and of every frame when the
callback gets the page, ``playwright_include_page``: otherwise it gets the top
document's HTML only, and a framed captcha is left to the request that
follows the frame, so that it is paid once), solves them with the helper's
flow (:mod:`scrapy_vastcaptcha.playwright.flow`, one look at the page per
round) on the middleware's client (one client per crawl, under its budget
gate and ``VASTCAPTCHA_MAX_CONCURRENT``), and then lets the page go on the way
it goes on for a person: a widget callback that was fired submits by itself; otherwise
the widget's form is submitted by clicking its submit button, so that the
page's submit handlers run (a v3 page asking ``grecaptcha.execute`` at submit
time gets the solved token). When the site answers with a captcha again, the
page is solved again, up to ``VASTCAPTCHA_MAX_ATTEMPTS`` rounds.

What happened is left in the request's meta as a :class:`BrowserReport`; the
middleware turns it into ``response.meta["vastcaptcha"]`` (or a
:class:`~scrapy_vastcaptcha.CaptchaError` for the errback) and gives the
response the status of the page's last navigation (a challenge page answers
403; the page after it, 200).
"""

from __future__ import annotations

from scrapy_vastcaptcha.scrapy_playwright.headers import page_form_headers
from scrapy_vastcaptcha.scrapy_playwright.report import BrowserReport
from scrapy_vastcaptcha.scrapy_playwright.wiring import (
    MIN_SCRAPY_PLAYWRIGHT,
    BrowserSolving,
    browser_solving,
)

__all__ = [
    "MIN_SCRAPY_PLAYWRIGHT",
    "BrowserReport",
    "BrowserSolving",
    "browser_solving",
    "page_form_headers",
]

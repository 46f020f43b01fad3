"""The demo shop: pages protected by every supported captcha kind.

Run it with ``vastcaptcha demo-site`` or, on a running reactor, with
:func:`start_demo_site`. Tokens are verified by the VastCap emulator, so only
tokens it issued (through a real solve request) open the pages.
"""

from scrapy_vastcaptcha.demo.catalog import PAGES, SITEKEYS, products
from scrapy_vastcaptcha.demo.site import RunningDemoSite, start_demo_site

__all__ = ["PAGES", "SITEKEYS", "RunningDemoSite", "products", "start_demo_site"]

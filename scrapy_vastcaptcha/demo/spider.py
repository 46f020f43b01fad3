"""A spider over the demo shop: the crawl of ``vastcaptcha demo``, the tests and the examples."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

import scrapy
from scrapy.http import Response
from twisted.python.failure import Failure

from scrapy_vastcaptcha.demo.catalog import PAGES, products

#: How the image page's captcha is described to the middleware (no widget to detect).
IMAGE_META = {"kind": "image", "image": "#captcha-image", "field": "captcha"}


def expected_skus(pages: int, kinds: list[str] | None = None) -> set[str]:
    """The SKUs a complete crawl of ``pages`` pages of each kind scrapes."""
    chosen = kinds or [p.kind for p in PAGES]
    return {p.sku for kind in chosen for n in range(1, pages + 1) for p in products(kind, n)}


class ShopSpider(scrapy.Spider):
    """Visits every protected page (``pages`` of each kind) and scrapes the products.

    ``pages_per_path`` sets another number of pages for some paths (the demo
    crawls more of the session-wide interstitial). Pages in iframes are
    followed; the image page's captcha is declared in meta
    (:data:`IMAGE_META`); failures are kept in :attr:`failures`.
    """

    name = "shop"

    def __init__(
        self,
        site: str,
        pages: int = 1,
        paths: list[str] | None = None,
        *,
        pages_per_path: Mapping[str, int] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.site = site
        self.pages = int(pages)
        self.paths = paths or [p.path for p in PAGES]
        self.pages_per_path = {path: int(n) for path, n in (pages_per_path or {}).items()}
        self.failures: list[Failure] = []

    async def start(self) -> Any:
        for path in self.paths:
            meta = {"vastcaptcha": IMAGE_META} if path == "/image" else {}
            for page in range(1, self.pages_per_path.get(path, self.pages) + 1):
                yield scrapy.Request(
                    f"{self.site}{path}?page={page}", meta=meta, errback=self.failed
                )

    def parse(self, response: Response, **kwargs: Any) -> Iterator[Any]:
        for src in response.css("iframe::attr(src)").getall():
            yield response.follow(src, callback=self.parse, errback=self.failed)
        for product in response.css(".product"):
            yield {
                "sku": product.attrib["data-sku"],
                "name": product.css(".name::text").get(),
                "url": response.url,
                "captcha": response.meta.get("vastcaptcha"),
            }

    def failed(self, failure: Failure) -> None:
        self.failures.append(failure)


class SiteSpider(scrapy.Spider):
    """Follows links within one site from ``start_url`` (up to ``max_pages``)
    and reports each page: the crawl ``vastcaptcha demo --start-url`` runs on
    the real service."""

    name = "site"

    def __init__(self, start_url: str, max_pages: int = 20, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.start_url = start_url
        self.max_pages = int(max_pages)
        self.allowed_domains = [urlsplit(start_url).hostname or ""]
        self.seen = 0

    async def start(self) -> Any:
        yield scrapy.Request(self.start_url)

    def parse(self, response: Response, **kwargs: Any) -> Iterator[Any]:
        self.seen += 1
        yield {
            "url": response.url,
            "title": response.css("title::text").get(),
            "captcha": response.meta.get("vastcaptcha"),
        }
        for href in response.css("a::attr(href)").getall():
            if self.seen >= self.max_pages:
                break
            yield response.follow(href)

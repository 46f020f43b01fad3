"""A spider over the demo shop, shared by the crawl tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import scrapy
from scrapy.http import Response
from twisted.python.failure import Failure

from scrapy_vastcaptcha.demo.catalog import PAGES, products

#: How the image page's captcha is described to the middleware (no widget to detect).
IMAGE_META = {"kind": "image", "image": "#captcha-image", "field": "captcha"}


def expected_skus(pages: int, kinds: list[str] | None = None) -> set[str]:
    chosen = kinds or [p.kind for p in PAGES]
    return {p.sku for kind in chosen for n in range(1, pages + 1) for p in products(kind, n)}


class ShopSpider(scrapy.Spider):
    """Visits every protected page (``pages`` of each kind) and scrapes the products."""

    name = "shop"
    custom_settings: dict[str, Any] = {}

    def __init__(
        self, site: str, pages: int = 1, paths: list[str] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.site = site
        self.pages = int(pages)
        self.paths = paths or [p.path for p in PAGES]
        self.failures: list[Failure] = []

    async def start(self) -> Any:
        for path in self.paths:
            meta = {"vastcaptcha": IMAGE_META} if path == "/image" else {}
            for page in range(1, self.pages + 1):
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

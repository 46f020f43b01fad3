"""Scrapes the products behind every captcha of the demo shop.

scrapy crawl shop -a site=http://127.0.0.1:8766 -O products.jsonl
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import scrapy
from scrapy.http import Response


class ShopSpider(scrapy.Spider):
    name = "shop"

    def __init__(self, site: str = "http://127.0.0.1:8766", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.site = site.rstrip("/")

    async def start(self) -> AsyncIterator[scrapy.Request]:
        yield scrapy.Request(self.site + "/", callback=self.parse_index)

    def parse_index(self, response: Response) -> Iterator[scrapy.Request]:
        for href in response.css("ul.pages a::attr(href)").getall():
            meta = {}
            if href == "/image":
                # Image captchas have no widget to detect: say where it is.
                meta["vastcaptcha"] = {
                    "kind": "image",
                    "image": "#captcha-image",
                    "field": "captcha",
                }
            yield response.follow(href, meta=meta)

    def parse(self, response: Response, **kwargs: Any) -> Iterator[Any]:
        for src in response.css("iframe::attr(src)").getall():
            yield response.follow(src)
        solved = response.meta.get("vastcaptcha") or {}
        for product in response.css(".product"):
            yield {
                "sku": product.attrib["data-sku"],
                "name": product.css(".name::text").get(),
                "price": product.css(".price::text").get(),
                "captcha": solved.get("kind"),
                "solve_seconds": solved.get("solve_seconds"),
            }

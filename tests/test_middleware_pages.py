"""The middleware on pages the demo shop does not have: real-world shapes."""

from __future__ import annotations

import pytest_twisted
import scrapy
from scrapy.http import JsonRequest

from scrapy_vastcaptcha.testing import EmulatorHandle
from tests import static_site
from tests.crawling import RequestsSpider, crawl_requests

V3_SCRIPT = '<script src="https://www.google.com/recaptcha/api.js?render=6Lc-sitewide-v3"></script>'
WIDGET = '<div class="g-recaptcha" data-sitekey="6Lc-pages-test-key"></div>'


async def fetch(emulator: EmulatorHandle, request: scrapy.Request) -> RequestsSpider:
    spider = await crawl_requests(emulator, [request])
    assert spider.errors == []
    return spider


@pytest_twisted.ensureDeferred
async def test_sitewide_v3_script_on_ordinary_pages_costs_nothing(
    vastcaptcha_emulator: EmulatorHandle, site: static_site.StaticSite
) -> None:
    # Google advises loading v3 on every page; a header search form is no captcha form.
    site.pages["/product"] = static_site.Page(
        f'<html><head>{V3_SCRIPT}</head><body><form action="/search"><input name="q">'
        '</form><div class="product">Teapot</div></body></html>'.encode()
    )
    spider = await fetch(vastcaptcha_emulator, scrapy.Request(f"{site.url}/product"))
    (response,) = spider.responses
    assert response.css(".product::text").get() == "Teapot"
    assert vastcaptcha_emulator.stats()["calls"]["createTask"] == 0
    assert [h.path for h in site.hits] == ["/product"]


@pytest_twisted.ensureDeferred
async def test_widget_in_no_form_goes_to_the_callback_unsolved(
    vastcaptcha_emulator: EmulatorHandle, site: static_site.StaticSite
) -> None:
    site.pages["/js-only"] = static_site.Page(f"<html><body>{WIDGET}</body></html>".encode())
    spider = await fetch(vastcaptcha_emulator, scrapy.Request(f"{site.url}/js-only"))
    assert len(spider.responses) == 1
    assert vastcaptcha_emulator.stats()["calls"]["createTask"] == 0


@pytest_twisted.ensureDeferred
async def test_json_request_answered_with_a_captcha_form(
    vastcaptcha_emulator: EmulatorHandle, site: static_site.StaticSite
) -> None:
    vastcaptcha_emulator.configure(solve_time=0.05)
    site.pages["/api/items"] = static_site.Page(
        f'<form method="post" action="/verify"><input name="next" value="/api/items">{WIDGET}'
        "</form>".encode(),
        status=403,
    )
    request = JsonRequest(
        f"{site.url}/api/items",
        data={"query": "teapots"},
        headers={"Authorization": "Bearer site-token"},
    )
    spider = await fetch(vastcaptcha_emulator, request)
    (response,) = spider.responses
    assert response.url == f"{site.url}/verify"
    post = site.hits[-1]
    assert post.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert b"next=%2Fapi%2Fitems" in post.body
    assert b"g-recaptcha-response=03" in post.body
    # Same host: the site's own credentials still go with the form.
    assert post.headers["Authorization"] == "Bearer site-token"


@pytest_twisted.ensureDeferred
async def test_form_in_a_legacy_charset_keeps_its_values(
    vastcaptcha_emulator: EmulatorHandle, site: static_site.StaticSite
) -> None:
    vastcaptcha_emulator.configure(solve_time=0.05)
    html = f'<form method="post" action="/ru/ok"><input name="q" value="Привет">{WIDGET}</form>'
    site.pages["/ru"] = static_site.Page(
        html.encode("cp1251"), content_type=b"text/html; charset=windows-1251"
    )
    await fetch(vastcaptcha_emulator, scrapy.Request(f"{site.url}/ru"))
    post = site.hits[-1]
    assert post.path == "/ru/ok"
    # As a browser sends it: percent-encoded in the page's charset.
    assert b"q=%CF%F0%E8%E2%E5%F2" in post.body

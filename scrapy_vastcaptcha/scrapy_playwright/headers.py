"""scrapy-playwright header processing that keeps the Content-Type of forms the page posts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from playwright.async_api import Request as PlaywrightRequest

__all__ = ["page_form_headers"]


async def page_form_headers(
    *,
    browser_type_name: str,
    playwright_request: PlaywrightRequest,
    scrapy_request_data: dict[str, Any],
) -> dict[str, str]:
    """``PLAYWRIGHT_PROCESS_REQUEST_HEADERS`` that the add-on sets (unless set):
    scrapy-playwright's default, except that a form the page itself posts
    keeps its ``Content-Type``.

    The default gives every navigation the Scrapy request's headers, so the
    ``POST`` of a form submitted in the page (after its captcha) would reach
    the site without saying how its body is encoded.
    """
    from scrapy_playwright.headers import use_scrapy_headers  # type: ignore[import-untyped]

    headers: dict[str, str] = await use_scrapy_headers(
        browser_type_name=browser_type_name,
        playwright_request=playwright_request,
        scrapy_request_data=scrapy_request_data,
    )
    if not playwright_request.is_navigation_request() or playwright_request.post_data is None:
        return headers
    same_request = playwright_request.method.upper() == str(
        scrapy_request_data["method"]
    ).upper() and playwright_request.url.rstrip("/") == str(scrapy_request_data["url"]).rstrip("/")
    if same_request and any(name.lower() == "content-type" for name in headers):
        return headers
    content_type = await playwright_request.header_value("content-type")
    if content_type:
        headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
        headers["content-type"] = content_type
    return headers

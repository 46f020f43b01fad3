"""Our own stand-in widget scripts, written apart from the demo kit's
(``scrapy_vastcaptcha/testing/widgets``): same public globals and DOM
contract, other internals. See each script's header for what differs.

:func:`route_variants` serves them in place of the provider scripts on top of
:func:`~scrapy_vastcaptcha.testing.browser.route_widget_scripts`, which still
serves the widgets' iframe documents and blocks the internet.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from scrapy_vastcaptcha.testing.browser import route_widget_scripts, route_widget_scripts_sync

if TYPE_CHECKING:
    from playwright.async_api import BrowserContext as AsyncContext
    from playwright.async_api import Route as AsyncRoute
    from playwright.sync_api import BrowserContext as SyncContext
    from playwright.sync_api import Route as SyncRoute

HERE = Path(__file__).parent
JS = "application/javascript; charset=utf-8"


@cache
def script(name: str) -> bytes:
    return (HERE / name).read_bytes()


def variant_for(url: str) -> str | None:
    """The stand-in script that answers ``url``, if it is a provider's api.js."""
    parts = urlsplit(url)
    host, path = (parts.hostname or "").lower(), parts.path
    if host in ("www.google.com", "www.recaptcha.net") and path in (
        "/recaptcha/api.js",
        "/recaptcha/enterprise.js",
    ):
        return "recaptcha.js"
    if host == "js.hcaptcha.com" and path.endswith("/api.js"):
        return "hcaptcha.js"
    if host == "challenges.cloudflare.com" and path.startswith("/turnstile/"):
        return "turnstile.js" if path.endswith("/api.js") else None
    return None


def _is_variant(url: str) -> bool:
    return variant_for(url) is not None


def _body(url: str) -> bytes:
    name = variant_for(url)
    assert name is not None
    return script(name)


async def route_variants(context: AsyncContext) -> None:
    """Serve the variants (and the kit's frames, and nothing from outside) in ``context``."""
    await route_widget_scripts(context)

    async def handle(route: AsyncRoute) -> None:
        await route.fulfill(status=200, content_type=JS, body=_body(route.request.url))

    # registered last, so it is asked first
    await context.route(_is_variant, handle)


def route_variants_sync(context: SyncContext) -> None:
    """Sync twin of :func:`route_variants`."""
    route_widget_scripts_sync(context)

    def handle(route: SyncRoute) -> None:
        route.fulfill(status=200, content_type=JS, body=_body(route.request.url))

    context.route(_is_variant, handle)

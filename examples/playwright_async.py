"""Solve the captchas of a few demo-shop pages in Chromium, with the async API.

    python examples/run_on_emulator.py async             # offline, on the emulator
    VASTCAPTCHA_API_KEY=... python examples/playwright_async.py https://your-site

The key and API URL come from VASTCAPTCHA_API_KEY / VASTCAPTCHA_API_URL.
Pages are solved concurrently, each in its own tab.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys

from playwright.async_api import BrowserContext, async_playwright

from scrapy_vastcaptcha.playwright import install_hooks, solve_captchas
from scrapy_vastcaptcha.testing.browser import chromium_launch_options, route_widget_scripts

# The run_on_emulator.py runner sets these: the demo shop's pages load the
# real widget scripts, replaced offline by stand-ins, and the emulator solves
# ten times faster than the service.
OFFLINE = bool(os.environ.get("EXAMPLE_OFFLINE"))
POLL_INTERVAL = float(os.environ.get("EXAMPLE_POLL_INTERVAL", "3"))

# path, and the frame holding the form (the iframe page)
PAGES = [
    ("/recaptcha-v2", None),
    ("/hcaptcha", None),
    ("/two-captchas", None),
    ("/iframe", "#shop-frame"),
]


async def scrape(context: BrowserContext, url: str, frame: str | None) -> list[dict[str, str]]:
    page = await context.new_page()
    try:
        await page.goto(url)
        results = await solve_captchas(page, poll_interval=POLL_INTERVAL)
        for result in results:
            print(f"{url}: {result.kind} solved, callback {result.callback}", file=sys.stderr)
        where = page.frame_locator(frame) if frame else page
        await where.locator("form button[type=submit]").click()
        await where.locator(".product").first.wait_for()
        return [
            {"sku": sku, "page": url}
            for sku in await where.locator(".product").evaluate_all(
                "nodes => nodes.map(n => n.dataset.sku)"
            )
        ]
    finally:
        await page.close()


async def main(site: str) -> None:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(**chromium_launch_options())
        context = await browser.new_context()
        if OFFLINE:
            await route_widget_scripts(context)
        await install_hooks(context)  # before any navigation
        pages = await asyncio.gather(*(scrape(context, site + path, f) for path, f in PAGES))
        for items in pages:
            for item in items:
                print(json.dumps(item))
        await browser.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8766"))

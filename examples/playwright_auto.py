"""Every demo-shop page in Chromium with auto mode: no solve call anywhere.

    python examples/playwright_auto.py http://127.0.0.1:8766      # the demo shop
    VASTCAPTCHA_API_KEY=... python examples/playwright_auto.py https://your-site

The key and API URL come from VASTCAPTCHA_API_KEY / VASTCAPTCHA_API_URL.
``auto_solve(context)`` solves each captcha of every tab as soon as it
renders; the script only browses. Pages are visited three tabs at a time.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys

from playwright.async_api import BrowserContext, async_playwright

from scrapy_vastcaptcha.playwright import AutoSolver, auto_solve
from scrapy_vastcaptcha.testing.browser import chromium_launch_options, route_widget_scripts

# Set when run against the emulator (see tests/test_examples.py): stand-in
# widget scripts offline, faster polls than the service needs.
OFFLINE = bool(os.environ.get("EXAMPLE_OFFLINE"))
POLL_INTERVAL = float(os.environ.get("EXAMPLE_POLL_INTERVAL", "3"))
TABS = 3

# path, the frame holding the form, whether the page submits itself (from
# the widget's callback, which auto mode fires)
PAGES = [
    ("/recaptcha-v2", None, False),
    ("/recaptcha-v2-invisible", None, True),
    ("/recaptcha-v2-explicit", None, True),
    ("/recaptcha-v3", None, False),
    ("/recaptcha-enterprise", None, False),
    ("/hcaptcha", None, False),
    ("/turnstile", None, False),
    ("/turnstile-interstitial/catalog", None, True),
    ("/image", None, False),
    ("/two-captchas", None, False),
    ("/iframe", "#shop-frame", False),
]


async def scrape(
    context: BrowserContext, solver: AutoSolver, url: str, frame: str | None, submits: bool
) -> list[dict[str, str]]:
    page = await context.new_page()
    try:
        await page.goto(url)
        where = page.frame_locator(frame) if frame else page
        if not submits:
            # the tokens are in once this returns; then submit as a user would
            await solver.wait_solved(page)
            await where.locator("form button[type=submit]").click()
        await where.locator(".product").first.wait_for()
        skus = await where.locator(".product").evaluate_all(
            "nodes => nodes.map(n => n.dataset.sku)"
        )
        return [{"sku": sku, "page": url} for sku in skus]
    finally:
        await page.close()


async def main(site: str) -> None:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(**chromium_launch_options())
        context = await browser.new_context()
        if OFFLINE:
            await route_widget_scripts(context)
        # before any navigation; covers every tab the context opens
        async with auto_solve(
            context, image_selector="#captcha-image", poll_interval=POLL_INTERVAL
        ) as solver:
            tabs = asyncio.Semaphore(TABS)

            async def visit(path: str, frame: str | None, submits: bool) -> list[dict[str, str]]:
                async with tabs:
                    return await scrape(context, solver, site + path, frame, submits)

            pages = await asyncio.gather(*(visit(*page) for page in PAGES))
            for result in solver.results:
                print(f"{result.frame.url}: {result.kind} solved", file=sys.stderr)
            for error in solver.errors:
                print(f"failed: {error}", file=sys.stderr)
        for items in pages:
            for item in items:
                print(json.dumps(item))
        await browser.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8766"))

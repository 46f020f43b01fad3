"""Every demo-shop page in Chromium with auto mode and the sync API: no solve call.

    python examples/playwright_auto_sync.py http://127.0.0.1:8766    # the demo shop
    VASTCAPTCHA_API_KEY=... python examples/playwright_auto_sync.py https://your-site

The key and API URL come from VASTCAPTCHA_API_KEY / VASTCAPTCHA_API_URL.
Captchas are solved while the script is inside any Playwright call.
"""

from __future__ import annotations

import json
import os
import sys

from playwright.sync_api import sync_playwright

from scrapy_vastcaptcha.playwright.sync_api import auto_solve
from scrapy_vastcaptcha.testing.browser import chromium_launch_options, route_widget_scripts_sync

# Set when run against the emulator: stand-in widget scripts, faster polls.
OFFLINE = bool(os.environ.get("EXAMPLE_OFFLINE"))
POLL_INTERVAL = float(os.environ.get("EXAMPLE_POLL_INTERVAL", "3"))

# path, the frame holding the form, whether the page submits itself
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


def main(site: str) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(**chromium_launch_options())
        context = browser.new_context()
        if OFFLINE:
            route_widget_scripts_sync(context)
        # before any navigation; covers every tab the context opens
        with auto_solve(
            context, image_selector="#captcha-image", poll_interval=POLL_INTERVAL
        ) as solver:
            page = context.new_page()
            for path, frame, submits in PAGES:
                page.goto(site + path)
                where = page.frame_locator(frame) if frame else page
                if not submits:
                    solver.wait_solved(page)  # the tokens are in
                    where.locator("form button[type=submit]").click()
                where.locator(".product").first.wait_for()
                for sku in where.locator(".product").evaluate_all(
                    "nodes => nodes.map(n => n.dataset.sku)"
                ):
                    print(json.dumps({"sku": sku, "page": path}))
            for result in solver.results:
                print(f"{result.frame.url}: {result.kind} solved", file=sys.stderr)
            for error in solver.errors:
                print(f"failed: {error}", file=sys.stderr)
        browser.close()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8766")

"""Solve the captchas of a few demo-shop pages in Chromium, with the sync API.

    python examples/run_on_emulator.py sync              # offline, on the emulator
    VASTCAPTCHA_API_KEY=... python examples/playwright_sync.py https://your-site

The key and API URL come from VASTCAPTCHA_API_KEY / VASTCAPTCHA_API_URL.
"""

from __future__ import annotations

import json
import os
import sys

from playwright.sync_api import sync_playwright

from scrapy_vastcaptcha.playwright.sync_api import (
    BackgroundSolver,
    install_hooks,
    solve_captchas,
)
from scrapy_vastcaptcha.testing.browser import chromium_launch_options, route_widget_scripts_sync

# Set by run_on_emulator.py: stand-in widget scripts offline, faster polls.
OFFLINE = bool(os.environ.get("EXAMPLE_OFFLINE"))
POLL_INTERVAL = float(os.environ.get("EXAMPLE_POLL_INTERVAL", "3"))

# path, and whether the page submits itself from the widget's callback
PAGES = [
    ("/recaptcha-v2-invisible", True),
    ("/turnstile-interstitial/catalog", True),
    ("/image", False),
]


def main(site: str) -> None:
    with (
        sync_playwright() as playwright,
        BackgroundSolver(poll_interval=POLL_INTERVAL) as solver,  # one client for every page
    ):
        browser = playwright.chromium.launch(**chromium_launch_options())
        context = browser.new_context()
        if OFFLINE:
            route_widget_scripts_sync(context)
        install_hooks(context)  # before any navigation
        page = context.new_page()
        for path, submits_itself in PAGES:
            page.goto(site + path)
            results = solve_captchas(page, client=solver, image_selector="#captcha-image")
            for result in results:
                print(f"{path}: {result.kind} solved, callback {result.callback}", file=sys.stderr)
            if not submits_itself:
                page.locator("form button[type=submit]").click()
            page.locator(".product").first.wait_for()
            for sku in page.locator(".product").evaluate_all(
                "nodes => nodes.map(n => n.dataset.sku)"
            ):
                print(json.dumps({"sku": sku, "page": path}))
        browser.close()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8766")

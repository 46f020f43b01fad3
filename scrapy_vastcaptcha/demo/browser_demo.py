"""The Playwright half of ``vastcaptcha demo``: the demo shop's script-driven pages in Chromium.

``python -m scrapy_vastcaptcha.demo.browser_demo --site URL`` with
VASTCAPTCHA_API_URL / VASTCAPTCHA_API_KEY pointing at the emulator. Each page
is solved by :func:`scrapy_vastcaptcha.playwright.solve_captchas`; the report
says which callback fired and whether the shop accepted the tokens.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

from playwright.async_api import BrowserContext, async_playwright

from scrapy_vastcaptcha.playwright import CaptchaResult, install_hooks, solve_captchas
from scrapy_vastcaptcha.testing.browser import chromium_launch_options, route_widget_scripts

#: path, frame holding the form, whether the page submits itself from a callback
PAGES = [
    ("/recaptcha-v3", None, False),
    ("/recaptcha-v2-invisible", None, True),
    ("/recaptcha-v2-explicit", None, True),
    ("/turnstile-interstitial/catalog", None, True),
    ("/two-captchas", None, False),
    ("/iframe", "#shop-frame", False),
]


async def _visit(
    context: BrowserContext, site: str, path: str, frame: str | None, submits: bool, poll: float
) -> tuple[str, bool]:
    page = await context.new_page()
    started = time.monotonic()
    try:
        await page.goto(site + path)
        results = await solve_captchas(page, poll_interval=poll, raise_on_error=False)
        where = page.frame_locator(frame) if frame else page
        if not submits:
            await where.locator("#captcha-form button[type=submit]").click()
        await where.locator(".product").first.wait_for(timeout=30_000)
        products = await where.locator(".product").count()
        solved = ", ".join(_describe(r) for r in results)
        ok = all(r.ok for r in results) and products > 0
        line = f"{path:<32} {solved}; {products} products in {time.monotonic() - started:.1f} s"
    except Exception as exc:  # reported, not raised: the demo shows every page
        ok, line = False, f"{path:<32} FAILED: {exc}"
    finally:
        await page.close()
    return line, ok


def _describe(result: CaptchaResult) -> str:
    if not result.ok:
        return f"{result.kind} FAILED: {result.error}"
    if result.callback and result.callback_fired:
        return f"{result.kind} (fired its {result.callback.source} callback)"
    if result.kind == "recaptcha-v3" and result.execute_overridden:
        return f"{result.kind} (grecaptcha.execute answers with the token)"
    return f"{result.kind} (token in the form)"


async def main(site: str, poll: float) -> int:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(**chromium_launch_options())
        context = await browser.new_context()
        await route_widget_scripts(context)  # the stand-in widget scripts, offline
        await install_hooks(context)
        outcomes = await asyncio.gather(
            *(_visit(context, site, path, frame, submits, poll) for path, frame, submits in PAGES)
        )
        await browser.close()
    for line, _ in outcomes:
        print(f"  {line}")
    failed = sum(not ok for _, ok in outcomes)
    print(f"\nPlaywright: {len(outcomes) - failed} of {len(outcomes)} pages accepted the tokens.")
    return 1 if failed else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site", required=True)
    parser.add_argument("--poll-interval", type=float, default=0.3)
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.site, args.poll_interval)))

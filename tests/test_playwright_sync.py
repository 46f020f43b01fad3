"""The sync Playwright helper, run as a user's plain script in a fresh interpreter.

A subprocess is the realistic setting (no reactor, no event loop managed by
the user) and keeps the sync API's reactor thread away from the test
process's own reactor.
"""

from __future__ import annotations

import pytest

from scrapy_vastcaptcha.demo.catalog import products
from scrapy_vastcaptcha.testing import DemoSiteHandle, EmulatorHandle
from tests.user_scripts import run_script

pytestmark = pytest.mark.browser

SYNC_SCRIPT = """
    import json, sys, time
    from playwright.sync_api import sync_playwright
    from scrapy_vastcaptcha.testing.browser import (
        chromium_launch_options, route_widget_scripts_sync,
    )
    from scrapy_vastcaptcha.api.errors import SolveTimeoutError
    from scrapy_vastcaptcha.playwright.sync_api import (
        BackgroundSolver, find_captchas, install_hooks, solve_captchas,
    )

    site, api_url, api_key = sys.argv[1:4]
    creds = {"api_key": api_key, "api_url": api_url, "poll_interval": 0.2}
    # path, frame holding the form, whether the page submits itself
    PAGES = [
        ("/iframe", "#shop-frame", False),
        ("/two-captchas", None, False),
        ("/recaptcha-v3", None, False),
        ("/turnstile-interstitial/catalog", None, True),
        ("/image", None, False),
    ]
    out = {"pages": {}}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(**chromium_launch_options())
        context = browser.new_context()
        route_widget_scripts_sync(context)
        install_hooks(context)
        page = context.new_page()
        for path, frame, submits in PAGES:
            page.goto(site + path)
            found = find_captchas(page, image_selector="#captcha-image")
            results = solve_captchas(page, image_selector="#captcha-image", **creds)
            where = page.frame_locator(frame) if frame else page
            if not submits:
                where.locator("#captcha-form button[type=submit]").click()
            where.locator(".product").first.wait_for()
            out["pages"][path] = {
                "found": [[f.kind, f.frame_info.name] for f in found],
                "results": [
                    [r.kind, r.ok, r.read_back, r.callback_fired, r.frame.name, r.token]
                    for r in results
                ],
                "products": where.locator(".product .name").all_inner_texts(),
            }

        # one solver shared by several calls; the timeout still holds
        with BackgroundSolver(api_key, api_url, poll_interval=0.2) as solver:
            page.goto(site + "/recaptcha-v2")
            shared = solve_captchas(page, client=solver)
            page.goto(site + "/hcaptcha")
            shared += solve_captchas(page, client=solver)
            out["shared"] = [r.kind for r in shared if r.ok]
        control = sys.argv[4]
        import urllib.request
        request = urllib.request.Request(
            control, data=json.dumps({"solve_time": 60}).encode(),
            headers={"Content-Type": "application/json"},
        )
        urllib.request.urlopen(request).read()
        page.goto(site + "/turnstile")
        started = time.monotonic()
        try:
            solve_captchas(page, timeout=2, **creds)
        except SolveTimeoutError as exc:
            out["timeout"] = [type(exc).__name__, time.monotonic() - started]
        browser.close()
    print(json.dumps(out))
"""


def test_sync_script(
    vastcaptcha_demo_site: DemoSiteHandle, vastcaptcha_emulator: EmulatorHandle
) -> None:
    out = run_script(
        SYNC_SCRIPT,
        vastcaptcha_demo_site.url,
        vastcaptcha_emulator.api_url,
        vastcaptcha_emulator.api_key,
        vastcaptcha_emulator.url + "/_emulator/config",
    )
    pages = out["pages"]
    expected = {
        "/iframe": ("iframe", [["recaptcha-v2", "shop-frame"]]),
        "/two-captchas": ("two-captchas", [["recaptcha-v2", ""], ["turnstile", ""]]),
        "/recaptcha-v3": ("recaptcha-v3", [["recaptcha-v3", ""]]),
        "/turnstile-interstitial/catalog": ("turnstile-interstitial", [["turnstile", ""]]),
        "/image": ("image", [["image", ""]]),
    }
    for path, (kind, found) in expected.items():
        page = pages[path]
        assert page["found"] == found
        assert page["products"] == [item.name for item in products(kind, 1)]
        for _, ok, read_back, fired, _, token in page["results"]:
            assert ok
            assert read_back
            assert token
            assert fired == (kind == "turnstile-interstitial")
        assert [r[0] for r in page["results"]] == [f[0] for f in found]
        assert [r[4] for r in page["results"]] == [f[1] for f in found]
    recaptcha, turnstile = pages["/two-captchas"]["results"]
    assert recaptcha[5] != turnstile[5]
    assert out["shared"] == ["recaptcha-v2", "hcaptcha"]
    name, took = out["timeout"]
    assert name == "SolveTimeoutError"
    assert took < 8

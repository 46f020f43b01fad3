"""The one place where sync auto mode reaches into Playwright's private members.

``sync_api._on_loop`` runs auto mode's coroutines on the loop of a sync page
or context, with the async objects behind them. Playwright offers no public
way to do that, so these tests pin exactly what auto mode relies on: if a
Playwright release changes it, they fail here, by name, before a user's
script does.
"""

from __future__ import annotations

import asyncio
import re
from importlib.metadata import version
from typing import Any

import pytest
from playwright.sync_api import Page

from scrapy_vastcaptcha.playwright.sync_api import _on_loop
from scrapy_vastcaptcha.testing import EmulatorHandle
from tests.user_scripts import run_script

SCRIPT = """
    import asyncio, json, sys
    from playwright.sync_api import sync_playwright
    from scrapy_vastcaptcha.playwright.sync_api import _on_loop, auto_solve
    from scrapy_vastcaptcha.testing.browser import chromium_launch_options

    creds = {"api_url": sys.argv[1], "api_key": sys.argv[2]}
    out = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(**chromium_launch_options())
        context = browser.new_context()
        page = context.new_page()
        page.set_content("<p>no captcha here</p>")
        out["evaluated"] = _on_loop(page, lambda twin: twin.evaluate("() => 6 * 7", None))
        page_twin = _on_loop(page, lambda twin: asyncio.sleep(0, twin))
        listed = _on_loop(context, lambda twin: asyncio.sleep(0, list(twin.pages)))
        # auto mode keys its pages by the objects the context's events carry
        out["one_twin"] = len(listed) == 1 and listed[0] is page_twin
        out["twin_awaits"] = asyncio.iscoroutinefunction(page_twin.evaluate)
        with auto_solve(context, **creds) as auto:
            try:
                auto_solve(context, **creds)
            except RuntimeError as exc:
                out["second"] = str(exc)
            out["first"] = len(auto.wait_solved(page, wait=0))
        with auto_solve(context, **creds) as again:
            out["again"] = len(again.wait_solved(page, wait=0))
        browser.close()
    print(json.dumps(out))
"""


@pytest.mark.browser
def test_auto_mode_reaches_the_async_objects_and_loop_of_sync_playwright(
    vastcaptcha_emulator: EmulatorHandle,
) -> None:
    out = run_script(SCRIPT, vastcaptcha_emulator.api_url, vastcaptcha_emulator.api_key)
    assert out["evaluated"] == 42
    assert out["one_twin"]
    assert out["twin_awaits"]
    # a refused start leaves the running auto mode alone; once stopped, the
    # context takes a new one
    assert "already runs" in out["second"]
    assert out["first"] == 0
    assert out["again"] == 0


def test_other_objects_are_refused_before_anything_runs() -> None:
    started: list[Any] = []

    async def work(twin: Any) -> None:
        started.append(twin)

    with pytest.raises(TypeError, match=re.escape("playwright.sync_api page or context")):
        _on_loop(object(), work)
    assert started == []


def test_a_playwright_release_without_the_private_members_is_named() -> None:
    hollow = Page.__new__(Page)  # a sync page without the object behind it

    async def work(twin: Any) -> None:
        await asyncio.sleep(0)

    named = re.escape(f"Playwright {version('playwright')} changed")
    with pytest.raises(RuntimeError, match=named):
        _on_loop(hollow, work)

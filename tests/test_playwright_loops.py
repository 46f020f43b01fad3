"""The async helper on any event loop, any number of times per process.

Both cases run in a fresh interpreter, as a user's own code would: a script
that calls ``asyncio.run`` three times, and a pytest-asyncio test module (a
new loop per test) in a pytest run of its own without pytest-twisted, whose
reactor greenlet claims the test process's thread as a running loop.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from scrapy_vastcaptcha.testing import DemoSiteHandle, EmulatorHandle
from tests.user_scripts import run_script

pytestmark = pytest.mark.browser

THREE_RUNS_SCRIPT = """
    import asyncio, json, sys, threading
    from playwright.async_api import async_playwright
    from scrapy_vastcaptcha.testing.browser import chromium_launch_options, route_widget_scripts
    from scrapy_vastcaptcha.playwright import auto_solve, install_hooks, solve_captchas

    site, api_url, api_key = sys.argv[1:4]
    creds = {"api_key": api_key, "api_url": api_url, "poll_interval": 0.2}

    async def visit(path, auto):
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(**chromium_launch_options())
            context = await browser.new_context()
            await route_widget_scripts(context)
            if auto:
                async with await auto_solve(context, **creds) as solver:
                    page = await context.new_page()
                    await page.goto(site + path)
                    results = await solver.wait_solved(page)
                    await page.click("#captcha-form button[type=submit]")
                    await page.locator(".product").first.wait_for()
            else:
                await install_hooks(context)
                page = await context.new_page()
                await page.goto(site + path)
                results = await solve_captchas(page, **creds)
                await page.click("#captcha-form button[type=submit]")
                await page.locator(".product").first.wait_for()
            count = await page.locator(".product").count()
            await browser.close()
            return [[r.kind, r.ok] for r in results], count

    runs = [
        asyncio.run(visit("/recaptcha-v2", False)),
        asyncio.run(visit("/hcaptcha", True)),
        asyncio.run(visit("/turnstile", False)),
    ]
    threads = sorted(t.name for t in threading.enumerate())
    print(json.dumps({"runs": runs, "threads": threads}))
"""


def test_three_asyncio_runs_in_one_process(
    vastcaptcha_demo_site: DemoSiteHandle, vastcaptcha_emulator: EmulatorHandle
) -> None:
    out = run_script(
        THREE_RUNS_SCRIPT,
        vastcaptcha_demo_site.url,
        vastcaptcha_emulator.api_url,
        vastcaptcha_emulator.api_key,
    )
    assert out["runs"] == [
        [[["recaptcha-v2", True]], 4],
        [[["hcaptcha", True]], 4],
        [[["turnstile", True]], 4],
    ]
    # one reactor thread served all three loops
    assert out["threads"].count("vastcaptcha-reactor") == 1
    assert len(vastcaptcha_emulator.tasks()) == 3


PYTEST_ASYNCIO_MODULE = """
    import asyncio, os
    import pytest
    import pytest_asyncio
    from playwright.async_api import async_playwright
    from scrapy_vastcaptcha.testing.browser import chromium_launch_options, route_widget_scripts
    from scrapy_vastcaptcha.playwright import auto_solve, install_hooks, solve_captchas

    SITE, API_URL, API_KEY = (os.environ[name] for name in ("SITE", "API_URL", "API_KEY"))
    CREDS = {"api_key": API_KEY, "api_url": API_URL, "poll_interval": 0.2}
    LOOPS = set()


    @pytest_asyncio.fixture
    async def context():
        LOOPS.add(id(asyncio.get_running_loop()))
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(**chromium_launch_options())
            context = await browser.new_context()
            await route_widget_scripts(context)
            yield context
            await browser.close()


    async def submit(page):
        await page.click("#captcha-form button[type=submit]")
        await page.locator(".product").first.wait_for()
        return await page.locator(".product").count()


    @pytest.mark.asyncio
    @pytest.mark.parametrize("path", ["/recaptcha-v2", "/turnstile"])
    async def test_solve_captchas(context, path):
        await install_hooks(context)
        page = await context.new_page()
        await page.goto(SITE + path)
        results = await solve_captchas(page, **CREDS)
        assert [r.ok for r in results] == [True]
        assert await submit(page) == 4


    @pytest.mark.asyncio
    async def test_auto_solve(context):
        async with await auto_solve(context, **CREDS) as solver:
            page = await context.new_page()
            await page.goto(SITE + "/hcaptcha")
            assert [r.ok for r in await solver.wait_solved(page)] == [True]
            assert await submit(page) == 4


    def test_every_test_had_its_own_loop():
        assert len(LOOPS) == 3
"""


def test_function_scoped_pytest_asyncio_loops(
    tmp_path: Path, vastcaptcha_demo_site: DemoSiteHandle, vastcaptcha_emulator: EmulatorHandle
) -> None:
    (tmp_path / "test_user.py").write_text(textwrap.dedent(PYTEST_ASYNCIO_MODULE))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:twisted",
            "-p",
            "no:cacheprovider",
            "-o",
            "asyncio_mode=strict",
            "-o",
            "asyncio_default_fixture_loop_scope=function",
            "-W",
            "error",
            "--rootdir",
            str(tmp_path),
            "-c",
            os.devnull,
            "test_user.py",
        ],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=tmp_path,
        env={
            **os.environ,
            "SITE": vastcaptcha_demo_site.url,
            "API_URL": vastcaptcha_emulator.api_url,
            "API_KEY": vastcaptcha_emulator.api_key,
        },
        check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "4 passed" in done.stdout
    assert len(vastcaptcha_emulator.tasks()) == 3

"""Every example runs against the emulator with its one command, so none can rot."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from scrapy_vastcaptcha.demo.spider import expected_skus
from scrapy_vastcaptcha.testing import DemoSiteHandle, EmulatorHandle

ROOT = Path(__file__).parent.parent


def run_example(name: str) -> tuple[str, str]:
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "run_on_emulator.py"), name],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout, done.stderr


@pytest.mark.slow
def test_scrapy_project_scrapes_every_page() -> None:
    stdout, _ = run_example("scrapy")
    items = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    assert {item["sku"] for item in items} == expected_skus(1)
    assert all(item["captcha"] for item in items)


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.parametrize(
    ("example", "kinds"),
    [
        ("async", ["recaptcha-v2", "hcaptcha", "two-captchas", "iframe"]),
        ("sync", ["recaptcha-v2-invisible", "turnstile-interstitial", "image"]),
        (
            "scrapy-playwright",
            ["recaptcha-v3", "recaptcha-v2-invisible", "turnstile-interstitial", "two-captchas"],
        ),
    ],
)
def test_playwright_examples_scrape_their_pages(example: str, kinds: list[str]) -> None:
    stdout, stderr = run_example(example)
    items = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    # A page that failed shows only in the example's log.
    assert sorted(item["sku"] for item in items) == sorted(expected_skus(1, kinds)), stderr[-3000:]


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.parametrize("script", ["playwright_auto.py", "playwright_auto_sync.py"])
def test_auto_mode_examples_go_through_every_demo_kind(
    script: str, vastcaptcha_demo_site: DemoSiteHandle, vastcaptcha_emulator: EmulatorHandle
) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / script), vastcaptcha_demo_site.url],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT / "examples",
        env={
            **os.environ,
            "VASTCAPTCHA_API_URL": vastcaptcha_emulator.api_url,
            "VASTCAPTCHA_API_KEY": vastcaptcha_emulator.api_key,
            "EXAMPLE_OFFLINE": "1",
            "EXAMPLE_POLL_INTERVAL": "0.2",
        },
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    items = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert sorted(item["sku"] for item in items) == sorted(expected_skus(1)), done.stderr[-3000:]
    assert "failed:" not in done.stderr
    # one task per widget: eleven pages, twelve widgets
    assert len(vastcaptcha_emulator.tasks()) == 12

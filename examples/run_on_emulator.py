"""Run an example against the bundled emulator and demo shop: one command each.

    python examples/run_on_emulator.py scrapy       # the Scrapy project
    python examples/run_on_emulator.py async        # the async Playwright script
    python examples/run_on_emulator.py sync         # the sync Playwright script
    python examples/run_on_emulator.py auto         # Playwright auto mode (async)
    python examples/run_on_emulator.py auto-sync    # Playwright auto mode (sync)
    python examples/run_on_emulator.py scrapy-playwright

It starts ``vastcaptcha emulator`` and ``vastcaptcha demo-site`` on free ports,
points VASTCAPTCHA_API_URL / VASTCAPTCHA_API_KEY at the emulator, runs the
example and stops the servers. Against the real service, run the example
itself with your own key instead.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from scrapy_vastcaptcha.testing import DemoSiteHandle, EmulatorHandle

HERE = Path(__file__).resolve().parent
#: The emulator solves in 0.5-2 s (the service: 5-30 s): poll ten times as often.
FAST = ["-s", "VASTCAPTCHA_POLL_INTERVAL=0.3"]

COMMANDS: dict[str, tuple[list[str], Path]] = {
    "scrapy": (
        [
            sys.executable,
            "-m",
            "scrapy",
            "crawl",
            "shop",
            "-a",
            "site={site}",
            *FAST,
            "-O",
            "-:jsonlines",
        ],
        HERE / "scrapy_project",
    ),
    "async": ([sys.executable, str(HERE / "playwright_async.py"), "{site}"], HERE),
    "sync": ([sys.executable, str(HERE / "playwright_sync.py"), "{site}"], HERE),
    "auto": ([sys.executable, str(HERE / "playwright_auto.py"), "{site}"], HERE),
    "auto-sync": ([sys.executable, str(HERE / "playwright_auto_sync.py"), "{site}"], HERE),
    "scrapy-playwright": (
        [
            sys.executable,
            "-m",
            "scrapy",
            "runspider",
            str(HERE / "scrapy_playwright_spider.py"),
            "-a",
            "site={site}",
            *FAST,
            "-O",
            "-:jsonlines",
        ],
        HERE,
    ),
}


def main() -> int:
    if len(sys.argv) != 2 or sys.argv[1] not in COMMANDS:
        print(f"usage: {sys.argv[0]} {{{','.join(COMMANDS)}}}", file=sys.stderr)
        return 2
    command, cwd = COMMANDS[sys.argv[1]]
    with (
        EmulatorHandle.launch("--solve-time", "0.5:2") as emulator,
        DemoSiteHandle.launch(emulator.url) as site,
    ):
        env = {
            **os.environ,
            "VASTCAPTCHA_API_URL": emulator.api_url,
            "VASTCAPTCHA_API_KEY": emulator.api_key,
            # For the Playwright examples: stand-in widget scripts, faster polls.
            "EXAMPLE_OFFLINE": "1",
            "EXAMPLE_POLL_INTERVAL": "0.3",
        }
        print(f"emulator {emulator.api_url}, demo shop {site.url}", file=sys.stderr)
        return subprocess.call([part.format(site=site.url) for part in command], cwd=cwd, env=env)


if __name__ == "__main__":
    raise SystemExit(main())

"""Fixtures shared by the test modules (the emulator and demo-site fixtures come
from the package's own pytest plugin)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_twisted
from playwright.async_api import Browser, async_playwright

from scrapy_vastcaptcha.testing.browser import chromium_launch_options
from tests import static_site
from tests.browsing import aio
from tests.redis_server import RedisServer


@pytest.fixture
def site() -> Iterator[static_site.StaticSite]:
    """A page server on 127.0.0.1 for shapes the demo shop does not have."""
    yield from static_site.serve("127.0.0.1")


@pytest.fixture
def other_site() -> Iterator[static_site.StaticSite]:
    """Another page server: "localhost" is another host than 127.0.0.1 for a crawl."""
    yield from static_site.serve("localhost")


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One real redis-server for the session (tests keep apart by key names)."""
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    yield server.url
    server.stop()


@pytest_twisted.async_yield_fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    """A headless Chromium for the tests of one module (Debian's, or Playwright's own)."""
    playwright = await aio(async_playwright().start())
    launched = await aio(playwright.chromium.launch(**chromium_launch_options()))
    yield launched
    await aio(launched.close())
    await aio(playwright.stop())

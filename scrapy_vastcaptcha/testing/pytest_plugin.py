"""pytest fixtures for testing crawlers against the offline VastCap emulator.

Registered automatically (entry point ``vastcaptcha``) once the package is
installed. The servers run as subprocesses, so the fixtures work with any
reactor or event loop the tests themselves use::

    def test_my_spider(vastcaptcha_emulator):
        settings = {"VASTCAPTCHA_API_URL": vastcaptcha_emulator.api_url,
                    "VASTCAPTCHA_API_KEY": vastcaptcha_emulator.api_key}
        ...
        assert vastcaptcha_emulator.stats()["tasks"]["solved"] == 1

Importing this module loads only the standard library and pytest.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from scrapy_vastcaptcha.testing import DemoSiteHandle, EmulatorHandle, quiet_offline

# Fixtures run crawls offline; see quiet_offline.
quiet_offline()

# fast and reproducible, unlike the service's 5-30 s
EMULATOR_ARGS = ("--solve-time", "0.3:0.8", "--seed", "1")


@pytest.fixture(scope="session")
def vastcaptcha_emulator_server() -> Iterator[EmulatorHandle]:
    """One emulator process for the whole session (solves take 0.3-0.8 s, seed 1).

    Its state carries over between tests; prefer :func:`vastcaptcha_emulator`,
    which resets it first.
    """
    with EmulatorHandle.launch(*EMULATOR_ARGS) as handle:
        yield handle


@pytest.fixture
def vastcaptcha_emulator(vastcaptcha_emulator_server: EmulatorHandle) -> EmulatorHandle:
    """The session's emulator, reset: no tasks, zero counters, start-up settings.

    Returns an :class:`~scrapy_vastcaptcha.testing.EmulatorHandle` with ``url``,
    ``api_url``, ``api_key``, ``stats()``, ``tasks()``, ``configure(**settings)``,
    ``reset()`` and ``set_account(key, **fields)``. Settings changed with
    ``configure`` last until the next test's reset.
    """
    vastcaptcha_emulator_server.reset()
    return vastcaptcha_emulator_server


@pytest.fixture(scope="session")
def vastcaptcha_demo_site(
    vastcaptcha_emulator_server: EmulatorHandle,
) -> Iterator[DemoSiteHandle]:
    """The demo shop (``vastcaptcha demo-site``) for the session, verifying tokens
    with the session's emulator; returns a handle whose ``url`` is the site root."""
    with DemoSiteHandle.launch(vastcaptcha_emulator_server.url) as handle:
        yield handle

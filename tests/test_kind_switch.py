"""Where a page cannot tell reCAPTCHA v2 from v3, a rejected token makes the
next round try the other kind instead of paying for the same mistake again."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import pytest_twisted
import scrapy
from twisted.web.resource import Resource
from twisted.web.server import Request, Site

from scrapy_vastcaptcha.testing import EmulatorHandle
from tests.crawling import crawl_requests

SITEKEY = "6LcButtonBoundWidgetKey000000000000000001"

# Google's "bind the challenge to a button" snippet: the shape of an invisible
# v2 button, plus data-action, which v3 takes. Neither script URL nor an
# execute() call says which it is.
FORM = (
    "<html><body><form id='f' method='POST' action='/login'>"
    "<input name='user' value='ada'>"
    f"<button class='g-recaptcha' data-sitekey='{SITEKEY}' data-callback='onSubmit' "
    "data-action='login'>Log in</button></form>"
    "<script src='https://www.google.com/recaptcha/api.js' async defer></script>"
    "</body></html>"
).encode()


class _RejectsFirstToken(Resource):
    """Shows the form again after the first submission (as a site whose key is
    of the other kind would), accepts the second."""

    isLeaf = True

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.posts = 0

    def render(self, request: Request) -> bytes:
        request.setHeader(b"Content-Type", b"text/html")
        if request.method == b"POST":
            self.posts += 1
            if self.posts > 1:
                return b"<html><body><p id='ok'>welcome</p></body></html>"
        return FORM


@pytest.fixture
def gate_site() -> Iterator[str]:
    from twisted.internet import reactor

    running: Any = reactor
    port = running.listenTCP(0, Site(_RejectsFirstToken()), interface="127.0.0.1")
    yield f"http://127.0.0.1:{port.getHost().port}"
    port.stopListening()


@pytest_twisted.ensureDeferred
async def test_a_rejected_guess_is_retried_as_the_other_kind(
    vastcaptcha_emulator: EmulatorHandle, gate_site: str
) -> None:
    vastcaptcha_emulator.configure(solve_time=0.05)
    spider = await crawl_requests(vastcaptcha_emulator, [scrapy.Request(f"{gate_site}/login")])
    assert spider.errors == []
    (response,) = spider.responses
    assert response.css("#ok::text").get() == "welcome"
    tasks = vastcaptcha_emulator.tasks()
    assert [t["type"] for t in tasks] == ["RecaptchaV3Task", "RecaptchaV2Task"]
    assert tasks[0]["fields"]["pageAction"] == "login"
    # Bound to a button: the v2 it turned out to be is the invisible one.
    assert tasks[1]["fields"]["isInvisible"] is True

"""What a page does while it is solved: its navigations and its last answer."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from scrapy import Request
from scrapy.http import HtmlResponse

if TYPE_CHECKING:
    from playwright.async_api import Frame, Page
    from playwright.async_api import Request as PlaywrightRequest
    from playwright.async_api import Response as PlaywrightResponse

    from scrapy_vastcaptcha.playwright import CaptchaResult

__all__ = ["LOAD_TIMEOUT", "PageWatch", "owning_frames"]

#: Seconds a started navigation has to load.
LOAD_TIMEOUT = 30.0

# The status of the document's own response (Navigation Timing; 0 where unknown).
_STATUS_SCRIPT = """() => {
  const entry = performance.getEntriesByType("navigation")[0];
  return entry && entry.responseStatus ? entry.responseStatus : 0;
}"""


class PageWatch:
    """Navigations of a page's frames since :meth:`arm`, and the main frame's last answer."""

    def __init__(self, page: Page) -> None:
        self._page = page
        self._requested: list[Frame] = []
        self._committed: list[Frame] = []
        self._changed = asyncio.Event()
        self.last_response: PlaywrightResponse | None = None
        page.on("request", self._on_request)
        page.on("response", self._on_response)
        page.on("framenavigated", self._on_navigated)

    def close(self) -> None:
        self._page.remove_listener("request", self._on_request)
        self._page.remove_listener("response", self._on_response)
        self._page.remove_listener("framenavigated", self._on_navigated)

    def arm(self) -> None:
        self._requested.clear()
        self._committed.clear()

    def _on_request(self, request: PlaywrightRequest) -> None:
        if request.is_navigation_request():
            self._requested.append(request.frame)
            self._changed.set()

    def _on_navigated(self, frame: Frame) -> None:
        self._committed.append(frame)
        self._changed.set()

    def _on_response(self, response: PlaywrightResponse) -> None:
        request = response.request
        if request.is_navigation_request() and request.frame == self._page.main_frame:
            self.last_response = response

    async def _until(self, happened: Callable[[], bool], seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while not happened():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), left)
            except asyncio.TimeoutError:
                return happened()
        return True

    async def navigation(self, frames: Sequence[Frame], grace: float) -> bool:
        """Whether one of ``frames`` started navigating since :meth:`arm`
        (waiting up to ``grace`` seconds for it); if so, waits for the new
        document to load."""
        from playwright.async_api import Error as PlaywrightError

        if not await self._until(lambda: any(f in self._requested for f in frames), grace):
            return False
        frame = next(f for f in frames if f in self._requested)
        # Until it commits, the frame still holds the old, loaded document.
        if await self._until(lambda: frame in self._committed, LOAD_TIMEOUT):
            # detached or slow: the next look at the page tells
            with contextlib.suppress(PlaywrightError):
                await frame.wait_for_load_state("load", timeout=LOAD_TIMEOUT * 1000)
        return True

    async def snapshot(self, request: Request) -> HtmlResponse:
        """The page as a response: for the ``captcha_detected`` signal, and
        the evidence of a session-wide challenge."""
        headers: dict[str, str] = {}
        if self.last_response is not None:
            status = self.last_response.status
            with contextlib.suppress(Exception):
                headers = await self.last_response.all_headers()
        else:
            # The navigation before the page method was not watched.
            status = await self._page.evaluate(_STATUS_SCRIPT) or 200
        headers.pop("content-encoding", None)
        return HtmlResponse(
            url=self._page.url,
            status=status,
            headers=headers,
            body=(await self._page.content()).encode("utf-8"),
            encoding="utf-8",
            request=request,
        )


def owning_frames(page: Page, results: Sequence[CaptchaResult]) -> list[Frame]:
    """The frames that own ``results``' widgets, in order, once each."""
    frames: list[Frame] = []
    for result in results:
        for frame in page.frames:
            if (
                frame.url == result.frame.url
                and frame.name == result.frame.name
                and frame not in frames
            ):
                frames.append(frame)
                break
    return frames or [page.main_frame]

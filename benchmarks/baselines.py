"""The two baselines: the middleware a user would write with the official SDK.

Both are written the way the ``vastcap`` 1.0.1 SDK invites: find the site key
with a regex, call the SDK's ``solve()`` (create the task, poll at once and
then every ``polling`` seconds), and resubmit the form with
``form2request`` (Scrapy 2.19 deprecates ``FormRequest.from_response``).
They differ only in the SDK client used:

* :class:`BlockingSdkMiddleware`: the synchronous ``vastcap.Vast`` client
  (``requests`` + ``time.sleep``) called from a plain ``process_response``.
  It blocks the reactor for the whole solve: the crawl does one captcha at a
  time.
* :class:`AsyncSdkMiddleware`: the aiohttp client ``vastcap.AsyncVast``
  awaited inside ``async def process_response`` (Scrapy runs it on the
  asyncio reactor). The reactor stays free, but the request stays in the
  downloader's active set until the token arrives: each pending solve holds
  a download slot.

Only reCAPTCHA v2 is handled: the SDK reads hCaptcha and Turnstile tokens
from ``hCaptchaResponse`` / ``turnstileResponse``, fields the service does
not send, so those tokens come back empty (see the API reference).

Settings: ``SDK_API_KEY``, ``SDK_API_URL`` (the SDK's ``API_BASE_URL``,
pointed at the emulator), ``SDK_POLLING`` (the SDK's sleep between polls,
3 s by default; the benchmark scales it with the emulator's solve times).
"""

from __future__ import annotations

import re
from typing import Any

from form2request import form2request
from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.http import Response, TextResponse
from vastcap import AsyncVast, RecaptchaV2Task, Vast

#: How users commonly find the site key: the first data-sitekey attribute.
SITEKEY = re.compile(r'data-sitekey="([^"]+)"')
#: Meta key marking a request that already carries a token.
SOLVED_KEY = "sdk_solved"
#: The form holding the widget.
FORM_XPATH = "//form[.//*[@data-sitekey]]"


class _SdkMiddleware:
    def __init__(self, api_key: str, api_url: str, polling: float) -> None:
        self.api_key = api_key
        self.api_url = api_url
        self.polling = polling
        self.solved = 0

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Any:
        settings = crawler.settings
        return cls(
            settings["SDK_API_KEY"],
            settings["SDK_API_URL"],
            settings.getfloat("SDK_POLLING", 3.0),
        )

    def _task(self, request: Request, response: Response) -> RecaptchaV2Task | None:
        if request.meta.get(SOLVED_KEY) or not isinstance(response, TextResponse):
            return None
        match = SITEKEY.search(response.text)
        if match is None:
            return None
        return RecaptchaV2Task(website_url=response.url, website_key=match.group(1))

    def _resubmit(self, request: Request, response: Response, token: str | None) -> Request:
        self.solved += 1
        assert isinstance(response, TextResponse)
        form = response.xpath(FORM_XPATH)
        resubmission: Request = form2request(form, {"g-recaptcha-response": token or ""}).to_scrapy(
            callback=request.callback,
            errback=request.errback,
            # Fresh meta, as FormRequest.from_response would give: copying the
            # original's would carry Scrapy's is_start_request flag and queue
            # the resubmission behind every remaining start request.
            meta={SOLVED_KEY: True},
            dont_filter=True,
        )
        return resubmission


class BlockingSdkMiddleware(_SdkMiddleware):
    """The SDK's synchronous client in a plain ``process_response``."""

    def __init__(self, api_key: str, api_url: str, polling: float) -> None:
        super().__init__(api_key, api_url, polling)
        self.client = Vast(api_key, polling=polling)
        self.client.API_BASE_URL = api_url

    def process_response(self, request: Request, response: Response) -> Request | Response:
        task = self._task(request, response)
        if task is None:
            return response
        solution = self.client.solve(task)  # blocks the reactor until the token arrives
        return self._resubmit(request, response, solution.grecaptcha_response)


class AsyncSdkMiddleware(_SdkMiddleware):
    """The SDK's aiohttp client awaited in ``async def process_response``."""

    async def process_response(self, request: Request, response: Response) -> Request | Response:
        task = self._task(request, response)
        if task is None:
            return response
        # The SDK's documented use: one ``async with`` (one aiohttp session) per solve.
        async with AsyncVast(self.api_key, polling=self.polling) as client:
            client.API_BASE_URL = self.api_url
            solution = await client.solve(task)
        return self._resubmit(request, response, solution.grecaptcha_response)

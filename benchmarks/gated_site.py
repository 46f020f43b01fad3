"""Scenario 6's site: every page behind one session-wide reCAPTCHA v2 interstitial.

The SDK baselines handle reCAPTCHA v2 declared in a ``data-sitekey``
attribute only (the demo shop's Cloudflare-like interstitial is Turnstile,
with its key in a render call), so this small site puts that widget on a
"Just a moment..." page:

* ``GET /gated?page=N`` without clearance: 403, ``cf-mitigated: challenge``,
  a form posting to ``/verify`` with the widget and a hidden ``return`` field
  holding the requested path;
* ``POST /verify``: checks ``g-recaptcha-response`` with the emulator's
  ``/siteverify`` (the token must come from a task for this site key and the
  ``/gated`` page, and is single-use), sets a session clearance cookie and
  redirects (302) to the ``return`` path;
* ``GET /gated?page=N`` with the clearance cookie: 200, a page of products.

Served in the benchmark process, on its reactor; :class:`GateCounts` keeps
what the site saw.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from html import escape
from typing import Any
from urllib.parse import urlsplit

from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet.defer import Deferred
from twisted.python.failure import Failure
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request, Site

from scrapy_vastcaptcha.demo.verify import Check, SiteVerifier

GATED_PATH = "/gated"
VERIFY_PATH = "/verify"
CLEARANCE_COOKIE = b"gate_clearance"
#: A reCAPTCHA v2 key of its own: the emulator binds tokens to it.
SITEKEY = "6LdVastBenchSessionGateRecaptchaV2Key006"
CHECK = Check("g-recaptcha-response", "recaptcha", SITEKEY)


@dataclass
class GateCounts:
    """What the site served since the last :meth:`reset`."""

    challenges: int = 0
    pages: int = 0
    #: tokens that passed siteverify: a clearance cookie each
    clearances: int = 0
    rejected: int = 0

    def reset(self) -> None:
        self.challenges = self.pages = self.clearances = self.rejected = 0


def challenge_page(return_to: str) -> bytes:
    return (
        "<!doctype html><html><head><title>Just a moment...</title>"
        '<script src="https://www.google.com/recaptcha/api.js" async defer></script>'
        "</head><body><h1>Just a moment...</h1>"
        "<p>Checking your browser before accessing the catalogue.</p>"
        f'<form id="challenge-form" method="POST" action="{VERIFY_PATH}">'
        f'<input type="hidden" name="return" value="{escape(return_to)}">'
        f'<div class="g-recaptcha" data-sitekey="{SITEKEY}"></div>'
        '<button type="submit">Continue</button>'
        "</form></body></html>"
    ).encode()


def content_page(page: str) -> bytes:
    products = "".join(
        f'<li class="product" data-sku="GATE-{escape(page)}-{n}">'
        f'<span class="name">Gated item {n}</span></li>'
        for n in range(1, 5)
    )
    return (
        f"<!doctype html><html><head><title>Catalogue page {escape(page)}</title></head>"
        f"<body><ul>{products}</ul></body></html>"
    ).encode()


class GatedSite(Resource):
    """The whole site (one leaf resource)."""

    isLeaf = True

    def __init__(self, verifier: SiteVerifier) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._verifier = verifier
        self._clearances: set[bytes] = set()
        self.counts = GateCounts()

    def reset(self) -> None:
        """Forget every clearance and count (between crawls)."""
        self._clearances.clear()
        self.counts.reset()

    def render_GET(self, request: Request) -> bytes:
        path = (request.path or b"").decode("ascii", "replace")
        request.setHeader(b"content-type", b"text/html; charset=utf-8")
        if path != GATED_PATH:
            request.setResponseCode(404)
            return b"not found"
        page = (request.args or {}).get(b"page", [b"1"])[0].decode("ascii", "replace")
        if request.getCookie(CLEARANCE_COOKIE) in self._clearances:
            self.counts.pages += 1
            return content_page(page)
        self.counts.challenges += 1
        request.setResponseCode(403)
        request.setHeader(b"cf-mitigated", b"challenge")
        return challenge_page(f"{GATED_PATH}?page={page}")

    def render_POST(self, request: Request) -> int | bytes:
        if (request.path or b"") != VERIFY_PATH.encode():
            request.setResponseCode(404)
            return b"not found"
        args = request.args or {}
        return_to = args.get(b"return", [b""])[0].decode("utf-8", "replace")
        target = urlsplit(return_to)
        if target.scheme or target.netloc or target.path != GATED_PATH:
            request.setResponseCode(400)
            return b"bad return address"
        token = args.get(CHECK.field.encode(), [b""])[0].decode("ascii", "replace")
        host = (request.getHeader("host") or "").strip()
        remote = getattr(request.getClientAddress(), "host", "")
        gone: list[Failure] = []
        request.notifyFinish().addErrback(gone.append)
        done = Deferred.fromCoroutine(
            self._verifier.verify(CHECK, token, f"http://{host}{GATED_PATH}", remote)
        )

        def answer(errors: list[str]) -> None:
            if not gone:
                self._answer(request, errors, return_to)

        def unavailable(failure: Failure) -> None:
            # Every request gets an answer: the crawl's checks report the failure.
            if not gone:
                request.setResponseCode(502)
                request.write(f"captcha check failed: {failure.value!r}".encode())
                request.finish()

        done.addCallback(answer).addErrback(unavailable)
        return NOT_DONE_YET

    def _answer(self, request: Request, errors: list[str], return_to: str) -> None:
        if errors:
            self.counts.rejected += 1
            request.setResponseCode(403)
            request.setHeader(b"cf-mitigated", b"challenge")
            request.setHeader(b"content-type", b"text/html; charset=utf-8")
            request.write(challenge_page(return_to))
        else:
            self.counts.clearances += 1
            clearance = secrets.token_hex(16).encode()
            self._clearances.add(clearance)
            request.addCookie(CLEARANCE_COOKIE, clearance, path=b"/", httpOnly=True)
            request.setResponseCode(302)
            request.setHeader(b"location", return_to.encode())
        request.finish()


class RunningGate:
    """The gated site listening on 127.0.0.1 (a free port) on the running reactor."""

    def __init__(self, emulator_url: str) -> None:
        from twisted.internet import reactor as installed

        reactor: Any = installed  # the global reactor carries no usable static type
        self.site = GatedSite(SiteVerifier(emulator_url, reactor))
        factory = Site(self.site)
        factory.displayTracebacks = False
        factory.log = lambda request: None  # type: ignore[method-assign]
        self._port = reactor.listenTCP(0, factory, interface="127.0.0.1")
        self.url = f"http://127.0.0.1:{self._port.getHost().port}"

    async def stop(self) -> None:
        stopping = self._port.stopListening()
        if stopping is not None:
            await maybe_deferred_to_future(stopping)

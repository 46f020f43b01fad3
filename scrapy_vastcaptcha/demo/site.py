"""The demo shop as a twisted.web resource, and :func:`start_demo_site`.

Every protected page answers ``GET`` with its form (200) and ``POST`` with the
products (200) or, when a captcha check fails, with the form again and a
``<p class="error">`` naming the error codes (403). Tokens are checked by the
emulator's ``/siteverify``; see :mod:`scrapy_vastcaptcha.demo.verify`.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from twisted.internet.defer import Deferred, FirstError, gatherResults, succeed
from twisted.python import log
from twisted.python.failure import Failure
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request, Site

from scrapy_vastcaptcha.demo import pages
from scrapy_vastcaptcha.demo.captcha_image import captcha_png
from scrapy_vastcaptcha.demo.catalog import (
    INTERSTITIAL_ACTION,
    MAX_PAGE,
    PAGES_BY_KIND,
    RECAPTCHA_V3_ACTION,
    RECAPTCHA_V3_MIN_SCORE,
    SITEKEYS,
    TURNSTILE_ACTION,
    TURNSTILE_CDATA,
)
from scrapy_vastcaptcha.demo.signing import CLEARANCE_LIFETIME, Signer
from scrapy_vastcaptcha.demo.verify import Check, SiteVerifier, SiteverifyUnavailable
from scrapy_vastcaptcha.emulator.tokens import image_answer

INTERSTITIAL_PATH = PAGES_BY_KIND["turnstile-interstitial"].path
_USED_CHALLENGES_KEPT = 100_000


def _recaptcha(kind: str, **rules: Any) -> tuple[Check, ...]:
    return (Check("g-recaptcha-response", "recaptcha", SITEKEYS[kind], **rules),)


# What each form's POST must carry; keyed by form kind.
CHECKS: dict[str, tuple[Check, ...]] = {
    "recaptcha-v2": _recaptcha("recaptcha-v2"),
    "recaptcha-v2-invisible": _recaptcha("recaptcha-v2-invisible"),
    "recaptcha-v2-explicit": _recaptcha("recaptcha-v2-explicit"),
    "recaptcha-v3": _recaptcha(
        "recaptcha-v3", action=RECAPTCHA_V3_ACTION, min_score=RECAPTCHA_V3_MIN_SCORE
    ),
    "recaptcha-enterprise": (
        Check("g-recaptcha-response", "recaptcha-enterprise", SITEKEYS["recaptcha-enterprise"]),
    ),
    "hcaptcha": (Check("h-captcha-response", "hcaptcha", SITEKEYS["hcaptcha"]),),
    "turnstile": (
        Check(
            "cf-turnstile-response",
            "turnstile",
            SITEKEYS["turnstile"],
            action=TURNSTILE_ACTION,
            cdata=TURNSTILE_CDATA,
        ),
    ),
    "two-captchas": (
        Check(
            "g-recaptcha-response",
            "recaptcha",
            SITEKEYS["two-captchas-recaptcha"],
            label="recaptcha",
        ),
        Check(
            "cf-turnstile-response",
            "turnstile",
            SITEKEYS["two-captchas-turnstile"],
            label="turnstile",
        ),
    ),
    "iframe": _recaptcha("iframe"),
}

# path -> form kind, for every page whose form posts back to itself
FORM_PATHS: dict[str, str] = {
    **{PAGES_BY_KIND[kind].path: kind for kind in CHECKS if kind != "iframe"},
    pages.IFRAME_INNER_PATH: "iframe",
    PAGES_BY_KIND["image"].path: "image",
}


@dataclasses.dataclass
class Reply:
    """A complete answer: status, HTML (or other) body and extra headers."""

    status: int
    body: bytes
    headers: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    content_type: str = "text/html; charset=utf-8"


Handler = Callable[[Request, str, int, str], Awaitable[Reply]]


class BadPage(ValueError):
    """The ``page`` query parameter is not a page number."""


def _page_number(query: str) -> int:
    values = parse_qs(query).get("page")
    if not values:
        return 1
    text = values[0]
    # ASCII and short: int() refuses other Unicode digits and very long numbers
    if not (text.isascii() and text.isdigit() and len(text) <= 6) or not 1 <= int(text) <= MAX_PAGE:
        raise BadPage(text)
    return int(text)


def _field(request: Request, name: str) -> str:
    values = (request.args or {}).get(name.encode())
    return values[0].decode("utf-8", "replace") if values else ""


def _first_error(failure: Failure) -> Failure:
    # gatherResults wraps the failure; callers want the original exception
    if isinstance(failure.value, FirstError):
        return failure.value.subFailure
    return failure


def _hostname(request: Request) -> str:
    host = request.getHeader("host")
    return (urlsplit(f"//{host}").hostname if host else None) or request.getHost().host


def _log_failure(failure: Failure) -> None:
    log.err(failure, "demo site handler failed")


def _error_text(codes: list[str]) -> str:
    return "Captcha verification failed: " + ", ".join(codes)


class DemoShop(Resource):
    """All pages of the demo shop (one leaf resource dispatching on the path)."""

    isLeaf = True

    def __init__(self, verifier: SiteVerifier, signer: Signer | None = None) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._verifier = verifier
        self._signer = signer or Signer()
        self._used_challenges: OrderedDict[str, None] = OrderedDict()

    # -- plumbing --------------------------------------------------------------

    def render(self, request: Request) -> int:
        """Dispatch to a handler; every handler is a coroutine giving a :class:`Reply`."""
        gone: list[Failure] = []
        request.notifyFinish().addErrback(gone.append)
        done = Deferred.fromCoroutine(self._handle(request))

        def send(reply: Reply) -> None:
            if gone:
                return
            request.setResponseCode(reply.status)
            request.setHeader("content-type", reply.content_type)
            request.setHeader("cache-control", "no-store")
            for name, value in reply.headers:
                request.setHeader(name, value)
            request.write(reply.body)
            request.finish()

        def fail(failure: Failure) -> None:
            _log_failure(failure)
            # A bug in a handler must not leave the client waiting for its timeout.
            send(Reply(500, pages.message_page("Server error", ["The demo site failed."])))

        done.addCallback(send).addErrback(fail)
        return NOT_DONE_YET

    async def _handle(self, request: Request) -> Reply:
        uri = urlsplit(request.uri.decode("utf-8", "replace"))
        path = uri.path.rstrip("/") or "/"
        method = request.method.decode("ascii", "replace")
        if method == "HEAD":
            method = "GET"
        try:
            page = _page_number(uri.query)
        except BadPage as exc:
            return Reply(400, pages.message_page("Bad request", [f"Invalid page {exc}."]))
        routes = self._routes(path)
        if not routes:
            return Reply(404, pages.message_page("Not found", [f"No page at {path}."]))
        handler = routes.get(method)
        if handler is None:
            allowed = ", ".join(sorted(routes))
            return Reply(
                405,
                pages.message_page("Method not allowed", [f"Use {allowed}."]),
                headers=[("allow", allowed)],
            )
        try:
            return await handler(request, path, page, uri.query)
        except SiteverifyUnavailable as exc:
            log.msg(str(exc))
            return Reply(502, pages.message_page("Bad gateway", ["Captcha check unavailable."]))

    def _routes(self, path: str) -> dict[str, Handler]:
        """The handlers of ``path`` by HTTP method."""
        if path in FORM_PATHS:
            return {"GET": self._form, "POST": self._submit}
        fixed: dict[str, dict[str, Handler]] = {
            "/": {"GET": self._index},
            "/iframe": {"GET": self._iframe_outer},
            "/image/captcha.png": {"GET": self._captcha_png},
            INTERSTITIAL_PATH: {"GET": self._interstitial},
            pages.CHALLENGE_VERIFY_PATH: {"POST": self._challenge_verify},
        }
        return fixed.get(path, {})

    def _page_url(self, request: Request, path: str) -> str:
        host = request.getHeader("host") or f"{request.getHost().host}:{request.getHost().port}"
        return f"http://{host}{path}"

    def _form_reply(self, status: int, path: str, page: int, error: str | None = None) -> Reply:
        kind = FORM_PATHS[path]
        challenge_id = self._signer.new_challenge_id() if kind == "image" else ""
        csrf = self._signer.csrf(path, page)
        body = pages.form_page(kind, path, page, csrf, error=error, challenge_id=challenge_id)
        return Reply(status, body)

    # -- pages -----------------------------------------------------------------

    async def _index(self, request: Request, path: str, page: int, query: str) -> Reply:
        return Reply(200, pages.index_page())

    async def _iframe_outer(self, request: Request, path: str, page: int, query: str) -> Reply:
        return Reply(200, pages.iframe_outer_page(page))

    async def _form(self, request: Request, path: str, page: int, query: str) -> Reply:
        return self._form_reply(200, path, page)

    async def _submit(self, request: Request, path: str, page: int, query: str) -> Reply:
        kind = FORM_PATHS[path]
        if not self._signer.check_csrf(_field(request, "csrf"), path, page):
            return self._form_reply(403, path, page, "The form was tampered with (csrf-mismatch).")
        if kind == "image":
            errors = self._image_errors(request)
        else:
            errors = await self._token_errors(request, CHECKS[kind], path)
        if errors:
            return self._form_reply(403, path, page, _error_text(errors))
        return Reply(200, pages.success_page(kind, path, page))

    async def _token_errors(
        self, request: Request, checks: tuple[Check, ...], path: str
    ) -> list[str]:
        page_url = self._page_url(request, path)
        remote_ip = getattr(request.getClientAddress(), "host", "")
        results = await gatherResults(
            [
                Deferred.fromCoroutine(
                    self._verifier.verify(check, _field(request, check.field), page_url, remote_ip)
                )
                for check in checks
            ],
            consumeErrors=True,
        ).addErrback(_first_error)
        return [code for codes in results for code in codes]

    def _image_errors(self, request: Request) -> list[str]:
        challenge_id = _field(request, "challenge")
        answer = _field(request, "captcha").strip()
        if not self._signer.valid_challenge_id(challenge_id):
            return ["invalid-challenge"]
        if challenge_id in self._used_challenges:
            return ["timeout-or-duplicate"]
        # one attempt per picture, as on real sites
        self._used_challenges[challenge_id] = None
        if len(self._used_challenges) > _USED_CHALLENGES_KEPT:
            self._used_challenges.popitem(last=False)
        if not answer:
            return ["missing-input-response"]
        if answer.upper() != image_answer(captcha_png(challenge_id)):
            return ["wrong-answer"]
        return []

    async def _captcha_png(self, request: Request, path: str, page: int, query: str) -> Reply:
        challenge_id = (parse_qs(query).get("c") or [""])[0]
        if not self._signer.valid_challenge_id(challenge_id):
            return Reply(404, pages.message_page("Not found", ["Unknown challenge."]))
        return Reply(200, captcha_png(challenge_id), content_type="image/png")

    # -- Cloudflare-like interstitial ---------------------------------------------

    def _challenge_reply(self, request: Request, return_to: str, error: str | None = None) -> Reply:
        body = pages.challenge_page(
            return_to,
            self._signer.ray_id(return_to),
            self._signer.sign("challenge", return_to),
            _hostname(request),
            error=error,
        )
        return Reply(403, body, headers=[("cf-mitigated", "challenge"), ("server", "cloudflare")])

    async def _interstitial(self, request: Request, path: str, page: int, query: str) -> Reply:
        cookie = request.getCookie(b"cf_clearance")
        if cookie and self._signer.valid_clearance(cookie.decode("ascii", "replace")):
            return Reply(200, pages.success_page("turnstile-interstitial", path, page))
        return self._challenge_reply(request, f"{path}?page={page}")

    async def _challenge_verify(self, request: Request, path: str, page: int, query: str) -> Reply:
        target = urlsplit(_field(request, "return"))
        try:
            if target.scheme or target.netloc or target.path != INTERSTITIAL_PATH:
                raise BadPage(target.path)
            return_to = f"{INTERSTITIAL_PATH}?page={_page_number(target.query)}"
        except BadPage:
            return Reply(400, pages.message_page("Bad request", ["Invalid return address."]))
        signature = _field(request, "csrf")
        if not self._signer.check(signature, "challenge", return_to):
            return self._challenge_reply(request, return_to, "Challenge tampered with.")
        check = Check(
            "cf-turnstile-response",
            "turnstile",
            SITEKEYS["turnstile-interstitial"],
            action=INTERSTITIAL_ACTION,
            cdata=self._signer.ray_id(return_to),
        )
        errors = await self._verifier.verify(
            check,
            _field(request, check.field),
            self._page_url(request, INTERSTITIAL_PATH),
            getattr(request.getClientAddress(), "host", ""),
        )
        if errors:
            return self._challenge_reply(request, return_to, _error_text(errors))
        cookie = (
            f"cf_clearance={self._signer.new_clearance()}; Path=/; "
            f"Max-Age={CLEARANCE_LIFETIME}; HttpOnly; SameSite=Lax"
        )
        return Reply(
            302,
            pages.message_page("Found", ["Challenge passed."]),
            headers=[("location", return_to), ("set-cookie", cookie)],
        )


class _Port(Protocol):
    # the part of IListeningPort used here; zope interfaces do not type-check as classes
    def stopListening(self) -> Deferred[None] | None: ...


@dataclasses.dataclass
class RunningDemoSite:
    """A demo site listening on the reactor."""

    url: str
    port: _Port

    def stop(self) -> Deferred[None]:
        """Stop listening; fires once the port is closed."""
        stopping = self.port.stopListening()
        return stopping if stopping is not None else succeed(None)


def start_demo_site(emulator_url: str, host: str = "127.0.0.1", port: int = 0) -> RunningDemoSite:
    """Serve the demo shop on the running (or about to run) reactor.

    ``emulator_url`` is the emulator's root URL (its ``/siteverify`` checks the
    tokens); ``port=0`` picks a free port, see ``.url``.
    """
    from twisted.internet import reactor as installed

    reactor: Any = installed  # the global reactor object carries no usable static type
    site = Site(DemoShop(SiteVerifier(emulator_url, reactor)))
    site.displayTracebacks = False
    listening = reactor.listenTCP(port, site, interface=host)
    url_host = f"[{host}]" if ":" in host else host
    return RunningDemoSite(f"http://{url_host}:{listening.getHost().port}", listening)

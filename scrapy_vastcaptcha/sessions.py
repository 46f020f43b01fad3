"""Challenges that guard a whole session, solved once for every request waiting on them.

A Cloudflare-style interstitial answers every URL of a site until one of
them passes it; the clearance then lands in the session's cookie jar and
opens every page. Solving it once per request in flight would multiply the
bill by the concurrency. So when a challenge is *session-wide*, the first
request that meets it solves it (the leader) and the others that meet the
same challenge in the same session wait, costing nothing, until the
leader's resubmission comes back clear; then they are sent again as they
were and carry the clearance cookie.

Session-wide is decided from evidence, never from a page's markup alone:

* the user says so (``meta["vastcaptcha"]["session_wide"]``, or the setting
  ``VASTCAPTCHA_SESSION_CHALLENGES = "always"``);
* the response is a block page: status 403, 429 or 503 carrying the
  challenge, or a ``cf-mitigated: challenge`` header;
* the challenge form posts elsewhere and carries the original URL back
  (a field whose value is the requested URL or its path);
* the same challenge (provider, site key, form action) answers requests for
  different URLs of the same session, and its form posts to neither of them.

Per-page captchas (a login, search or comment form that needs a token for
its own submission) post to their own page and carry none of this evidence,
so they are never coalesced. Where the evidence misleads, the mistake costs
one round, not money: a released request that still meets the challenge is
solved on its own, and that challenge is treated as per-request for the
rest of the crawl.

"Session" is what Scrapy's cookies middleware uses: the ``cookiejar`` meta
key (the default jar when absent), plus the host. Everything here is pure
bookkeeping; the middleware parks and releases the requests.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Generic, TypeVar
from urllib.parse import urlsplit

from scrapy_vastcaptcha.captcha import Captcha
from scrapy_vastcaptcha.resubmit import FormPlan

if TYPE_CHECKING:
    from scrapy.http import Response

T = TypeVar("T")

#: Status codes of block pages: the content was withheld behind the challenge.
BLOCK_STATUSES = frozenset({403, 429, 503})

SESSION_POLICIES = ("auto", "always", "never")


@dataclass(frozen=True)
class Evidence:
    """What a response says about the challenge it shows."""

    url: str
    status: int
    headers: Mapping[str, str]
    #: The session's cookie jar (``meta["cookiejar"]``), ``None`` for the default.
    jar: object
    #: The user's word: ``True``/``False`` forces the decision, ``None`` leaves it to evidence.
    declared: bool | None = None


def response_evidence(response: Response, *, jar: object, declared: bool | None) -> Evidence:
    """What ``response`` says about its challenge, met in the session ``jar``
    (a cookie jar for the middleware, a browser context for in-page solving)."""
    headers = {
        name.decode("latin-1").lower(): values[0].decode("latin-1")
        for name, values in response.headers.items()
        if values
    }
    return Evidence(
        url=response.url, status=response.status, headers=headers, jar=jar, declared=declared
    )


def challenge_key(evidence: Evidence, captchas: Iterable[Captcha], form: FormPlan | None) -> str:
    """The identity of a challenge within a session: jar, host, widgets and
    the form's action without its query (challenge platforms put one-time
    tokens there)."""
    widgets = ",".join(sorted(f"{c.kind}:{c.sitekey}" for c in captchas))
    action = _without_query(form.url) if form is not None else ""
    host = urlsplit(evidence.url).hostname or ""
    return f"{evidence.jar!r}|{host}|{widgets}|{action}"


def declared_or_evident(evidence: Evidence, form: FormPlan | None, policy: str) -> bool | None:
    """``True`` when this response alone shows the challenge is session-wide,
    ``False`` when it must not be coalesced, ``None`` when only a second URL
    meeting the same challenge can tell."""
    if evidence.declared is not None:
        return evidence.declared
    if policy != "auto":
        return policy == "always"
    if evidence.headers.get("cf-mitigated", "").lower() == "challenge":
        return True
    if evidence.status in BLOCK_STATUSES:
        return True
    if form is not None and _carries_url_back(evidence.url, form):
        return True
    if form is not None and _same_page(form.url, evidence.url):
        # A form that posts to its own page answers for that page only.
        return False
    return None


def _without_query(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def _same_page(a: str, b: str) -> bool:
    return _without_query(a) == _without_query(b)


def _carries_url_back(url: str, form: FormPlan) -> bool:
    if _same_page(form.url, url):
        return False
    parts = urlsplit(url)
    path_query = parts.path + (f"?{parts.query}" if parts.query else "")
    wanted = {url, path_query} | ({parts.path} if parts.path not in ("", "/") else set())
    return any(value in wanted for _, value in form.fields)


@dataclass
class _Gate(Generic[T]):
    leader_url: str
    #: Whether the challenge is known to be session-wide (or only suspected:
    #: a second URL meeting it will tell).
    confirmed: bool
    waiters: list[T] = field(default_factory=list)


class SharedChallenges(Generic[T]):
    """Leaders and waiters per challenge key; ``T`` is what the middleware
    parks (a request)."""

    def __init__(self) -> None:
        self._gates: dict[str, _Gate[T]] = {}
        self._per_request: set[str] = set()

    def decide(self, key: str, url: str, evident: bool | None) -> str:
        """``"lead"``: solve it (and let later requests wait on it);
        ``"wait"``: another request of the session is solving it;
        ``"own"``: solve it for this request only."""
        if evident is False or key in self._per_request:
            return "own"
        gate = self._gates.get(key)
        if gate is None:
            if evident is None:
                # Remembered so that a second URL meeting it can tell.
                self._gates[key] = _Gate(url, confirmed=False)
            else:
                self._gates[key] = _Gate(url, confirmed=True)
            return "lead"
        if evident or gate.confirmed or not _same_page(gate.leader_url, url):
            gate.confirmed = True
            return "wait"
        return "own"

    def wait(self, key: str, item: T) -> None:
        self._gates[key].waiters.append(item)

    def leads(self, key: str) -> bool:
        return key in self._gates

    def release(self, key: str) -> list[T]:
        """The leader came back clear: every waiter goes again."""
        gate = self._gates.pop(key, None)
        return gate.waiters if gate is not None else []

    def promote(self, key: str) -> T | None:
        """The leader failed: one waiter (if any) takes over the solve."""
        gate = self._gates.get(key)
        if gate is None:
            return None
        if not gate.waiters:
            del self._gates[key]
            return None
        return gate.waiters.pop(0)

    def learn_per_request(self, key: str) -> bool:
        """A released request met the challenge again: the clearance did not
        open the session. ``True`` the first time (to log and count it once)."""
        first = key not in self._per_request
        self._per_request.add(key)
        return first

    def drain(self) -> list[T]:
        """Every waiter, and forget every gate (close, fatal error, idle)."""
        waiters = [w for gate in self._gates.values() for w in gate.waiters]
        self._gates.clear()
        return waiters

    @property
    def waiting(self) -> int:
        return sum(len(gate.waiters) for gate in self._gates.values())

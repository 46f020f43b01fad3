"""Server-side token checks against the emulator's ``/siteverify`` endpoint.

The demo site acts as a real site's back end would: it forwards the token with
its site key, the widget kind and the page URL, then applies its own rules
(action, cData, score) to the answer. Calls go through treq, never blocking.
"""

from __future__ import annotations

import dataclasses
from typing import Any, cast

from treq.client import HTTPClient
from twisted.web.client import Agent, HTTPConnectionPool
from twisted.web.iweb import IAgent

SITEVERIFY_TIMEOUT = 10.0


class SiteverifyUnavailable(Exception):
    """The emulator could not be asked, or answered nonsense."""


@dataclasses.dataclass(frozen=True)
class Check:
    """One widget of a form and what its token must prove."""

    field: str
    kind: str
    sitekey: str
    action: str | None = None
    cdata: str | None = None
    min_score: float | None = None
    label: str = ""

    def codes(self, codes: list[str]) -> list[str]:
        """``codes`` prefixed with the widget label when the form has several widgets."""
        return [f"{self.label}:{code}" for code in codes] if self.label else codes


def rule_errors(check: Check, answer: dict[str, Any]) -> list[str]:
    """Error codes for a siteverify ``answer`` judged by the site's own rules."""
    if not answer.get("success"):
        codes = answer.get("error-codes")
        return [str(code) for code in codes] if codes else ["verification-failed"]
    errors = []
    if check.action is not None and answer.get("action") != check.action:
        errors.append("action-mismatch")
    if check.cdata is not None and answer.get("cdata") != check.cdata:
        errors.append("cdata-mismatch")
    score = answer.get("score")
    if check.min_score is not None and (
        not isinstance(score, int | float) or score < check.min_score
    ):
        errors.append("score-too-low")
    return errors


class SiteVerifier:
    """Asks the emulator whether tokens are valid."""

    def __init__(self, emulator_url: str, reactor: Any) -> None:
        self._url = emulator_url.rstrip("/") + "/siteverify"
        # no persistent connections: nothing is left open when the site stops
        pool = HTTPConnectionPool(reactor, persistent=False)
        self._client = HTTPClient(cast(IAgent, Agent(reactor, pool=pool)))

    async def verify(self, check: Check, token: str, page_url: str, remote_ip: str) -> list[str]:
        """Error codes for ``token`` submitted on ``page_url``; empty when it passes."""
        if not token:
            return check.codes(["missing-input-response"])
        form = {
            "response": token,
            "sitekey": check.sitekey,
            "kind": check.kind,
            "url": page_url,
            "remoteip": remote_ip,
        }
        try:
            response = await self._client.post(self._url, data=form, timeout=SITEVERIFY_TIMEOUT)
            answer = await response.json() if response.code == 200 else None
        except Exception as exc:
            raise SiteverifyUnavailable(f"siteverify at {self._url} failed: {exc!r}") from exc
        if not isinstance(answer, dict):
            raise SiteverifyUnavailable(f"siteverify at {self._url} gave no JSON object")
        return check.codes(rule_errors(check, answer))

"""Captcha tokens the emulator hands out and a site can verify, plus image answers.

Pure logic: the caller passes the time and the random generator, so the rules
(single use, expiry, binding to site key, page URL and kind) can be tested
without a clock or a network.
"""

from __future__ import annotations

import dataclasses
import hashlib
import random
import string
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

FAMILIES: tuple[str, ...] = ("recaptcha", "hcaptcha", "turnstile", "funcaptcha")
VERIFY_KINDS: tuple[str, ...] = (
    "recaptcha",
    "recaptcha-enterprise",
    "hcaptcha",
    "turnstile",
    "funcaptcha",
)

_URL_SAFE = string.ascii_letters + string.digits + "-_"
_ANSWER_ALPHABET = string.ascii_uppercase + string.digits
ANSWER_LENGTH = 6


def image_answer(image_bytes: bytes) -> str:
    """The answer the emulator gives for an image: 6 uppercase letters/digits.

    Derived from a hash of the bytes, so a site that generated the image can
    check a submitted answer without asking the emulator.
    """
    number = int.from_bytes(hashlib.sha256(image_bytes).digest(), "big")
    chars = []
    for _ in range(ANSWER_LENGTH):
        number, index = divmod(number, len(_ANSWER_ALPHABET))
        chars.append(_ANSWER_ALPHABET[index])
    return "".join(chars)


def _chars(rng: random.Random, count: int) -> str:
    return "".join(rng.choice(_URL_SAFE) for _ in range(count))


def mint_token(family: str, rng: random.Random) -> str:
    """A new opaque token that looks like the real one of ``family``."""
    if family == "recaptcha":
        return "03A" + _chars(rng, 557)
    if family == "hcaptcha":
        return "P1_eyJ" + _chars(rng, 200) + "." + _chars(rng, 600) + "." + _chars(rng, 43)
    if family == "turnstile":
        return "0." + _chars(rng, 300) + "." + _chars(rng, 64)
    if family == "funcaptcha":
        session = f"{rng.getrandbits(64):016x}{rng.getrandbits(8):02x}"
        return f"{session}.{rng.randrange(10**9, 10**10)}." + _chars(rng, 120)
    raise ValueError(f"unknown token family {family!r}")


@dataclasses.dataclass(frozen=True)
class TokenClaims:
    """What a token is bound to; set when the task that produced it was solved."""

    family: str
    task_id: str
    task_type: str
    website_key: str
    website_url: str
    enterprise: bool
    action: str | None
    cdata: str | None
    score: float | None
    issued_at: float
    expires_at: float


@dataclasses.dataclass(frozen=True)
class Verification:
    """One siteverify call: its outcome and, when the token was known, its claims."""

    time: float
    success: bool
    error_codes: tuple[str, ...]
    claims: TokenClaims | None

    def to_json(self) -> dict[str, Any]:
        """The siteverify response body."""
        claims = self.claims
        return {
            "success": self.success,
            "error-codes": list(self.error_codes),
            "challenge_ts": _iso(claims.issued_at) if claims else None,
            "hostname": urlsplit(claims.website_url).hostname if claims else None,
            "action": claims.action if claims else None,
            "cdata": claims.cdata if claims else None,
            "score": claims.score if claims else None,
            "task_id": claims.task_id if claims else None,
        }


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).isoformat().replace("+00:00", "Z")


def _page_identity(url: str) -> tuple[str, str, int | None, str] | None:
    """Scheme, host, port and path of ``url``; query and fragment do not matter."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if port is None:
        port = {"http": 80, "https": 443}.get(scheme)
    return (scheme, (parts.hostname or "").lower(), port, parts.path or "/")


def _kind_matches(kind: str, claims: TokenClaims) -> bool:
    if kind in ("recaptcha", "recaptcha-enterprise"):
        return claims.family == "recaptcha" and claims.enterprise == (
            kind == "recaptcha-enterprise"
        )
    return kind == claims.family


class TokenRegistry:
    """Issued tokens and their single-use verification."""

    def __init__(self) -> None:
        self._live: dict[str, TokenClaims] = {}
        self._consumed: set[str] = set()

    def issue(self, token: str, claims: TokenClaims) -> None:
        """Remember ``token`` as valid until ``claims.expires_at`` or its first check."""
        self._live[token] = claims

    def verify(
        self,
        *,
        response: str | None,
        sitekey: str | None,
        kind: str | None,
        url: str | None,
        now: float,
    ) -> Verification:
        """Check a token the way a captcha vendor's siteverify does.

        Any check of a known token consumes it, even a failing one, as the
        real services do. ``url`` is optional; without it the page is not
        compared. An unknown or missing ``kind`` is a ``bad-request``.
        """
        missing = []
        if not response:
            missing.append("missing-input-response")
        if not sitekey:
            missing.append("missing-input-sitekey")
        if not response or not sitekey or kind not in VERIFY_KINDS:
            return Verification(now, False, tuple(missing or ["bad-request"]), None)
        claims = self._live.pop(response, None)
        if claims is None:
            code = (
                "timeout-or-duplicate" if response in self._consumed else "invalid-input-response"
            )
            return Verification(now, False, (code,), None)
        self._consumed.add(response)
        if now > claims.expires_at:
            return Verification(now, False, ("timeout-or-duplicate",), claims)
        errors = []
        if sitekey != claims.website_key:
            errors.append("sitekey-mismatch")
        if url is not None and _page_identity(url) != _page_identity(claims.website_url):
            errors.append("url-mismatch")
        if not _kind_matches(kind, claims):
            errors.append("kind-mismatch")
        return Verification(now, not errors, tuple(errors), claims)

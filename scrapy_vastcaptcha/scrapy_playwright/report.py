"""What the page method found and did (plain data), and the decisions taken on it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from scrapy.settings import BaseSettings

from scrapy_vastcaptcha.api.client import SolveResult
from scrapy_vastcaptcha.api.errors import CaptchaError
from scrapy_vastcaptcha.captcha import Captcha
from scrapy_vastcaptcha.config import MiddlewareConfig
from scrapy_vastcaptcha.meta import Spec

if TYPE_CHECKING:
    from scrapy_vastcaptcha.playwright import CaptchaResult

__all__ = ["BrowserReport", "Round", "browser_proxy", "by_name", "helper_options"]


@dataclass
class Round:
    """One solve round in the page: what was found and how each fared."""

    number: int
    captchas: list[Captcha]
    results: list[CaptchaResult] = field(default_factory=list)
    solves: dict[str, SolveResult] = field(default_factory=dict)

    @property
    def failure(self) -> Exception | None:
        """The first captcha's error, if one failed."""
        return next((r.error for r in self.results if r.error is not None), None)


@dataclass
class BrowserReport:
    """What the page method did, for the middleware to report.

    ``status`` and ``headers`` are those of the main frame's last navigation
    after the captcha (``None`` when it did not navigate); ``error`` is the
    failure to hand to the errback.
    """

    rounds: list[Round] = field(default_factory=list)
    error: CaptchaError | None = None
    status: int | None = None
    headers: dict[str, str] | None = None

    def outcome_parts(self) -> tuple[list[Captcha], list[SolveResult]] | None:
        """The captchas of the last round and their solves, when it solved them all."""
        if not self.rounds or self.error is not None:
            return None
        last = self.rounds[-1]
        solves = [last.solves.get(r.task_id or "") for r in last.results]
        if not last.results or any(s is None for s in solves):
            return None
        return [r.captcha for r in last.results], [s for s in solves if s is not None]


def helper_options(spec: Spec, config: MiddlewareConfig) -> dict[str, Any]:
    """What :func:`find_captchas` and :func:`solve_captchas` are told, from the
    request's ``meta["vastcaptcha"]`` and the settings."""
    kinds = set(config.detect) | ({spec.kind} if spec.kind else set())
    if spec.image is None:
        kinds.discard("image")
    return {
        "kinds": kinds,
        "image_selector": spec.image,
        # meta names the answer's field; the helper takes a selector
        "image_field": by_name(spec.fields[0]) if spec.fields else None,
        "min_score": spec.captcha_options.get("min_score", config.v3_min_score),
        "action": spec.captcha_options.get("action"),
    }


def by_name(name: str) -> str:
    """A CSS selector of the fields named ``name``."""
    escaped = name.replace("\\", "\\\\").replace('"', '\\"')
    return f'[name="{escaped}"]'


def browser_proxy(meta: Mapping[str, Any], settings: BaseSettings) -> str | None:
    """The proxy the request's browser context goes through, for the solver
    (``http://login:password@host:port``); ``None`` when it has none.

    scrapy-playwright ignores ``meta["proxy"]``: a context's proxy is in
    ``PLAYWRIGHT_CONTEXTS``, else in the ``playwright_context_kwargs`` that
    created it, else in ``PLAYWRIGHT_LAUNCH_OPTIONS``.
    """
    name = meta.get("playwright_context") or "default"
    contexts = settings.getdict("PLAYWRIGHT_CONTEXTS")
    kwargs = contexts.get(name) if name in contexts else meta.get("playwright_context_kwargs")
    launch = settings.getdict("PLAYWRIGHT_LAUNCH_OPTIONS")
    proxy: Mapping[str, Any] = (kwargs or {}).get("proxy") or launch.get("proxy") or {}
    server = str(proxy.get("server") or "")
    if not server:
        return None
    parts = urlsplit(server if "://" in server else f"http://{server}")
    if not parts.hostname or not parts.port:
        return None
    login = proxy.get("username") or ""
    credentials = f"{login}:{proxy.get('password') or ''}@" if login else ""
    return f"http://{credentials}{parts.hostname}:{parts.port}"

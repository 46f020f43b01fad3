"""A captcha found on a page, and the task that solves it.

This is the hand-off point of the pipeline: detectors (HTML for Scrapy, live
DOM for Playwright) produce :class:`Captcha` values; :func:`build_task` turns
one into a :class:`~scrapy_vastcaptcha.api.tasks.Task`; injectors put the token
into :attr:`Captcha.fields`. Everything here is plain data so that it can
travel in ``request.meta`` through JOBDIR and Redis.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from types import MappingProxyType
from typing import Any

from scrapy_vastcaptcha.api.errors import InvalidTaskError
from scrapy_vastcaptcha.api.tasks import (
    KINDS,
    FunCaptchaTask,
    HCaptchaTask,
    ImageToTextTask,
    RecaptchaV2Task,
    RecaptchaV3Task,
    Task,
    TurnstileTask,
)


@dataclass(frozen=True)
class KindInfo:
    """What the page side knows of one captcha kind."""

    #: Form fields the provider's widget writes its token into (hCaptcha
    #: writes both of its fields; so do we).
    token_fields: tuple[str, ...]
    #: Seconds a token stays usable once solved; ``None``: it does not expire.
    token_lifetime: float | None
    #: Found in pages by detection (image captchas are described in meta).
    detectable: bool = True


#: The one table of captcha kinds, keyed by :data:`~scrapy_vastcaptcha.api.tasks.KINDS`.
KIND_INFO: Mapping[str, KindInfo] = MappingProxyType(
    {
        "recaptcha-v2": KindInfo(("g-recaptcha-response",), 120.0),
        "recaptcha-v3": KindInfo(("g-recaptcha-response",), 120.0),
        "hcaptcha": KindInfo(("h-captcha-response", "g-recaptcha-response"), 120.0),
        "turnstile": KindInfo(("cf-turnstile-response",), 300.0),
        "funcaptcha": KindInfo(("fc-token",), 120.0),
        "image": KindInfo((), None, detectable=False),
    }
)
assert tuple(KIND_INFO) == KINDS, "every task kind needs its page-side facts"

TOKEN_FIELDS: Mapping[str, tuple[str, ...]] = {k: v.token_fields for k, v in KIND_INFO.items()}
DETECTABLE_KINDS: tuple[str, ...] = tuple(k for k, v in KIND_INFO.items() if v.detectable)
TOKEN_LIFETIMES: Mapping[str, float] = {
    k: v.token_lifetime for k, v in KIND_INFO.items() if v.token_lifetime is not None
}


@dataclass(frozen=True)
class Captcha:
    """One widget. ``fields`` are the form fields its token goes into."""

    kind: str
    sitekey: str = ""
    page_url: str = ""
    action: str | None = None
    cdata: str | None = None
    page_data: str | None = None
    invisible: bool = False
    enterprise: bool = False
    min_score: float | None = None
    rqdata: str | None = None
    #: Name of the page's callback, when the markup names one.
    callback: str | None = None
    fields: tuple[str, ...] = ()
    #: The other kind this widget may be, when the page could not tell (reCAPTCHA
    #: v2 vs v3): tried next if the site rejects a token of ``kind``.
    alternative: str | None = None
    #: Extra task fields, sent as given.
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise InvalidTaskError(f"unknown captcha kind {self.kind!r}; known: {', '.join(KINDS)}")
        if not self.fields:
            object.__setattr__(self, "fields", TOKEN_FIELDS[self.kind])

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["fields"] = list(self.fields)
        data["extra"] = dict(self.extra)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Captcha:
        values = dict(data)
        values["fields"] = tuple(values.get("fields") or ())
        return cls(**values)


def build_task(
    captcha: Captcha,
    *,
    image: bytes | str | None = None,
    user_agent: str | None = None,
    proxy: str | None = None,
) -> Task:
    """The task that solves ``captcha``; ``image`` is required for image captchas."""
    common: dict[str, Any] = {"user_agent": user_agent, "proxy": proxy, "extra": captcha.extra}
    if captcha.kind == "image":
        if image is None:
            raise InvalidTaskError("an image captcha needs the image")
        return ImageToTextTask(image=image, **common)
    site: dict[str, Any] = {"website_url": captcha.page_url, "website_key": captcha.sitekey}
    if captcha.kind == "recaptcha-v2":
        extra = dict(captcha.extra)
        if captcha.action and "pageAction" not in extra:
            # Enterprise v2 widgets may carry an action; peers take it as pageAction.
            extra["pageAction"] = captcha.action
        common["extra"] = extra
        return RecaptchaV2Task(
            **site, invisible=captcha.invisible, enterprise=captcha.enterprise, **common
        )
    if captcha.kind == "recaptcha-v3":
        return RecaptchaV3Task(
            **site,
            page_action=captcha.action,
            min_score=captcha.min_score,
            enterprise=captcha.enterprise,
            **common,
        )
    if captcha.kind == "hcaptcha":
        return HCaptchaTask(
            **site,
            invisible=captcha.invisible,
            enterprise=captcha.enterprise,
            rqdata=captcha.rqdata,
            **common,
        )
    if captcha.kind == "turnstile":
        return TurnstileTask(
            **site,
            invisible=captcha.invisible,
            action=captcha.action,
            cdata=captcha.cdata,
            page_data=captcha.page_data,
            **common,
        )
    return FunCaptchaTask(**site, blob=captcha.page_data, **common)

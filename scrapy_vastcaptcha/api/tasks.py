"""Typed, immutable task descriptions, validated before any money is spent.

Each class knows its VastCap ``type`` name and builds the ``task`` object of a
``createTask`` call with :meth:`Task.payload`. Fields the service documents
have typed attributes; anything else goes in ``extra`` and is sent as given.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any, ClassVar
from urllib.parse import urlsplit

from scrapy_vastcaptcha.api.errors import InvalidTaskError

JSONValue = Any

#: Site keys of every provider are short runs of these characters; anything
#: else (quotes, spaces, markup) means the key was scraped wrongly.
_SITEKEY_RE = re.compile(r"^[A-Za-z0-9_.:\-]{4,200}$")
# The service takes login:password@host:port and nothing else (vastcap-api.md).
_PROXY_RE = re.compile(r"^[^:@/\s]+:[^@/\s]+@[A-Za-z0-9.\-\[\]:]+:\d{1,5}$")

KINDS = ("recaptcha-v2", "recaptcha-v3", "hcaptcha", "turnstile", "funcaptcha", "image")


def _frozen(mapping: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping or {}))


def _check_url(name: str, url: str) -> None:
    if not isinstance(url, str) or not url.strip():
        raise InvalidTaskError(f"{name} is required")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidTaskError(f"{name} must be an absolute http(s) URL, got {url!r}")


def _check_sitekey(name: str, key: str) -> None:
    if not isinstance(key, str) or not key:
        raise InvalidTaskError(f"{name} is required")
    if not _SITEKEY_RE.match(key):
        raise InvalidTaskError(f"{name} is malformed: {key[:60]!r}")


def normalize_proxy(proxy: str) -> str:
    """``login:password@host:port`` as the service wants it; an ``http://``
    or ``https://`` prefix (Scrapy's ``meta["proxy"]`` form) is dropped."""
    value = proxy.strip()
    for scheme in ("http://", "https://"):
        if value.lower().startswith(scheme):
            value = value[len(scheme) :]
    value = value.rstrip("/")
    if "://" in value or not _PROXY_RE.match(value):
        # A proxy without credentials is refused too: solving without it
        # would give a token bound to another address, paid for and useless.
        raise InvalidTaskError(
            "proxy must look like login:password@host:port (the service takes "
            f"no other form), got {_mask_proxy(proxy)!r}"
        )
    return value


def _mask_proxy(proxy: str) -> str:
    # Proxy passwords are secrets too, and may hold "/", ":" or "@": hide
    # everything between the scheme and the last "@".
    scheme, sep, rest = proxy.rpartition("://")
    _credentials, at, host = rest.rpartition("@")
    return f"{scheme}{sep}***@{host}" if at else proxy


def image_to_base64(image: bytes | str) -> str:
    """Clean base64 of an image: bytes are encoded; a string may be base64
    with or without a ``data:`` URI prefix and line breaks."""
    if isinstance(image, (bytes, bytearray)):
        if not image:
            raise InvalidTaskError("image is empty")
        return base64.b64encode(bytes(image)).decode("ascii")
    text = image.strip()
    if text.startswith("data:"):
        head, _, text = text.partition(",")
        if ";base64" not in head:
            raise InvalidTaskError("image data URI must be base64-encoded")
    text = "".join(text.split())
    if not text:
        raise InvalidTaskError("image is empty")
    try:
        decoded = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidTaskError(f"image is not valid base64: {exc}") from None
    if not decoded:
        raise InvalidTaskError("image is empty")
    return text


@dataclass(frozen=True, kw_only=True)
class Task:
    """Fields shared by every task type."""

    TYPE: ClassVar[str] = ""
    #: The captcha family, used to pick the polling schedule and by detectors.
    KIND: ClassVar[str] = ""
    #: Our attribute name -> the service's field name.
    _WIRE: ClassVar[Mapping[str, str]] = {}

    proxy: str | None = None
    user_agent: str | None = None
    extra: Mapping[str, JSONValue] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.proxy is not None:
            object.__setattr__(self, "proxy", normalize_proxy(self.proxy))
        if self.user_agent is not None and not self.user_agent.strip():
            raise InvalidTaskError("user_agent must not be blank")
        if not isinstance(self.extra, Mapping):
            raise InvalidTaskError("extra must be a mapping of additional task fields")
        object.__setattr__(self, "extra", _frozen(self.extra))
        self.validate()
        clash = set(self.extra) & (set(self._fields_payload()) | {"type"})
        if clash:
            raise InvalidTaskError(
                f"extra fields {sorted(clash)} clash with fields {type(self).__name__} sets itself"
            )

    def validate(self) -> None:
        """Type-specific checks; raise :class:`InvalidTaskError`."""

    def _fields_payload(self) -> dict[str, JSONValue]:
        out: dict[str, JSONValue] = {}
        for f in fields(self):
            if f.name == "extra":
                continue
            value = getattr(self, f.name)
            # Unset options and false flags are left out, as in the service's examples.
            if value is None or value is False:
                continue
            wire = self._WIRE.get(f.name) or _camel(f.name)
            out[wire] = dict(value) if isinstance(value, Mapping) else value
        return out

    def payload(self) -> dict[str, JSONValue]:
        """The ``task`` object of a ``createTask`` request."""
        return {"type": self.TYPE, **self._fields_payload(), **dict(self.extra)}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


@dataclass(frozen=True, kw_only=True)
class WebsiteTask(Task):
    """A token task: a widget identified by its page URL and site key."""

    website_url: str
    website_key: str

    _WIRE: ClassVar[Mapping[str, str]] = {"website_url": "websiteURL", "website_key": "websiteKey"}

    def validate(self) -> None:
        _check_url("website_url", self.website_url)
        _check_sitekey("website_key", self.website_key)


@dataclass(frozen=True, kw_only=True)
class RecaptchaV2Task(WebsiteTask):
    """reCAPTCHA v2, checkbox or invisible; ``enterprise`` for reCAPTCHA
    Enterprise (sent as ``isEnterprise``, the peers' convention, since VastCap
    documents no Enterprise type)."""

    TYPE: ClassVar[str] = "RecaptchaV2Task"
    KIND: ClassVar[str] = "recaptcha-v2"
    _WIRE: ClassVar[Mapping[str, str]] = {
        **WebsiteTask._WIRE,
        "invisible": "isInvisible",
        "enterprise": "isEnterprise",
        "enterprise_payload": "enterprisePayload",
    }

    invisible: bool = False
    enterprise: bool = False
    enterprise_payload: Mapping[str, JSONValue] | None = None


@dataclass(frozen=True, kw_only=True)
class RecaptchaV3Task(WebsiteTask):
    """reCAPTCHA v3: ``page_action`` is the action the page passes to
    ``grecaptcha.execute``; ``min_score`` asks for a token scoring at least that."""

    TYPE: ClassVar[str] = "RecaptchaV3Task"
    KIND: ClassVar[str] = "recaptcha-v3"
    _WIRE: ClassVar[Mapping[str, str]] = {
        **WebsiteTask._WIRE,
        "enterprise": "isEnterprise",
        "enterprise_payload": "enterprisePayload",
    }

    page_action: str | None = None
    min_score: float | None = None
    enterprise: bool = False
    enterprise_payload: Mapping[str, JSONValue] | None = None

    def validate(self) -> None:
        super().validate()
        if self.min_score is not None and not (
            isinstance(self.min_score, (int, float)) and 0.1 <= self.min_score <= 0.9
        ):
            raise InvalidTaskError(f"min_score must be between 0.1 and 0.9, got {self.min_score!r}")
        if self.page_action is not None and not self.page_action.strip():
            raise InvalidTaskError("page_action must not be blank")


@dataclass(frozen=True, kw_only=True)
class HCaptchaTask(WebsiteTask):
    TYPE: ClassVar[str] = "HCaptchaTask"
    KIND: ClassVar[str] = "hcaptcha"

    invisible: bool = False
    enterprise: bool = False
    rqdata: str | None = None


@dataclass(frozen=True, kw_only=True)
class TurnstileTask(WebsiteTask):
    """Cloudflare Turnstile. ``action``, ``cdata`` and ``page_data`` are the
    widget's ``data-action`` / ``data-cdata`` / ``chlPageData`` and are passed
    through when set."""

    TYPE: ClassVar[str] = "TurnstileTask"
    KIND: ClassVar[str] = "turnstile"
    _WIRE: ClassVar[Mapping[str, str]] = {
        **WebsiteTask._WIRE,
        "cdata": "cData",
        "page_data": "chlPageData",
    }

    invisible: bool = False
    action: str | None = None
    cdata: str | None = None
    page_data: str | None = None


@dataclass(frozen=True, kw_only=True)
class FunCaptchaTask(WebsiteTask):
    """Arkose Labs FunCaptcha: ``blob`` and ``cookies`` go into the task's ``data``."""

    TYPE: ClassVar[str] = "FunCaptchaTask"
    KIND: ClassVar[str] = "funcaptcha"

    blob: str | None = None
    cookies: Mapping[str, str] | None = None

    def _fields_payload(self) -> dict[str, JSONValue]:
        out = super()._fields_payload()
        blob, cookies = out.pop("blob", None), out.pop("cookies", None)
        if blob is not None or cookies is not None:
            data: dict[str, JSONValue] = {}
            if blob is not None:
                data["blob"] = blob
            if cookies is not None:
                data["custom_cookies"] = cookies
            out["data"] = data
        return out


@dataclass(frozen=True, kw_only=True)
class ImageToTextTask(Task):
    """Text in an image. ``image`` may be raw bytes, base64, or a ``data:`` URI;
    the payload always carries clean base64 in ``body``."""

    TYPE: ClassVar[str] = "ImageToTextTask"
    KIND: ClassVar[str] = "image"
    _WIRE: ClassVar[Mapping[str, str]] = {"image": "body"}

    image: bytes | str

    def validate(self) -> None:
        object.__setattr__(self, "image", image_to_base64(self.image))


TASK_TYPES: Mapping[str, type[Task]] = MappingProxyType(
    {
        cls.KIND: cls
        for cls in (
            RecaptchaV2Task,
            RecaptchaV3Task,
            HCaptchaTask,
            TurnstileTask,
            FunCaptchaTask,
            ImageToTextTask,
        )
    }
)

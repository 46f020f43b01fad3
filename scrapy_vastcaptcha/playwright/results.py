"""What the helper reports: found widgets and per-captcha results (plain data)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Generic, TypeVar

from scrapy_vastcaptcha.captcha import Captcha

FrameT = TypeVar("FrameT")

#: Where a widget's callback is looked for, in this order; the first hit that
#: is a function (or names a global function) is the one fired.
CALLBACK_SOURCES: tuple[str, ...] = (
    "data-callback",  # the container's data-callback attribute
    "render-option",  # the callback option of a recorded *.render() call for this container
    "grecaptcha-cfg",  # the widget's client in ___grecaptcha_cfg.clients (reCAPTCHA only)
    "hook-registry",  # a recorded *.render() call matched by the widget id it returned
)


@dataclass(frozen=True)
class FrameInfo:
    """The frame that owns a widget: its URL and ``name`` attribute (may be empty)."""

    url: str
    name: str


@dataclass(frozen=True)
class CallbackInfo:
    """A widget's callback: its global name or function name, and where it was
    found (one of :data:`CALLBACK_SOURCES`)."""

    name: str
    source: str


@dataclass(frozen=True)
class FoundCaptcha(Generic[FrameT]):
    """A widget found in the page: the :class:`Captcha` to solve and where it lives.

    ``ready`` is false for a widget declared in the markup that its script has
    not rendered (yet); ``fields`` are the names of the widget's own token
    fields present now; ``document`` names the frame's document it was found
    in (it changes when the frame navigates; ``ref`` is unique within it).
    """

    captcha: Captcha
    frame: FrameT
    frame_info: FrameInfo
    ref: str
    ready: bool
    widget_id: str | None = None
    callback: CallbackInfo | None = None
    host: str | None = None
    fields: tuple[str, ...] = ()
    document: str | None = None

    @property
    def kind(self) -> str:
        return self.captcha.kind


@dataclass(frozen=True)
class CaptchaResult:
    """The outcome for one captcha.

    ``fields`` are the fields the token was written to and ``read_back`` says
    whether all of them held it afterwards; ``execute_overridden`` is set when
    ``grecaptcha.execute`` now resolves with the token; ``callback`` is the
    callback found (and how), ``callback_fired`` whether it was called.
    ``error`` is set (and ``token`` may be ``None``) when this captcha failed
    and errors were not raised.
    """

    kind: str
    sitekey: str
    frame: FrameInfo
    captcha: Captcha
    token: str | None = None
    fields: tuple[str, ...] = ()
    read_back: bool = False
    execute_overridden: bool = False
    callback: CallbackInfo | None = None
    callback_fired: bool = False
    callback_error: str | None = None
    task_id: str | None = None
    solved_at: float | None = None
    expires_at: float | None = None
    user_agent: str | None = None
    error: Exception | None = None

    @property
    def ok(self) -> bool:
        """Solved and injected without error."""
        return self.error is None and self.token is not None

    def seconds_left(self, now: float | None = None) -> float | None:
        """Seconds until the token expires (negative once expired); ``None`` if it never does."""
        if self.expires_at is None:
            return None
        return self.expires_at - (time.time() if now is None else now)

    def expired(self, now: float | None = None) -> bool:
        """Whether the token is too old to submit; solve again if so."""
        left = self.seconds_left(now)
        return left is not None and left <= 0

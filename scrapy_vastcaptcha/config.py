"""``VASTCAPTCHA_*`` Scrapy settings, read once and checked with clear messages.

Values may be strings (``-s NAME=VALUE``, Scrapyd): Scrapy's typed getters
convert them, and a value that does not convert names the setting at fault.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from scrapy.exceptions import NotConfigured
from scrapy.settings import BaseSettings

from scrapy_vastcaptcha.api.credentials import ENV_API_KEY, ApiKey, resolve_api_key, resolve_api_url
from scrapy_vastcaptcha.api.errors import ConfigurationError
from scrapy_vastcaptcha.api.validation import check_positive_finite, check_positive_int
from scrapy_vastcaptcha.detect import DETECTABLE_KINDS
from scrapy_vastcaptcha.sessions import SESSION_POLICIES

T = TypeVar("T")

#: Every setting with its default, for the add-on, the docs and the README check.
DEFAULTS: dict[str, Any] = {
    "VASTCAPTCHA_ENABLED": True,
    "VASTCAPTCHA_API_KEY": None,
    "VASTCAPTCHA_API_URL": None,
    "VASTCAPTCHA_POLL_INTERVAL": None,
    "VASTCAPTCHA_TIMEOUT": 180.0,
    "VASTCAPTCHA_HTTP_TIMEOUT": 30.0,
    "VASTCAPTCHA_MAX_CONCURRENT": 500,
    "VASTCAPTCHA_MAX_ATTEMPTS": 3,
    "VASTCAPTCHA_TOKEN_MAX_AGE": 90.0,
    "VASTCAPTCHA_DETECT": list(DETECTABLE_KINDS),
    "VASTCAPTCHA_V3_MIN_SCORE": 0.7,
    "VASTCAPTCHA_FORWARD_PROXY": False,
    "VASTCAPTCHA_FORWARD_USER_AGENT": False,
    "VASTCAPTCHA_PRIORITY_ADJUST": 100,
    "VASTCAPTCHA_LOG_INTERVAL": 30.0,
    "VASTCAPTCHA_SESSION_CHALLENGES": "auto",
    # Spending limits (scrapy_vastcaptcha.budget); 0 means no limit, as for
    # Scrapy's CLOSESPIDER_* settings.
    "VASTCAPTCHA_MAX_TASKS": 0,
    "VASTCAPTCHA_MAX_SPEND": 0.0,
    "VASTCAPTCHA_MIN_BALANCE": None,
    "VASTCAPTCHA_STOP_AT_MIN_BALANCE": False,
    "VASTCAPTCHA_BALANCE_CHECK_TASKS": 10,
    "VASTCAPTCHA_BALANCE_CHECK_INTERVAL": 30.0,
    "VASTCAPTCHA_REDIS_URL": None,
    "VASTCAPTCHA_CRAWL_NAME": None,
    "VASTCAPTCHA_LEASE_TIME": 30.0,
}


@dataclass(frozen=True)
class MiddlewareConfig:
    api_key: ApiKey
    api_url: str
    poll_interval: float | None
    timeout: float
    http_timeout: float
    max_concurrent: int
    max_attempts: int
    token_max_age: float
    detect: tuple[str, ...]
    v3_min_score: float | None
    forward_proxy: bool
    forward_user_agent: bool
    priority_adjust: int
    log_interval: float
    session_challenges: str

    @classmethod
    def from_settings(cls, settings: BaseSettings) -> MiddlewareConfig:
        """Raise ``NotConfigured`` without a key (saying how to set one), and
        :class:`ConfigurationError` for a value that makes no sense."""
        raw_key = settings.get("VASTCAPTCHA_API_KEY")
        try:
            api_key = resolve_api_key(raw_key or None)
        except ConfigurationError:
            raise NotConfigured(
                "no VastCap API key: set VASTCAPTCHA_API_KEY in your Scrapy settings "
                f"or the {ENV_API_KEY} environment variable"
            ) from None
        detect = tuple(
            kind.strip() for kind in read_setting(settings, "VASTCAPTCHA_DETECT", settings.getlist)
        )
        unknown = sorted(set(detect) - set(DETECTABLE_KINDS))
        if unknown:
            raise ConfigurationError(
                f"VASTCAPTCHA_DETECT has unknown kind(s) {unknown}; "
                f"known: {', '.join(DETECTABLE_KINDS)}"
            )
        poll = settings.get("VASTCAPTCHA_POLL_INTERVAL")
        score = settings.get("VASTCAPTCHA_V3_MIN_SCORE", DEFAULTS["VASTCAPTCHA_V3_MIN_SCORE"])
        config = cls(
            api_key=api_key,
            api_url=resolve_api_url(settings.get("VASTCAPTCHA_API_URL") or None),
            poll_interval=None
            if poll in (None, "")
            else read_setting(settings, "VASTCAPTCHA_POLL_INTERVAL", settings.getfloat),
            timeout=read_setting(settings, "VASTCAPTCHA_TIMEOUT", settings.getfloat),
            http_timeout=read_setting(settings, "VASTCAPTCHA_HTTP_TIMEOUT", settings.getfloat),
            max_concurrent=read_setting(settings, "VASTCAPTCHA_MAX_CONCURRENT", settings.getint),
            max_attempts=read_setting(settings, "VASTCAPTCHA_MAX_ATTEMPTS", settings.getint),
            token_max_age=read_setting(settings, "VASTCAPTCHA_TOKEN_MAX_AGE", settings.getfloat),
            detect=detect,
            v3_min_score=None
            if score in (None, "")
            else read_setting(settings, "VASTCAPTCHA_V3_MIN_SCORE", settings.getfloat),
            forward_proxy=read_setting(settings, "VASTCAPTCHA_FORWARD_PROXY", settings.getbool),
            forward_user_agent=read_setting(
                settings, "VASTCAPTCHA_FORWARD_USER_AGENT", settings.getbool
            ),
            priority_adjust=read_setting(settings, "VASTCAPTCHA_PRIORITY_ADJUST", settings.getint),
            log_interval=read_setting(settings, "VASTCAPTCHA_LOG_INTERVAL", settings.getfloat),
            session_challenges=str(
                settings.get("VASTCAPTCHA_SESSION_CHALLENGES", "auto") or "auto"
            ).lower(),
        )
        if config.session_challenges not in SESSION_POLICIES:
            raise ConfigurationError(
                "VASTCAPTCHA_SESSION_CHALLENGES must be one of "
                f"{', '.join(SESSION_POLICIES)}, got {config.session_challenges!r}"
            )
        # Every comparison with nan is false: checked here, a nan deadline or
        # interval cannot switch itself off later.
        for name in ("timeout", "http_timeout", "token_max_age", "log_interval"):
            check_positive_finite(f"VASTCAPTCHA_{name.upper()}", getattr(config, name))
        for name in ("max_concurrent", "max_attempts"):
            check_positive_int(f"VASTCAPTCHA_{name.upper()}", getattr(config, name))
        if config.poll_interval is not None:
            check_positive_finite("VASTCAPTCHA_POLL_INTERVAL", config.poll_interval)
        if config.v3_min_score is not None and not 0.1 <= config.v3_min_score <= 0.9:
            raise ConfigurationError(
                f"VASTCAPTCHA_V3_MIN_SCORE must be between 0.1 and 0.9, got {config.v3_min_score}"
            )
        return config


def read_setting(settings: BaseSettings, name: str, getter: Callable[..., T]) -> T:
    """``getter(name, default)``, or a :class:`ConfigurationError` naming the setting."""
    try:
        return getter(name, DEFAULTS[name])
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"{name}: cannot use {settings.get(name)!r} ({exc})") from None

"""Solve captchas in Scrapy crawls and Playwright scripts with the VastCap service."""

from __future__ import annotations

from scrapy_vastcaptcha.client import SolveEvent, SolveResult, VastCaptchaClient
from scrapy_vastcaptcha.credentials import ApiKey
from scrapy_vastcaptcha.errors import (
    AccountError,
    ApiError,
    ConfigurationError,
    InvalidTaskError,
    Scope,
    ServiceBusyError,
    SolveTimeoutError,
    TaskFailedError,
    TransportError,
    VastCaptchaError,
)
from scrapy_vastcaptcha.protocol import Pending, Solution
from scrapy_vastcaptcha.schedule import PollSchedule, RetryPolicy
from scrapy_vastcaptcha.tasks import (
    FunCaptchaTask,
    HCaptchaTask,
    ImageToTextTask,
    RecaptchaV2Task,
    RecaptchaV3Task,
    Task,
    TurnstileTask,
)

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    # The Scrapy parts import Scrapy; load them only when asked for, so that
    # the client and the Playwright helper do not pay for it.
    if name == "Addon":
        from scrapy_vastcaptcha.addon import Addon

        return Addon
    if name in ("VastCaptchaMiddleware", "CaptchaError"):
        from scrapy_vastcaptcha import middleware

        return getattr(middleware, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "AccountError",
    "Addon",
    "ApiError",
    "ApiKey",
    "CaptchaError",
    "ConfigurationError",
    "FunCaptchaTask",
    "HCaptchaTask",
    "ImageToTextTask",
    "InvalidTaskError",
    "Pending",
    "PollSchedule",
    "RecaptchaV2Task",
    "RecaptchaV3Task",
    "RetryPolicy",
    "Scope",
    "ServiceBusyError",
    "Solution",
    "SolveEvent",
    "SolveResult",
    "SolveTimeoutError",
    "Task",
    "TaskFailedError",
    "TransportError",
    "TurnstileTask",
    "VastCaptchaClient",
    "VastCaptchaError",
    "VastCaptchaMiddleware",
]

"""Solve captchas in Scrapy crawls and Playwright scripts with the VastCap service.

Names are imported lazily: ``import scrapy_vastcaptcha`` stays cheap for the
emulator and the CLI, and the Scrapy parts load only when used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    "Addon": "scrapy_vastcaptcha.addon",
    "VastCaptchaMiddleware": "scrapy_vastcaptcha.middleware",
    "CaptchaError": "scrapy_vastcaptcha.middleware",
    "VastCaptchaClient": "scrapy_vastcaptcha.client",
    "SolveEvent": "scrapy_vastcaptcha.client",
    "SolveResult": "scrapy_vastcaptcha.client",
    "ApiKey": "scrapy_vastcaptcha.credentials",
    "Pending": "scrapy_vastcaptcha.protocol",
    "Solution": "scrapy_vastcaptcha.protocol",
    "PollSchedule": "scrapy_vastcaptcha.schedule",
    "RetryPolicy": "scrapy_vastcaptcha.schedule",
    **{
        name: "scrapy_vastcaptcha.errors"
        for name in (
            "AccountError",
            "ApiError",
            "ConfigurationError",
            "InvalidTaskError",
            "Scope",
            "ServiceBusyError",
            "SolveTimeoutError",
            "TaskFailedError",
            "TransportError",
            "VastCaptchaError",
        )
    },
    **{
        name: "scrapy_vastcaptcha.tasks"
        for name in (
            "FunCaptchaTask",
            "HCaptchaTask",
            "ImageToTextTask",
            "RecaptchaV2Task",
            "RecaptchaV3Task",
            "Task",
            "TurnstileTask",
        )
    },
}

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


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


if TYPE_CHECKING:
    from scrapy_vastcaptcha.addon import Addon
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
    from scrapy_vastcaptcha.middleware import CaptchaError, VastCaptchaMiddleware
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

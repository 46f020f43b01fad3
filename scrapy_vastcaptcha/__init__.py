"""Solve captchas in Scrapy crawls and Playwright scripts with the VastCap service.

Layers, one folder each: ``api`` (the Scrapy-free VastCap client), the
Scrapy side at this level (add-on, middleware, detection, resubmission),
``playwright`` (the in-browser helper), ``testing`` (the offline kit: server
launchers, pytest fixtures, stand-in widgets), ``emulator`` and ``demo``
(the servers) and ``cli``. Names are imported lazily: ``import
scrapy_vastcaptcha`` stays cheap for the emulator and the CLI, and the
Scrapy parts load only when used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.2.0"

_EXPORTS: dict[str, str] = {
    "Addon": "scrapy_vastcaptcha.addon",
    "VastCaptchaMiddleware": "scrapy_vastcaptcha.middleware",
    "VastCaptchaClient": "scrapy_vastcaptcha.api",
    "SolveEvent": "scrapy_vastcaptcha.api",
    "SolveResult": "scrapy_vastcaptcha.api",
    "ApiKey": "scrapy_vastcaptcha.api",
    "Pending": "scrapy_vastcaptcha.api",
    "Solution": "scrapy_vastcaptcha.api",
    "PollSchedule": "scrapy_vastcaptcha.api",
    "RetryPolicy": "scrapy_vastcaptcha.api",
    **{
        name: "scrapy_vastcaptcha.api"
        for name in (
            "AccountError",
            "BudgetExhaustedError",
            "CaptchaError",
            "ProtocolError",
            "TaskGate",
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
        name: "scrapy_vastcaptcha.api"
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
    "BudgetExhaustedError",
    "CaptchaError",
    "ConfigurationError",
    "FunCaptchaTask",
    "HCaptchaTask",
    "ImageToTextTask",
    "InvalidTaskError",
    "Pending",
    "PollSchedule",
    "ProtocolError",
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
    "TaskGate",
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
    from scrapy_vastcaptcha.api._protocol import Pending, Solution
    from scrapy_vastcaptcha.api._schedule import PollSchedule, RetryPolicy
    from scrapy_vastcaptcha.api.client import SolveEvent, SolveResult, VastCaptchaClient
    from scrapy_vastcaptcha.api.credentials import ApiKey
    from scrapy_vastcaptcha.api.errors import (
        AccountError,
        ApiError,
        BudgetExhaustedError,
        CaptchaError,
        ConfigurationError,
        InvalidTaskError,
        ProtocolError,
        Scope,
        ServiceBusyError,
        SolveTimeoutError,
        TaskFailedError,
        TransportError,
        VastCaptchaError,
    )
    from scrapy_vastcaptcha.api.gate import TaskGate
    from scrapy_vastcaptcha.api.tasks import (
        FunCaptchaTask,
        HCaptchaTask,
        ImageToTextTask,
        RecaptchaV2Task,
        RecaptchaV3Task,
        Task,
        TurnstileTask,
    )
    from scrapy_vastcaptcha.middleware import VastCaptchaMiddleware

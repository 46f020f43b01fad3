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

__all__ = [
    "AccountError",
    "ApiError",
    "ApiKey",
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
]

"""The VastCap API client on Twisted and treq, with no Scrapy in it.

Everything the rest of the package builds on: typed tasks (:mod:`.tasks`),
typed errors (:mod:`.errors`), the key and URL (:mod:`.credentials`), checks
of numeric options (:mod:`.validation`), the spending hook (:mod:`.gate`) and
the client (:mod:`.client`). ``_protocol`` (request bodies and answer parsing)
and ``_schedule`` (polling and retry plans) are I/O-free internals; their
public values are re-exported here. This package never imports Scrapy and
could be published on its own.

The client is imported lazily: importing the task model or the errors does
not load Twisted.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from scrapy_vastcaptcha.api._protocol import Pending, Solution
from scrapy_vastcaptcha.api._schedule import PollSchedule, RetryPolicy
from scrapy_vastcaptcha.api.credentials import ApiKey
from scrapy_vastcaptcha.api.errors import (
    AccountError,
    ApiError,
    ApiRedirectError,
    BudgetExhaustedError,
    CaptchaError,
    ConfigurationError,
    InvalidTaskError,
    ProtocolError,
    Scope,
    ServiceBusyError,
    SolveTimeoutError,
    TaskFailedError,
    TlsError,
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
from scrapy_vastcaptcha.api.validation import check_positive_finite, check_positive_int

_LAZY = ("SolveEvent", "SolveResult", "VastCaptchaClient")

__all__ = [
    "AccountError",
    "ApiError",
    "ApiKey",
    "ApiRedirectError",
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
    "TlsError",
    "TransportError",
    "TurnstileTask",
    "VastCaptchaClient",
    "VastCaptchaError",
    "check_positive_finite",
    "check_positive_int",
]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module("scrapy_vastcaptcha.api.client"), name)


if TYPE_CHECKING:
    from scrapy_vastcaptcha.api.client import SolveEvent, SolveResult, VastCaptchaClient

"""The VastCap wire format: error codes and the two error envelope styles."""

from __future__ import annotations

from typing import Any

from .config import ErrorStyle

ERROR_DESCRIPTIONS: dict[str, str] = {
    "ERROR_KEY_DOES_NOT_EXIST": "Invalid API key",
    "ERROR_IP_NOT_ALLOWED": "Requests from this IP address are not allowed for this key",
    "ERROR_ACCOUNT_DISABLED": "The account is disabled",
    "ERROR_IP_BANNED": "This IP address is banned",
    "ERROR_INSUFFICIENT_BALANCE": "Insufficient balance",
    "ERROR_CAPTCHA_UNSOLVABLE": "The captcha could not be solved",
    "ERROR_TASK_NOT_FOUND": "Task not found",
    "ERROR_VALIDATION_FAILED": "Validation failed",
    "ERROR_NO_SLOT_AVAILABLE": "No slot available, try again later",
    "ERROR_PROXY_CONNECTION_FAILED": "Proxy connection failed",
    # the emulator's own codes for requests that reach no API method (the
    # service documents none; anti-captcha-style peers use ERROR_NO_SUCH_METHOD)
    "ERROR_NO_SUCH_METHOD": "No such API method",
    "ERROR_METHOD_NOT_ALLOWED": "API methods only accept POST",
}


class ApiError(Exception):
    """An API call answered with ``code``; ``description`` defaults to the standard text."""

    def __init__(self, code: str, description: str | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.description = description or ERROR_DESCRIPTIONS.get(code, code)

    def error_object(self) -> dict[str, Any]:
        """The ``{"errorId", "errorCode", "errorDescription"}`` triple."""
        return {"errorId": 1, "errorCode": self.code, "errorDescription": self.description}


def error_body(error: ApiError, style: ErrorStyle) -> dict[str, Any]:
    """A whole response body reporting ``error`` in the configured style."""
    if style == "flat":
        return error.error_object()
    return {"error": error.error_object()}


def success_body(data: dict[str, Any], style: ErrorStyle) -> dict[str, Any]:
    """A success body; the peer ("flat") style marks success with ``errorId: 0``."""
    if style == "flat":
        return {"errorId": 0, **data}
    return data


def task_failure_body(error: ApiError, status: str, style: ErrorStyle) -> dict[str, Any]:
    """getTaskResult for a failed task: ``status`` is "failed" or "error" (both are seen)."""
    if style == "flat":
        return error.error_object()
    return {"status": status, "error": error.error_object()}

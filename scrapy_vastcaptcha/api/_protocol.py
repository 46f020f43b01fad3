"""The VastCap wire protocol without I/O: request bodies in, parsed answers out.

Parsing is defensive (see the reference notes): an error is recognised in the
nested ``error`` object, in a top-level ``errorId`` > 0, or in a ``failed`` /
``error`` status; an unknown status means "still working"; a body that is not
a JSON object is a transient transport failure.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from scrapy_vastcaptcha.api.credentials import ApiKey
from scrapy_vastcaptcha.api.errors import EMPTY_SOLUTION, ApiError, TransportError, api_error
from scrapy_vastcaptcha.api.tasks import ImageToTextTask, Task

CREATE_TASK = "createTask"
GET_TASK_RESULT = "getTaskResult"
GET_BALANCE = "getBalance"

#: Where a token may arrive, most specific first. ``hCaptchaResponse`` and
#: ``turnstileResponse`` are what the official SDK reads; accepting them
#: costs nothing should the service ever send them.
_TOKEN_FIELDS = (
    "gRecaptchaResponse",
    "token",
    "hCaptchaResponse",
    "turnstileResponse",
    "captchaToken",
)


def encode(body: Mapping[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode("utf-8")


def create_task_body(key: ApiKey, task: Task) -> bytes:
    return encode({"clientKey": key.reveal(), "task": task.payload()})


def task_result_body(key: ApiKey, task_id: str) -> bytes:
    return encode({"clientKey": key.reveal(), "taskId": task_id})


def balance_body(key: ApiKey) -> bytes:
    return encode({"clientKey": key.reveal()})


@dataclass(frozen=True)
class Solution:
    """A solved task. ``token`` is set for token captchas whatever field it
    came in, ``text`` for image captchas; ``raw`` is the solution as sent."""

    token: str | None = None
    text: str | None = None
    score: float | None = None
    user_agent: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)

    @property
    def value(self) -> str:
        """The token, or the text of an image captcha."""
        return self.token or self.text or ""


@dataclass(frozen=True)
class Pending:
    """The task is still being solved; ``status`` is what the service said."""

    status: str


def decode(body: bytes, method: str) -> dict[str, Any]:
    """The JSON object in ``body``; anything else is a transient failure."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        snippet = body[:80].decode("utf-8", "replace")
        raise TransportError(f"malformed response body {snippet!r}", method=method) from None
    if not isinstance(data, dict):
        raise TransportError(f"response is not a JSON object: {type(data).__name__}", method=method)
    return data


def _str(value: Any) -> str:
    return value if isinstance(value, str) else "" if value is None else str(value)


def find_error(data: Mapping[str, Any], method: str) -> ApiError | None:
    """The error an answer carries, in either envelope, or ``None``."""
    nested = data.get("error")
    if isinstance(nested, Mapping):
        code = _str(nested.get("errorCode")) or "ERROR_UNKNOWN"
        return api_error(code, _str(nested.get("errorDescription")), method=method)
    if isinstance(nested, str) and nested:
        # Some peers put a bare code string in "error".
        return api_error(nested, _str(data.get("errorDescription")), method=method)
    error_id = data.get("errorId")
    if isinstance(error_id, (int, float)) and not isinstance(error_id, bool) and error_id > 0:
        code = _str(data.get("errorCode")) or "ERROR_UNKNOWN"
        return api_error(code, _str(data.get("errorDescription")), method=method)
    if _str(data.get("status")).lower() in ("failed", "error"):
        code = _str(data.get("errorCode")) or "ERROR_UNKNOWN"
        return api_error(code, _str(data.get("errorDescription")), method=method)
    return None


def parse_create_task(body: bytes) -> str:
    """The new task's id (an opaque string; peers send integers)."""
    data = decode(body, CREATE_TASK)
    error = find_error(data, CREATE_TASK)
    if error is not None:
        raise error
    task_id = data.get("taskId")
    if isinstance(task_id, bool) or not isinstance(task_id, (str, int)) or task_id == "":
        raise TransportError("createTask answer has no taskId", method=CREATE_TASK)
    return str(task_id)


def parse_solution(raw: Mapping[str, Any]) -> Solution:
    token = next((raw[f] for f in _TOKEN_FIELDS if isinstance(raw.get(f), str) and raw[f]), None)
    text = raw.get("text")
    score = raw.get("score")
    user_agent = raw.get("userAgent")
    return Solution(
        token=token,
        text=str(text) if isinstance(text, (str, int)) and str(text) else None,
        score=float(score)
        if isinstance(score, (int, float)) and not isinstance(score, bool)
        else None,
        user_agent=user_agent if isinstance(user_agent, str) and user_agent else None,
        raw=dict(raw),
    )


def parse_task_result(body: bytes, task: Task | None = None) -> Solution | Pending:
    """What a ``getTaskResult`` answer means. With ``task`` given, a ready
    answer lacking the field that task needs raises ``ERROR_EMPTY_SOLUTION``
    (worth a new task) instead of handing back an empty token."""
    data = decode(body, GET_TASK_RESULT)
    error = find_error(data, GET_TASK_RESULT)
    if error is not None:
        raise error
    status = _str(data.get("status")).lower()
    if status != "ready":
        # "processing", "idle", "queued" or anything new: keep polling; the
        # deadline and poll cap bound how long.
        return Pending(status or "unknown")
    raw = data.get("solution")
    solution = parse_solution(raw if isinstance(raw, Mapping) else {})
    wanted = solution.text if isinstance(task, ImageToTextTask) else solution.token
    if not (wanted if task is not None else solution.value):
        raise api_error(
            EMPTY_SOLUTION, "status is ready but the solution is empty", method=GET_TASK_RESULT
        )
    return solution


def parse_balance(body: bytes) -> float:
    data = decode(body, GET_BALANCE)
    error = find_error(data, GET_BALANCE)
    if error is not None:
        raise error
    balance = data.get("balance")
    if isinstance(balance, str):
        try:
            return float(balance)
        except ValueError:
            pass
    if isinstance(balance, (int, float)) and not isinstance(balance, bool):
        return float(balance)
    raise TransportError("getBalance answer has no numeric balance", method=GET_BALANCE)

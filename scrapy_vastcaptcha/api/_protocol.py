"""The VastCap wire protocol without I/O: request bodies in, parsed answers out.

Parsing is defensive (see the reference notes): an error is recognised in the
nested ``error`` object, in a top-level ``errorId`` other than 0 (whatever its
JSON type: ``1``, ``"1"``, ``true``), or in a ``failed`` / ``error`` status; an
unknown status means "still working" (the caller's deadline bounds it); a body
that is not a JSON object, holds NaN or infinity, or nests deeper than the
parser allows is a :class:`ProtocolError`.

Given the key, every string decoded from an answer is scrubbed of it: a
service may echo the key JSON-escaped (``\\u0076astCap_...``), which no
scrubbing of the raw bytes can see.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from scrapy_vastcaptcha.api.credentials import ApiKey
from scrapy_vastcaptcha.api.errors import EMPTY_SOLUTION, ApiError, ProtocolError, api_error
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
#: Task ids are UUIDs (peers: integers); a longer one is not an id but junk
#: that would be sent back on every poll.
_MAX_TASK_ID = 200
#: Statuses are short words; longer text is cut before it reaches events and logs.
_MAX_STATUS = 40


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


def decode(body: bytes, method: str, key: ApiKey | None = None) -> dict[str, Any]:
    """The JSON object in ``body``, with ``key`` scrubbed from every string in
    it; anything else is a :class:`ProtocolError`."""
    try:
        data = json.loads(body, parse_constant=_refuse_constant)
    except RecursionError:
        raise ProtocolError("response nests too deep", method=method) from None
    except (ValueError, UnicodeDecodeError):
        snippet = body[:80].decode("utf-8", "replace")
        if key is not None:
            snippet = key.scrub(snippet)
        raise ProtocolError(f"malformed response body {snippet!r}", method=method) from None
    if not isinstance(data, dict):
        raise ProtocolError(f"response is not a JSON object: {type(data).__name__}", method=method)
    if key is not None and b"\\" in body:
        # Without a backslash every string was scrubbed with the raw bytes.
        try:
            data = dict(_scrubbed(data, key))
        except RecursionError:
            raise ProtocolError("response nests too deep", method=method) from None
    return data


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


def _scrubbed(value: Any, key: ApiKey) -> Any:
    if isinstance(value, str):
        return key.scrub(value)
    if isinstance(value, dict):
        return {key.scrub(k): _scrubbed(v, key) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrubbed(v, key) for v in value]
    return value


def _str(value: Any) -> str:
    return value if isinstance(value, str) else "" if value is None else str(value)


def _code(value: Any) -> str:
    return _str(value).strip().upper() or "ERROR_UNKNOWN"


def _is_error_id(value: Any) -> bool:
    """Whether a top-level ``errorId`` says "error": anything but 0, ``"0"``,
    ``false``, ``null`` or an empty string (peers send ints, some send strings)."""
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, (int, float)):
        return value != 0
    if isinstance(value, str):
        text = value.strip()
        try:
            return bool(text) and float(text) != 0
        except ValueError:
            return True
    return True


def find_error(data: Mapping[str, Any], method: str) -> ApiError | None:
    """The error an answer carries, in either envelope, or ``None``."""
    nested = data.get("error")
    if isinstance(nested, Mapping):
        return api_error(
            _code(nested.get("errorCode")), _str(nested.get("errorDescription")), method=method
        )
    if isinstance(nested, str) and nested.strip():
        # Some peers put a bare code string in "error".
        return api_error(_code(nested), _str(data.get("errorDescription")), method=method)
    status = data.get("status")
    if _is_error_id(data.get("errorId")) or (
        isinstance(status, str) and status.strip().lower() in ("failed", "error")
    ):
        return api_error(
            _code(data.get("errorCode")), _str(data.get("errorDescription")), method=method
        )
    return None


def parse_create_task(body: bytes, *, key: ApiKey | None = None) -> str:
    """The new task's id (an opaque string; peers send integers)."""
    data = decode(body, CREATE_TASK, key)
    error = find_error(data, CREATE_TASK)
    if error is not None:
        raise error
    task_id = data.get("taskId")
    if isinstance(task_id, int) and not isinstance(task_id, bool):
        task_id = str(task_id)
    if not isinstance(task_id, str) or not task_id.strip():
        raise ProtocolError("createTask answer has no taskId", method=CREATE_TASK)
    if len(task_id) > _MAX_TASK_ID or not task_id.isprintable():
        raise ProtocolError(
            f"createTask answer has a malformed taskId ({len(task_id)} characters)",
            method=CREATE_TASK,
        )
    return task_id.strip()


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


def parse_task_result(
    body: bytes, task: Task | None = None, *, key: ApiKey | None = None
) -> Solution | Pending:
    """What a ``getTaskResult`` answer means. With ``task`` given, a ready
    answer lacking the field that task needs raises ``ERROR_EMPTY_SOLUTION``
    (worth a new task) instead of handing back an empty token."""
    data = decode(body, GET_TASK_RESULT, key)
    error = find_error(data, GET_TASK_RESULT)
    if error is not None:
        raise error
    raw_status = data.get("status")
    status = raw_status.strip().lower()[:_MAX_STATUS] if isinstance(raw_status, str) else ""
    if status != "ready":
        # "processing", "idle", "queued", null, 42 or anything new: keep
        # polling; the solve deadline and poll cap bound how long.
        return Pending(status or "unknown")
    raw = data.get("solution")
    solution = parse_solution(raw if isinstance(raw, Mapping) else {})
    wanted = solution.text if isinstance(task, ImageToTextTask) else solution.token
    if not (wanted if task is not None else solution.value):
        raise api_error(
            EMPTY_SOLUTION, "status is ready but the solution is empty", method=GET_TASK_RESULT
        )
    return solution


def parse_balance(body: bytes, *, key: ApiKey | None = None) -> float:
    """The balance in USD: a finite number (NaN or infinity would poison
    every comparison a budget makes with it)."""
    data = decode(body, GET_BALANCE, key)
    error = find_error(data, GET_BALANCE)
    if error is not None:
        raise error
    balance = data.get("balance")
    value: float | None = None
    try:
        if isinstance(balance, str):
            value = float(balance.strip())
        elif isinstance(balance, (int, float)) and not isinstance(balance, bool):
            value = float(balance)
    except (ValueError, OverflowError):
        value = None
    if value is None or not math.isfinite(value):
        raise ProtocolError("getBalance answer has no finite numeric balance", method=GET_BALANCE)
    return value

"""Checks on a createTask ``task`` object, one rule per field, as the service documents them.

Documented fields are type-checked per task type; any other field is kept as
sent and otherwise ignored, as JSON APIs do with keys they do not know. That
includes the invisible flag under the other type's spelling: reCAPTCHA v2
reads ``isInvisible``, hCaptcha and Turnstile read ``invisible``, and the
emulator reports which one it understood (:attr:`TaskSpec.invisible`).

Where the service publishes nothing, the emulator decides (and says so here):
a ``type`` other than the six documented ones (the peers' ``...Proxyless``
names included) is refused; ``websiteURL`` must be an absolute http(s) URL and
``websiteKey`` a non-blank string of any form (test sites use their own keys);
``minScore`` must lie in 0.1..0.9 (the scores v3 gives); ``proxy`` must be
exactly ``login:password@host:port`` (the one documented form: no scheme, no
bare ``host:port``, the host a name, an IPv4 address or a bracketed IPv6
address); an image ``body`` must be plain standard base64 (no ``data:``
prefix, no line breaks or spaces, padded).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

# task type -> token family; image tasks produce text, not a token
TASK_FAMILIES: dict[str, str | None] = {
    "RecaptchaV2Task": "recaptcha",
    "RecaptchaV3Task": "recaptcha",
    "HCaptchaTask": "hcaptcha",
    "TurnstileTask": "turnstile",
    "FunCaptchaTask": "funcaptcha",
    "ImageToTextTask": None,
}

MIN_SCORE_RANGE = (0.1, 0.9)

# login:password@host:port, as documented; the password may hold ":" but not "@"
_PROXY = re.compile(
    r"[^:@/\s]+:[^@/\s]+@(?P<host>[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]):(?P<port>\d{1,5})"
)
# the field each task type reads its invisible flag from
INVISIBLE_FLAGS: dict[str, str] = {
    "RecaptchaV2Task": "isInvisible",
    "HCaptchaTask": "invisible",
    "TurnstileTask": "invisible",
}


class TaskValidationError(ValueError):
    """The task cannot be accepted; the message names the offending field."""


@dataclasses.dataclass(frozen=True)
class TaskSpec:
    """A validated task: its type, token family and the fields as sent.

    ``proxy_host`` is the host of the task's proxy (None without one).
    """

    type: str
    family: str | None
    fields: dict[str, Any]
    image: bytes | None = None
    proxy_host: str | None = None

    @property
    def invisible(self) -> bool | None:
        """The invisible flag as this type reads it; None for types without one."""
        flag = INVISIBLE_FLAGS.get(self.type)
        return None if flag is None else self.fields.get(flag) is True


def _is_bool(value: object) -> bool:
    return isinstance(value, bool)


def _is_str(value: object) -> bool:
    return isinstance(value, str)


def _is_object(value: object) -> bool:
    return isinstance(value, dict)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


_TYPE_NAMES: dict[Callable[[object], bool], str] = {
    _is_bool: "a boolean",
    _is_str: "a string",
    _is_object: "an object",
    _is_number: "a number",
}

# optional fields with a documented type; others are accepted as sent
_COMMON_FIELDS: dict[str, Callable[[object], bool]] = {
    "proxy": _is_str,
    "userAgent": _is_str,
}
_TYPE_FIELDS: dict[str, dict[str, Callable[[object], bool]]] = {
    "RecaptchaV2Task": {
        "isInvisible": _is_bool,
        "isEnterprise": _is_bool,
        "enterprisePayload": _is_object,
    },
    "RecaptchaV3Task": {
        "pageAction": _is_str,
        "minScore": _is_number,
        "isEnterprise": _is_bool,
        "enterprisePayload": _is_object,
    },
    "HCaptchaTask": {"invisible": _is_bool, "enterprise": _is_bool, "rqdata": _is_str},
    "TurnstileTask": {
        "invisible": _is_bool,
        "action": _is_str,
        "cData": _is_str,
        "chlPageData": _is_str,
    },
    "FunCaptchaTask": {"data": _is_object},
    "ImageToTextTask": {},
}


def _require_site(task: Mapping[str, Any]) -> None:
    url = task.get("websiteURL")
    if url is None:
        raise TaskValidationError("task.websiteURL is missing")
    if not isinstance(url, str):
        raise TaskValidationError("task.websiteURL must be a string")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise TaskValidationError(f"task.websiteURL must be an http(s) URL, got {url!r}")
    key = task.get("websiteKey")
    if key is None:
        raise TaskValidationError("task.websiteKey is missing")
    if not isinstance(key, str) or not key.strip():
        raise TaskValidationError("task.websiteKey must be a non-empty string")


def _proxy_host(proxy: str) -> str:
    match = _PROXY.fullmatch(proxy)
    if match is None or not 1 <= int(match["port"]) <= 65535:
        # the value itself is not repeated: it holds a password
        raise TaskValidationError("task.proxy must be login:password@host:port without a scheme")
    return match["host"].strip("[]").lower()


def _check_min_score(score: float) -> None:
    low, high = MIN_SCORE_RANGE
    if not low <= score <= high:
        raise TaskValidationError(f"task.minScore must be between {low} and {high}, got {score}")


def _check_funcaptcha_data(data: Mapping[str, Any]) -> None:
    if "blob" in data and not isinstance(data["blob"], str):
        raise TaskValidationError("task.data.blob must be a string")
    cookies = data.get("custom_cookies")
    if cookies is not None and not isinstance(cookies, dict):
        raise TaskValidationError("task.data.custom_cookies must be an object")


def _decode_image(body: object) -> bytes:
    if body is None:
        raise TaskValidationError("task.body is missing")
    if not isinstance(body, str) or not body:
        raise TaskValidationError("task.body must be a non-empty base64 string")
    if body.startswith("data:"):
        raise TaskValidationError("task.body must be plain base64 without a data: prefix")
    try:
        image = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise TaskValidationError("task.body is not valid base64") from exc
    if not image:
        raise TaskValidationError("task.body decodes to an empty image")
    return image


def validate_task(task: object) -> TaskSpec:
    """Check a createTask ``task`` object; raise :class:`TaskValidationError` naming the field."""
    if not isinstance(task, dict):
        raise TaskValidationError("task is missing or not an object")
    task_type = task.get("type")
    if task_type is None:
        raise TaskValidationError("task.type is missing")
    if not isinstance(task_type, str) or task_type not in TASK_FAMILIES:
        known = ", ".join(TASK_FAMILIES)
        raise TaskValidationError(f"task.type {task_type!r} is not supported; known: {known}")
    fields = {name: value for name, value in task.items() if name != "clientKey"}
    for name, check in {**_COMMON_FIELDS, **_TYPE_FIELDS[task_type]}.items():
        if name in fields and not check(fields[name]):
            raise TaskValidationError(f"task.{name} must be {_TYPE_NAMES[check]}")
    family = TASK_FAMILIES[task_type]
    image = None
    if family is None:
        image = _decode_image(fields.get("body"))
    else:
        _require_site(fields)
    proxy_host = _proxy_host(fields["proxy"]) if "proxy" in fields else None
    if task_type == "RecaptchaV3Task" and "minScore" in fields:
        _check_min_score(fields["minScore"])
    if task_type == "FunCaptchaTask" and "data" in fields:
        _check_funcaptcha_data(fields["data"])
    return TaskSpec(task_type, family, fields, image, proxy_host)

"""Typed errors, and what each VastCap error code means for the caller.

Every failure is sorted into one :class:`Scope`, which decides what happens next:

* ``RUN``: nothing more can succeed with this key (bad key, no balance, ...).
  Stop creating tasks at once; in Scrapy the spider is closed.
* ``TASK``: this task cannot succeed as given (bad fields, task id unknown).
  Do not retry it; other tasks are unaffected.
* ``NEW_TASK``: the task failed but a fresh one may succeed (unsolvable,
  proxy failure, a "ready" answer without a usable solution).
* ``RETRY``: the call itself failed transiently (5xx, connection reset,
  garbled body, no free worker); repeat the same call after a backoff.
"""

from __future__ import annotations

import enum


class Scope(enum.Enum):
    RUN = "fatal for the run"
    TASK = "fatal for the task"
    NEW_TASK = "retry with a new task"
    RETRY = "retry the call"


# Codes documented by VastCap or used by its SDK, plus the peers' spellings of
# the same conditions (anti-captcha style services), so that a service update
# that borrows a peer's code is still classified sensibly.
_SCOPES: dict[str, Scope] = {
    "ERROR_KEY_DOES_NOT_EXIST": Scope.RUN,
    "ERROR_WRONG_USER_KEY": Scope.RUN,
    "ERROR_IP_NOT_ALLOWED": Scope.RUN,
    "ERROR_IP_BANNED": Scope.RUN,
    "ERROR_ACCOUNT_DISABLED": Scope.RUN,
    "ERROR_ACCOUNT_SUSPENDED": Scope.RUN,
    "ERROR_INSUFFICIENT_BALANCE": Scope.RUN,
    "ERROR_ZERO_BALANCE": Scope.RUN,
    "ERROR_VALIDATION_FAILED": Scope.TASK,
    "ERROR_TASK_NOT_FOUND": Scope.TASK,
    "ERROR_TASK_ABSENT": Scope.TASK,
    "ERROR_TASK_NOT_SUPPORTED": Scope.TASK,
    "ERROR_NO_SUCH_CAPCHA_ID": Scope.TASK,
    "ERROR_RECAPTCHA_INVALID_SITEKEY": Scope.TASK,
    "ERROR_CAPTCHA_UNSOLVABLE": Scope.NEW_TASK,
    "ERROR_PROXY_CONNECTION_FAILED": Scope.NEW_TASK,
    "ERROR_EMPTY_SOLUTION": Scope.NEW_TASK,
    "ERROR_NO_SLOT_AVAILABLE": Scope.RETRY,
    "ERROR_TOO_MUCH_REQUESTS": Scope.RETRY,
}

#: Synthetic code for a "ready" answer that carries no usable solution.
EMPTY_SOLUTION = "ERROR_EMPTY_SOLUTION"


def classify(code: str) -> Scope:
    """Scope of an error code. Unknown codes are fatal for the task: retrying
    an error we do not understand could spend money in a loop."""
    return _SCOPES.get(code, Scope.TASK)


class VastCaptchaError(Exception):
    """Base class of every error this package raises."""


class ConfigurationError(VastCaptchaError):
    """The client cannot be used as configured (no key, unsafe URL, ...)."""


class InvalidTaskError(VastCaptchaError, ValueError):
    """A task was built with missing or malformed fields; nothing was sent."""

    code = "INVALID_TASK"


class ApiError(VastCaptchaError):
    """The service answered with an error code."""

    def __init__(self, code: str, description: str = "", *, method: str = "") -> None:
        self.code = code
        self.description = description
        self.method = method
        self.scope = classify(code)
        where = f"{method}: " if method else ""
        detail = f" ({description})" if description else ""
        super().__init__(f"{where}{code}{detail}")


class AccountError(ApiError):
    """Fatal for the whole run: the key, IP, account or balance is unusable.
    No further task should be created with this key."""


class TaskFailedError(ApiError):
    """This task failed and retrying it (or a new one) will not help, or the
    allowed number of fresh tasks was used up."""


class TransportError(VastCaptchaError):
    """The call failed below the API level (HTTP 5xx, connection, timeout,
    malformed body) more times in a row than the retry policy allows."""

    def __init__(self, message: str, *, method: str = "") -> None:
        self.method = method
        self.code = "TRANSPORT_ERROR"
        super().__init__(f"{method}: {message}" if method else message)


class ServiceBusyError(ApiError):
    """The service kept answering "no slot available" past the retry policy."""


class SolveTimeoutError(VastCaptchaError):
    """The overall deadline or the poll cap for one solve was reached."""

    code = "SOLVE_TIMEOUT"


def api_error(code: str, description: str = "", *, method: str = "") -> ApiError:
    """The :class:`ApiError` subclass that matches the code's scope."""
    scope = classify(code)
    cls: type[ApiError]
    if scope is Scope.RUN:
        cls = AccountError
    elif scope is Scope.RETRY:
        cls = ServiceBusyError
    else:
        cls = TaskFailedError
    return cls(code, description, method=method)


def error_code(exc: BaseException) -> str:
    """A short, stable code for any failure, for stats and CLI exit messages."""
    code = getattr(exc, "code", None)
    return code if isinstance(code, str) else type(exc).__name__

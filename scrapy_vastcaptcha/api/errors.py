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
    # The API URL names no method of the service (peers' code; the emulator
    # answers so), or the service refuses us before reading the body: every
    # call would fail alike, so the run stops instead of failing each task.
    "ERROR_NO_SUCH_METHOD": Scope.RUN,
    "ERROR_METHOD_NOT_ALLOWED": Scope.RUN,
    "HTTP_401": Scope.RUN,
    "HTTP_403": Scope.RUN,
    "HTTP_404": Scope.RUN,
    "HTTP_405": Scope.RUN,
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
    """Base class of every error this package raises.

    Every instance carries ``code`` (a short stable string for stats and exit
    messages), ``scope`` (what the caller should do next) and
    ``tasks_created``: how many tasks the failed :meth:`solve` call may have
    been billed for (0 for errors raised outside a solve), so a caller can
    charge its own budget.
    """

    #: Class-level defaults; each instance gets its own copies.
    code: str = "VASTCAPTCHA_ERROR"
    scope: Scope = Scope.TASK

    def __init__(self, *args: object, code: str | None = None) -> None:
        super().__init__(*args)
        # Instance attributes, also where a subclass sets ``code`` on the class
        # or on the instance before calling this.
        self.code = code if code is not None else self.__dict__.get("code", type(self).code)
        self.scope = self.__dict__.get("scope", type(self).scope)
        self.tasks_created = 0


class ConfigurationError(VastCaptchaError, ValueError):
    """The client cannot be used as configured (no key, unsafe URL, a timeout
    that is not a positive finite number, ...). Nothing this client does can
    succeed until the configuration changes, so the scope is ``RUN``."""

    code = "CONFIGURATION_ERROR"
    scope = Scope.RUN


class ApiRedirectError(ConfigurationError):
    """The API answered with a redirect. Redirects are never followed (the
    key is in the body, and a POST must not be replayed elsewhere): the API
    URL is wrong or the service moved."""

    code = "API_REDIRECT"

    def __init__(self, message: str, *, location: str) -> None:
        super().__init__(message)
        self.location = location


class TlsError(ConfigurationError):
    """The TLS handshake with the API failed (untrusted or mismatched
    certificate, protocol mismatch). Not transient: retrying cannot fix a
    certificate, and the key must not go to a host that cannot prove who it is."""

    code = "TLS_ERROR"

    def __init__(self, message: str, *, host: str) -> None:
        super().__init__(message)
        self.host = host


class InvalidTaskError(VastCaptchaError, ValueError):
    """A task was built with missing or malformed fields; nothing was sent."""

    code = "INVALID_TASK"


class ApiError(VastCaptchaError):
    """The service answered with an error code."""

    def __init__(self, code: str, description: str = "", *, method: str = "") -> None:
        where = f"{method}: " if method else ""
        detail = f" ({description})" if description else ""
        super().__init__(f"{where}{code}{detail}", code=code)
        self.description = description
        self.method = method
        self.scope = classify(code)


class AccountError(ApiError):
    """Fatal for the whole run: the key, IP, account or balance is unusable.
    No further task should be created with this key."""


class TaskFailedError(ApiError):
    """This task failed and retrying it (or a new one) will not help, or the
    allowed number of fresh tasks was used up."""


class TransportError(VastCaptchaError):
    """The call failed below the API level (HTTP 5xx, connection, timeout,
    malformed body) more times in a row than the retry policy allows."""

    code = "TRANSPORT_ERROR"
    scope = Scope.RETRY

    def __init__(self, message: str, *, method: str = "", code: str | None = None) -> None:
        super().__init__(f"{method}: {message}" if method else message, code=code)
        self.method = method


class ProtocolError(TransportError):
    """The service answered something this client cannot use: not a JSON
    object, nested too deep, larger than
    :data:`~scrapy_vastcaptcha.api.client.MAX_ANSWER_BYTES`, a createTask
    answer without a task id, a balance that is not a finite number."""

    code = "PROTOCOL_ERROR"


class ServiceBusyError(ApiError):
    """The service kept answering "no slot available" past the retry policy."""


class SolveTimeoutError(VastCaptchaError):
    """The overall deadline or the poll cap for one solve was reached."""

    code = "SOLVE_TIMEOUT"
    scope = Scope.NEW_TASK


class BudgetExhaustedError(VastCaptchaError):
    """A spending limit refused another task (raised by a
    :class:`~scrapy_vastcaptcha.api.gate.TaskGate`). Fatal for the run, like
    an account error: no further task may be created."""

    code = "BUDGET_EXHAUSTED"
    scope = Scope.RUN

    def __init__(
        self, message: str, *, code: str | None = None, reason: str = "vastcaptcha_budget_exhausted"
    ) -> None:
        super().__init__(message, code=code)
        #: A spider close reason for the run this error stops.
        self.reason = reason


class NoFormError(VastCaptchaError):
    """There is nowhere to put the token: no form holds the widget."""

    code = "NO_FORM"


class CaptchaError(VastCaptchaError):
    """Delivered to a request's errback when its captcha could not be handled.

    ``code`` is the VastCap error code (``ERROR_CAPTCHA_UNSOLVABLE``...) or one
    of ours: ``MAX_ATTEMPTS`` (the site kept showing a captcha),
    ``TOO_MANY_CAPTCHAS``, ``NO_FORM``, ``INVALID_TASK`` (bad meta or widget
    data), ``NOT_HTML``, ``NO_IMAGE``, ``IMAGE_DOWNLOAD``, ``SOLVE_TIMEOUT``,
    ``TRANSPORT_ERROR``, ``PROTOCOL_ERROR``, ``CONNECTION_FAILED``.
    """

    def __init__(self, code: str, message: str) -> None:
        self.message = message
        super().__init__(f"{code}: {message}", code=code)


# -- the in-browser helper (scrapy_vastcaptcha.playwright) --------------------


class BrowserCaptchaError(VastCaptchaError):
    """A captcha in the browser could not be handled (not the solver's fault)."""

    code = "BROWSER_ERROR"


class WidgetNotReadyError(BrowserCaptchaError):
    """The widget was declared but its script never rendered it within ``wait``;
    nothing was spent on it."""

    code = "WIDGET_NOT_READY"


class InjectionError(BrowserCaptchaError):
    """The token was solved but could not be put into the widget (the frame
    navigated, the widget vanished, or its field did not keep the value)."""

    code = "INJECTION_FAILED"


class ImageCaptureError(BrowserCaptchaError):
    """The image of an image captcha could not be read from the page."""

    code = "IMAGE_CAPTURE_FAILED"


class ReactorMismatchError(ConfigurationError):
    """The installed Twisted reactor cannot run on the current asyncio loop."""

    code = "REACTOR_MISMATCH"


class TooManyCaptchasError(BrowserCaptchaError):
    """Auto mode met more widgets in one page than its cap allows; the rest
    were not solved (nothing was spent on them)."""

    code = "TOO_MANY_CAPTCHAS"


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

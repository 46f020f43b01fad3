"""twisted.web resources that put :class:`EmulatorState` on HTTP.

URL layout (all bodies JSON):

- ``POST /api/solver/{createTask,getTaskResult,getBalance}``: the VastCap API.
- ``POST /siteverify``: token check for sites (form-encoded or JSON).
- ``/_emulator/...``: control API for tests and benchmarks
  (``POST reset``, ``GET|POST config``, ``GET stats``, ``GET tasks``, ``POST accounts``).

The API answers HTTP 200 with ``application/json`` whether the call succeeded
or not, the error being in the body, as the service's clients expect. Where
the service documents nothing, the emulator answers as follows, its bodies in
the configured error style:

- The body is read as JSON whatever ``Content-Type`` says (clients that send
  no such header, or ``text/plain``, are served); a body that is not a JSON
  object is ``ERROR_VALIDATION_FAILED`` (HTTP 200).
- Any other verb than POST on an API method: HTTP 405, ``Allow: POST``,
  ``ERROR_METHOD_NOT_ALLOWED``.
- A path that names no method or endpoint (``/api/solver/nope``,
  ``/api/solver``, ``/``): HTTP 404, ``ERROR_NO_SUCH_METHOD`` (the code of the
  anti-captcha-style peers). A trailing slash after a method name is accepted.
- Neither counts as a call in the stats: no API method was reached.
- Transport faults (``http_5xx``, ``malformed``, ``drop``, ``slow``) are
  drawn per call before the body is read.
"""

# twisted.web's Request, Resource and Site are not annotated; every call into them
# would need its own ignore.
# mypy: disable-error-code="no-untyped-call"

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, Protocol, cast

from twisted.internet.defer import Deferred, succeed
from twisted.python.failure import Failure
from twisted.web.error import UnsupportedMethod
from twisted.web.resource import IResource, Resource
from twisted.web.server import NOT_DONE_YET, Request, Site

from .config import API_METHODS, EmulatorConfig
from .protocol import ApiError, error_body
from .state import ACCOUNT_FIELDS, EmulatorState, FaultPlan

API_PATH = b"/api/solver"


# Structural stand-ins for the zope interfaces of the reactor, which mypy cannot
# check without a plugin.
class _DelayedCall(Protocol):
    def active(self) -> bool: ...
    def cancel(self) -> None: ...


class _Scheduler(Protocol):
    def callLater(self, delay: float, fn: Callable[[], None]) -> _DelayedCall: ...


class _ListeningPort(Protocol):
    def getHost(self) -> Any: ...
    def stopListening(self) -> Deferred[None] | None: ...


class _Reactor(_Scheduler, Protocol):
    def listenTCP(self, port: int, factory: Site, interface: str = "") -> _ListeningPort: ...


class _Abortable(Protocol):
    def abortConnection(self) -> None: ...


_HTML_5XX = (
    "<html><head><title>{status} {reason}</title></head>"
    "<body><center><h1>{status} {reason}</h1></center><hr><center>nginx</center></body></html>"
)
_REASONS = {502: "Bad Gateway", 503: "Service Unavailable"}
# a body cut off mid-value, as a proxy that dropped the upstream connection may send
_TRUNCATED_JSON = b'{"status": "ready", "solution": {"tok'


def _send(request: Request, body: bytes, *, status: int = 200, content_type: bytes) -> None:
    request.setResponseCode(status)
    request.setHeader(b"content-type", content_type)
    request.setHeader(b"content-length", str(len(body)).encode())
    request.write(body)
    request.finish()


def _send_json(request: Request, data: object, *, status: int = 200) -> None:
    _send(request, json.dumps(data).encode(), status=status, content_type=b"application/json")


def _read_json_object(request: Request) -> dict[str, Any]:
    """The request body as a JSON object, or ValueError with a readable message."""
    raw = request.content.read() if request.content is not None else b""
    try:
        data = json.loads(raw or b"{}")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError("request body is not valid JSON") from exc
    if not isinstance(data, dict):
        raise ValueError("request body must be a JSON object")
    return data


class PendingAnswers:
    """Answers postponed by the ``slow`` fault, cancelled when the server stops."""

    def __init__(self, reactor: _Scheduler) -> None:
        self._reactor = reactor
        self._calls: set[_DelayedCall] = set()

    def later(self, request: Request, delay: float, answer: Callable[[], None]) -> None:
        """Run ``answer`` after ``delay`` seconds unless the client hangs up first."""

        def fire() -> None:
            self._calls.discard(call)
            answer()

        def client_gone(_: Failure) -> None:
            if call.active():
                call.cancel()
            self._calls.discard(call)

        call = self._reactor.callLater(delay, fire)
        self._calls.add(call)
        request.notifyFinish().addErrback(client_gone)

    def cancel_all(self) -> None:
        """Drop every postponed answer (the server is going away)."""
        for call in self._calls:
            if call.active():
                call.cancel()
        self._calls.clear()


def _send_api_error(
    request: Request, state: EmulatorState, code: str, description: str, *, status: int
) -> int:
    body = error_body(ApiError(code, description), state.config.error_style)
    _send_json(request, body, status=status)
    return NOT_DONE_YET


class NoSuchPath(Resource):
    """Any path that names nothing: 404 with an API error body, whatever the verb."""

    isLeaf = True

    def __init__(self, state: EmulatorState) -> None:
        super().__init__()
        self._state = state

    def render(self, request: Request) -> int:
        path = request.path.decode("utf-8", "replace")[:200]
        known = ", ".join(API_METHODS)
        description = f"no such API method or path: {path}; API methods: {known}"
        return _send_api_error(
            request, self._state, "ERROR_NO_SUCH_METHOD", description, status=404
        )


class Branch(Resource):
    """A path segment with children; anything else below it, or itself, is a 404."""

    def __init__(self, missing: NoSuchPath, children: Mapping[bytes, Resource]) -> None:
        super().__init__()
        self._missing = missing
        for name, child in children.items():
            # Resource implements IResource through zope's @implementer, which mypy cannot see
            self.putChild(name, cast(IResource, child))

    def getChild(self, path: bytes, request: Request) -> IResource:
        return cast(IResource, self._missing)

    def render(self, request: Request) -> int:
        return self._missing.render(request)


class ApiMethod(Resource):
    """One VastCap API method, with the configured transport faults applied."""

    isLeaf = True

    def __init__(
        self, state: EmulatorState, method: str, pending: PendingAnswers, missing: NoSuchPath
    ) -> None:
        super().__init__()
        self._state = state
        self._method = method
        self._pending = pending
        self._missing = missing

    def render(self, request: Request) -> int:
        if request.postpath not in ([], [b""]):
            return self._missing.render(request)
        if request.method != b"POST":
            request.setHeader(b"allow", b"POST")
            description = f"{self._method} only accepts POST with a JSON body"
            return _send_api_error(
                request, self._state, "ERROR_METHOD_NOT_ALLOWED", description, status=405
            )
        return self.render_POST(request)

    def render_POST(self, request: Request) -> int:
        plan = self._state.begin_call(self._method)
        raw = request.content.read() if request.content is not None else b""
        if plan.delay > 0:
            self._pending.later(request, plan.delay, lambda: self._answer(request, plan, raw))
        else:
            self._answer(request, plan, raw)
        return NOT_DONE_YET

    def _answer(self, request: Request, plan: FaultPlan, raw: bytes) -> None:
        if plan.kind == "drop":
            cast(_Abortable, request.channel.transport).abortConnection()
        elif plan.kind == "http_5xx":
            status = plan.http_status
            body = _HTML_5XX.format(status=status, reason=_REASONS.get(status, "Error"))
            _send(request, body.encode(), status=status, content_type=b"text/html")
        elif plan.kind == "malformed":
            _send(request, _TRUNCATED_JSON, content_type=b"application/json")
        else:
            _send_json(request, self._state.handle(self._method, raw))


class SiteVerify(Resource):
    """``POST /siteverify``: the check a protected site's back end makes."""

    isLeaf = True

    def __init__(self, state: EmulatorState) -> None:
        super().__init__()
        self._state = state

    def render_POST(self, request: Request) -> bytes:
        content_type = request.getHeader(b"content-type") or b""
        params: dict[str, str] = {}
        if b"json" in content_type.lower():
            try:
                data = _read_json_object(request)
            except ValueError:
                request.setResponseCode(400)
                request.setHeader(b"content-type", b"application/json")
                return json.dumps({"success": False, "error-codes": ["bad-request"]}).encode()
            params = {k: v for k, v in data.items() if isinstance(v, str)}
        else:
            for name, values in (request.args or {}).items():
                if values:
                    params[name.decode(errors="replace")] = values[0].decode(errors="replace")
        request.setHeader(b"content-type", b"application/json")
        return json.dumps(self._state.siteverify(params)).encode()


class Control(Resource):
    """One ``/_emulator/<name>`` endpoint: GET and/or POST handlers returning JSON."""

    isLeaf = True

    def __init__(
        self,
        get: Callable[[], object] | None = None,
        post: Callable[[dict[str, Any]], object] | None = None,
    ) -> None:
        super().__init__()
        self._get = get
        self._post = post
        self.allowedMethods = tuple(
            verb for verb, handler in ((b"GET", get), (b"POST", post)) if handler
        )

    def render_GET(self, request: Request) -> int:
        if self._get is None:
            raise UnsupportedMethod(self.allowedMethods)
        _send_json(request, self._get())
        return NOT_DONE_YET

    def render_POST(self, request: Request) -> int:
        if self._post is None:
            raise UnsupportedMethod(self.allowedMethods)
        try:
            result = self._post(_read_json_object(request))
        except ValueError as exc:  # includes ConfigError
            _send_json(request, {"error": str(exc)}, status=400)
        else:
            _send_json(request, result)
        return NOT_DONE_YET


def _set_account(state: EmulatorState, data: Mapping[str, Any]) -> dict[str, Any]:
    key = data.get("key")
    if not isinstance(key, str) or not key:
        raise ValueError('"key" (a non-empty string) is required')
    fields = {name: value for name, value in data.items() if name != "key"}
    account = state.set_account(key, **fields)
    return {"account": key[:8], **{name: getattr(account, name) for name in ACCOUNT_FIELDS}}


def _reset(state: EmulatorState) -> dict[str, Any]:
    state.reset()
    return {"ok": True}


def build_site_root(state: EmulatorState, pending: PendingAnswers) -> Resource:
    """The resource tree serving ``state``."""
    missing = NoSuchPath(state)
    solver = {method.encode(): ApiMethod(state, method, pending, missing) for method in API_METHODS}
    control = {
        b"reset": Control(post=lambda _: _reset(state)),
        b"config": Control(
            get=lambda: state.config.to_json(),
            post=lambda data: state.configure(data).to_json(),
        ),
        b"stats": Control(get=state.stats),
        b"tasks": Control(get=state.tasks),
        b"accounts": Control(post=lambda data: _set_account(state, data)),
    }
    return Branch(
        missing,
        {
            b"api": Branch(missing, {b"solver": Branch(missing, solver)}),
            b"siteverify": SiteVerify(state),
            b"_emulator": Branch(missing, control),
        },
    )


class RunningEmulator:
    """An emulator listening on the running reactor (see :func:`start_emulator`)."""

    def __init__(self, state: EmulatorState, port: _ListeningPort, pending: PendingAnswers) -> None:
        self.state = state
        self._port = port
        self._pending = pending
        address = port.getHost()
        host = getattr(address, "host", "127.0.0.1")
        self.url = f"http://{host}:{getattr(address, 'port', 0)}"
        self.api_url = self.url + API_PATH.decode()

    def stop(self) -> Deferred[None]:
        """Stop listening and drop answers still held back by the ``slow`` fault."""
        self._pending.cancel_all()
        return self._port.stopListening() or succeed(None)


def start_emulator(
    config: EmulatorConfig | None = None, host: str = "127.0.0.1", port: int = 0
) -> RunningEmulator:
    """Serve a new emulator on the (already installed) reactor; ``port=0`` picks a free port.

    The reactor is imported here, not at module import, so that importing this
    package never chooses a reactor for the application.
    """
    from twisted.internet import reactor as installed

    reactor = cast(_Reactor, installed)
    state = EmulatorState(config)
    pending = PendingAnswers(reactor)
    site = Site(build_site_root(state, pending))
    return RunningEmulator(state, reactor.listenTCP(port, site, interface=host), pending)

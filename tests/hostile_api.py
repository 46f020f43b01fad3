"""A hostile stand-in of the VastCap API, scripted per test.

A real twisted.web server on a free 127.0.0.1 port, in the test's reactor.
Each API method answers from a script (a list of answers, the last one
repeated): plain JSON, raw bytes with any status and headers, a request held
unanswered, a body of any size streamed as the client reads it, a redirect.
Every request is logged (method, parsed body, headers) and tests wait on the
log with deadlines instead of sleeping.

Also here: :func:`stalled_port`, a listening socket whose accept queue is
full, so that a connection to it stays "connecting" (the kernel drops the
SYN); and :func:`closed_port`, a port nobody listens on (connection refused).
"""

from __future__ import annotations

import json
import socket
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from twisted.internet import defer
from twisted.internet.interfaces import IPullProducer
from twisted.internet.protocol import Factory
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request, Site
from zope.interface import implementer

from tests.self_signed import SelfSigned
from tests.waiting import Watched


@dataclass
class Call:
    """One request the stand-in received."""

    method: str
    body: dict[str, Any]
    headers: dict[str, str]
    #: The client dropped the connection before the answer was complete.
    aborted: bool = False
    #: Bytes of body written to the client (for streamed answers).
    sent: int = 0


#: An answer writes to the request (and finishes it, or not).
Answer = Callable[[Request, Call], None]


def json_answer(data: Any, status: int = 200) -> Answer:
    return raw_answer(json.dumps(data).encode(), status)


def raw_answer(body: bytes, status: int = 200, headers: dict[bytes, bytes] | None = None) -> Answer:
    def answer(request: Request, call: Call) -> None:
        request.setResponseCode(status)
        request.setHeader(b"content-type", b"application/json")
        for name, value in (headers or {}).items():
            request.setHeader(name, value)
        request.write(body)
        call.sent = len(body)
        request.finish()

    return answer


def stall() -> Answer:
    """Hold the request: never answer (until the client gives up)."""

    def answer(request: Request, call: Call) -> None:
        pass

    return answer


def raw_bytes(data: bytes) -> Answer:
    """Write ``data`` as it is on the connection (not HTTP, or HTTP cut short)
    and close it."""

    def answer(request: Request, call: Call) -> None:
        transport: Any = request.channel.transport
        transport.write(data)
        call.sent = len(data)
        transport.loseConnection()

    return answer


def redirect(location: bytes, status: int = 302) -> Answer:
    return raw_answer(b"", status, {b"location": location})


def huge(size: int, *, declare_length: bool, chunk: int = 64 * 1024) -> Answer:
    """A JSON-looking body of ``size`` bytes, produced only as fast as the
    client reads it (so the stand-in itself never holds it in memory)."""

    def answer(request: Request, call: Call) -> None:
        request.setResponseCode(200)
        request.setHeader(b"content-type", b"application/json")
        if declare_length:
            request.setHeader(b"content-length", str(size).encode())
        _Stream(request, call, size, chunk).start()

    return answer


@implementer(IPullProducer)
class _Stream:
    def __init__(self, request: Request, call: Call, size: int, chunk: int) -> None:
        self.request = request
        self.call = call
        self.left = size
        self.piece = b'{"status":"processing","pad":"' + b"x" * chunk

    def start(self) -> None:
        self.request.registerProducer(self, False)

    def resumeProducing(self) -> None:
        if self.call.aborted or self.left <= 0:
            return
        data = self.piece[: min(len(self.piece), self.left)]
        self.left -= len(data)
        self.call.sent += len(data)
        self.request.write(data)
        if self.left <= 0:
            self.request.unregisterProducer()
            self.request.finish()

    def stopProducing(self) -> None:
        self.left = 0


@dataclass
class HostileApi(Watched):
    """The stand-in: script answers with :meth:`on`, read :attr:`calls`."""

    url: str = ""
    calls: list[Call] = field(default_factory=list)
    scripts: dict[str, list[Answer]] = field(default_factory=dict)
    #: TCP connections accepted (TLS handshakes included).
    connections: int = 0

    def on(self, method: str, *answers: Answer) -> None:
        """Answer ``method`` with ``answers`` in turn, the last one for good."""
        self.scripts[method] = list(answers)

    def methods(self) -> list[str]:
        return [c.method for c in self.calls]

    def wait_calls(self, count: int, method: str | None = None) -> defer.Deferred[None]:
        return self.wait(lambda: sum(method in (None, c.method) for c in self.calls) >= count)

    def answer(self, request: Request) -> None:
        method = (request.path or b"").decode().rsplit("/", 1)[-1]
        assert request.content is not None
        raw = request.content.read()
        try:
            body = json.loads(raw)
        except ValueError:
            body = {"raw": raw.decode("latin-1")}
        headers = {
            k.decode().lower(): b",".join(v).decode("latin-1")
            for k, v in request.requestHeaders.getAllRawHeaders()
        }
        call = Call(method, body, headers)
        self.calls.append(call)

        def lost(_: object) -> None:
            call.aborted = True
            self.changed()

        request.notifyFinish().addErrback(lost)
        script = self.scripts.get(method) or [_default(method)]
        answer = script.pop(0) if len(script) > 1 else script[0]
        answer(request, call)
        self.changed()


def _default(method: str) -> Answer:
    if method == "createTask":

        def created(request: Request, call: Call) -> None:
            json_answer({"taskId": str(uuid.uuid4())})(request, call)

        return created
    if method == "getBalance":
        return json_answer({"balance": 5.0})
    return json_answer({"status": "processing"})


class _Root(Resource):
    isLeaf = True

    def __init__(self, api: HostileApi) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.api = api

    def render_POST(self, request: Request) -> int:
        self.api.answer(request)
        return NOT_DONE_YET


class _CountingSite(Site):
    def __init__(self, api: HostileApi) -> None:
        super().__init__(_Root(api))  # type: ignore[no-untyped-call]
        self.api = api

    def buildProtocol(self, addr: Any) -> Any:
        self.api.connections += 1
        return super().buildProtocol(addr)  # type: ignore[no-untyped-call]


def serve(*, tls: bool = False) -> Iterator[HostileApi]:
    """Generator for a fixture: a :class:`HostileApi` on 127.0.0.1 (with a
    self-signed certificate no client trusts when ``tls``)."""
    from twisted.internet import reactor

    api = HostileApi()
    running: Any = reactor  # the global reactor has no usable static type
    site = _CountingSite(api)
    site.noisy = False
    if tls:
        port = running.listenSSL(
            0, _NoProtocolNegotiation(site), SelfSigned(), interface="127.0.0.1"
        )
    else:
        port = running.listenTCP(0, site, interface="127.0.0.1")
    scheme = "https" if tls else "http"
    api.url = f"{scheme}://127.0.0.1:{port.getHost().port}/api/solver"
    yield api
    port.stopListening()


class _NoProtocolNegotiation(Factory):
    """Builds the site's protocols but hides its ALPN/NPN support: for a factory
    that has it, older Twisted releases (23.8, 24.3) set the protocols on the
    SSL context after the connection is made, which pyOpenSSL >= 26.2 refuses
    (every handshake then fails). The client under test offers none anyway."""

    def __init__(self, site: Site) -> None:
        self.site = site

    def buildProtocol(self, addr: Any) -> Any:
        return self.site.buildProtocol(addr)


@contextmanager
def stalled_port() -> Iterator[int]:
    """A port on 127.0.0.1 where a new connection stays "connecting": the
    listener never accepts and its accept queue is full, so the kernel drops
    the SYN (and its retransmissions)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = int(listener.getsockname()[1])
    fillers = []
    try:
        # With backlog 0 the queue holds one connection; a second filler makes sure.
        for _ in range(2):
            filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
            fillers.append(filler)
        yield port
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


@contextmanager
def closed_port() -> Iterator[int]:
    """A 127.0.0.1 port nobody listens on (connections are refused)."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    probe.bind(("127.0.0.1", 0))
    port = int(probe.getsockname()[1])
    probe.close()
    yield port

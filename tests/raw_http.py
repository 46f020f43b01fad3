"""A byte-level HTTP server for transport tests: every byte of every answer
is the test's, as independently written servers and proxies send them.

A Twisted TCP server on a free 127.0.0.1 port, in the test's reactor. It
reads requests itself (head up to the blank line, then ``Content-Length``
bytes of body) and hands each to the handler scripted for its API method;
the handler writes whatever it likes on the :class:`Conn` (in pieces, late,
never), closes it, resets it or leaves it open. The server records every
request (which connection, how many that connection carried before), the
connections open, and any request that arrived while the previous one on
its connection was still unanswered (pipelining, which many servers
mishandle). Tests wait on this record with deadlines, never by sleeping.
"""

from __future__ import annotations

import gzip
import json
import socket
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from twisted.internet.protocol import Factory, Protocol, connectionDone
from twisted.python.failure import Failure

from tests.self_signed import SelfSigned
from tests.waiting import Watched


@dataclass
class Req:
    """One request the server read."""

    method: str
    headers: dict[str, str]
    body: dict[str, Any]
    conn: Conn
    #: Requests this connection carried before this one.
    index: int


#: Answers a request: writes on ``req.conn`` (or not).
Handler = Callable[[Req], None]


class Conn(Protocol):
    """One server-side connection."""

    def __init__(self, server: RawServer) -> None:
        self.server = server
        self.number = 0
        self.buffer = b""
        self.requests = 0
        #: The last request has not been answered yet (see :meth:`answered`).
        self.busy = False
        self.closed = False

    def connectionMade(self) -> None:
        self.server.accepted += 1
        self.number = self.server.accepted
        self.server.open.add(self)
        transport: Any = self.transport
        transport.setTcpNoDelay(True)
        self.server.changed()

    def dataReceived(self, data: bytes) -> None:
        self.buffer += data
        while True:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = self.buffer[:head_end].decode("latin-1").split("\r\n")
            headers = {}
            for line in head[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length", "0"))
            end = head_end + 4 + length
            if len(self.buffer) < end:
                return
            raw, self.buffer = self.buffer[head_end + 4 : end], self.buffer[end:]
            if self.busy:
                self.server.pipelined += 1
            self.busy = True
            method = head[0].split(" ")[1].rsplit("/", 1)[-1]
            req = Req(method, headers, json.loads(raw or b"{}"), self, self.requests)
            self.requests += 1
            self.server.requests.append(req)
            self.server.handle(req)
            self.server.changed()

    def write(self, data: bytes) -> None:
        transport: Any = self.transport
        if not self.closed:
            transport.write(data)

    def answered(self, data: bytes) -> None:
        """Write a whole answer: the connection may carry the next request."""
        self.busy = False
        self.write(data)

    def close(self) -> None:
        """Close after what was written (a FIN)."""
        transport: Any = self.transport
        transport.loseConnection()

    def reset(self) -> None:
        """Drop the connection with a TCP RST (what a crashed server or a
        proxy that gave up sends; under TLS, no close_notify either)."""
        transport: Any = self.transport
        tcp = getattr(transport, "transport", transport)  # under TLS: the TCP transport
        tcp.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        tcp.abortConnection()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.closed = True
        self.server.open.discard(self)
        self.server.changed()


@dataclass
class RawServer(Watched):
    url: str = ""
    requests: list[Req] = field(default_factory=list)
    scripts: dict[str, list[Handler]] = field(default_factory=dict)
    open: set[Conn] = field(default_factory=set)
    accepted: int = 0
    #: Requests that arrived before the previous one on their connection was answered.
    pipelined: int = 0

    def on(self, method: str, *handlers: Handler) -> None:
        """Answer ``method`` with ``handlers`` in turn, the last one for good."""
        self.scripts[method] = list(handlers)

    def methods(self) -> list[str]:
        return [r.method for r in self.requests]

    def handle(self, req: Req) -> None:
        script = self.scripts.get(req.method) or [_default(req.method)]
        handler = script.pop(0) if len(script) > 1 else script[0]
        handler(req)


def serve(trusted_pem: Path | None = None) -> Iterator[RawServer]:
    """Generator for a fixture: a :class:`RawServer` on 127.0.0.1; every
    connection still open at the end is dropped. With ``trusted_pem``, it
    speaks TLS with a fresh self-signed certificate written there (point
    ``SSL_CERT_FILE`` at it for the client to trust it)."""
    from twisted.internet import reactor

    server = RawServer()
    factory = Factory.forProtocol(lambda: Conn(server))
    factory.noisy = False
    running: Any = reactor
    if trusted_pem is None:
        port = running.listenTCP(0, factory, interface="127.0.0.1")
    else:
        certificate = SelfSigned()
        trusted_pem.write_bytes(certificate.pem())
        port = running.listenSSL(0, factory, certificate, interface="127.0.0.1")
    scheme = "http" if trusted_pem is None else "https"
    server.url = f"{scheme}://127.0.0.1:{port.getHost().port}/api/solver"
    yield server
    port.stopListening()
    for conn in list(server.open):
        transport: Any = conn.transport
        transport.abortConnection()


# -- answers ---------------------------------------------------------------------


def message(
    body: bytes,
    status: int = 200,
    *,
    headers: list[tuple[str, str]] | None = None,
    version: str = "1.1",
    length: bool = True,
) -> bytes:
    """The bytes of an answer (with ``Content-Length`` unless told not to)."""
    lines = [f"HTTP/{version} {status} {_REASONS.get(status, 'Whatever')}"]
    lines += [f"{name}: {value}" for name, value in headers or []]
    if length:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def chunked(*pieces: bytes, trailer: bytes = b"") -> bytes:
    """A chunked body of ``pieces`` (each a chunk), then ``trailer`` fields."""
    return b"".join(f"{len(p):x}\r\n".encode() + p + b"\r\n" for p in pieces if p) + (
        b"0\r\n" + trailer + b"\r\n"
    )


_REASONS = {
    100: "Continue",
    200: "OK",
    204: "No Content",
    304: "Not Modified",
    408: "Request Timeout",
    502: "Bad Gateway",
}


def send(data: bytes, *, then_close: bool = False) -> Handler:
    """Answer with ``data`` as it is (and close the connection after it)."""

    def handler(req: Req) -> None:
        req.conn.answered(data)
        if then_close:
            req.conn.close()

    return handler


def answer_json(data: Any, **options: Any) -> Handler:
    """A well-formed JSON answer; ``options`` as for :func:`message`."""
    return send(message(json.dumps(data).encode(), **options))


def gzipped(data: Any, headers: list[tuple[str, str]] | None = None) -> bytes:
    body = gzip.compress(json.dumps(data).encode())
    return message(body, headers=[("Content-Encoding", "gzip"), *(headers or [])])


def hold() -> Handler:
    """Read the request and never answer it."""

    def handler(req: Req) -> None:
        pass

    return handler


def _default(method: str) -> Handler:
    if method == "createTask":

        def created(req: Req) -> None:
            answer_json({"taskId": f"task-{len(req.conn.server.requests)}"})(req)

        return created
    if method == "getBalance":
        return answer_json({"balance": 5.0})
    return answer_json({"status": "processing"})

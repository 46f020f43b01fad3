"""The HTTP exchanges under the client: one POST in, one capped answer out.

Two transports give the same :class:`HttpAnswer` for a POST to an API method:

* :class:`LeanHttp`, the default: keep-alive HTTP/1.1 connections to the one
  API host, driven by ``h11``. Polls dominate the client's work (333 calls/s
  for 1,000 pending solves), and Twisted's ``Agent`` spends much of a call's
  CPU on generality the API never needs (URL parsing, header objects,
  producers, a response object and its state machine): this path takes about
  40% less per poll (0.19 against 0.32 ms, client alone, benchmark scenario 7).
* :class:`AgentHttp`: any Twisted ``IAgent`` (a test seam: treq's
  ``RequestTraversalAgent`` serves a resource tree in memory).

Both read at most ``cap`` bytes of an answer and drop the connection of one
they will not read: a redirect, a 5xx, 408 or 429 (whose body the client
never uses), or one over the cap.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

import h11
from twisted.internet import defer
from twisted.internet.endpoints import HostnameEndpoint, wrapClientTLS
from twisted.internet.protocol import Factory, connectionDone
from twisted.internet.protocol import Protocol as TwistedProtocol
from twisted.python.failure import Failure
from twisted.web.client import (
    BrowserLikePolicyForHTTPS,
    ResponseDone,
    ResponseFailed,
    ResponseNeverReceived,
)
from twisted.web.http import PotentialDataLoss
from twisted.web.http_headers import Headers
from twisted.web.iweb import UNKNOWN_LENGTH, IBodyProducer
from zope.interface import implementer

from scrapy_vastcaptcha.api.errors import ProtocolError


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    status: int
    #: The ``Location`` header of a redirect, else empty.
    location: bytes
    #: The body; empty for statuses whose body is not read (see :func:`skips_body`)
    #: and for an error status whose body was over the cap.
    body: bytes


class Transport(Protocol):
    def post(self, method: str, body: bytes) -> defer.Deferred[HttpAnswer]: ...

    def close(self) -> defer.Deferred[Any]: ...


def skips_body(status: int) -> bool:
    """Answers whose body the client never reads: redirects and "try later"."""
    return 300 <= status < 400 or status >= 500 or status in (408, 429)


def _too_large(size: int | None, cap: int, method: str) -> ProtocolError:
    what = "answer" if size is None else f"answer of {size} bytes"
    return ProtocolError(f"{what} larger than {cap} bytes", method=method)


# -- the lean path ----------------------------------------------------------------


class LeanHttp:
    """Keep-alive HTTP/1.1 POSTs to the API host.

    Connections are made on demand and kept while the server keeps them; the
    client's semaphore bounds how many are busy at once. No request is sent
    twice: a kept connection that turns out closed fails the call, which the
    client retries like any transport error.
    """

    def __init__(
        self,
        reactor: Any,
        api_url: str,
        *,
        methods: tuple[str, ...],
        cap: int,
        connect_timeout: float,
        user_agent: bytes,
    ) -> None:
        parts = urlsplit(api_url)
        self._reactor = reactor
        self._tls = parts.scheme == "https"
        self._host = parts.hostname or ""
        self._port = parts.port or (443 if self._tls else 80)
        self._connect_timeout = connect_timeout
        self._cap = cap
        self._endpoint: Any = None
        headers = [
            (b"Host", parts.netloc.encode("ascii")),
            (b"Content-Type", b"application/json"),
            (b"User-Agent", user_agent),
        ]
        self._targets = {m: f"{parts.path.rstrip('/')}/{m}".encode("ascii") for m in methods}
        self._headers = headers
        # Request heads by (method, body length): a poll's body always has the
        # same length, so its head is built once.
        self._heads: dict[tuple[str, int], h11.Request] = {}
        self._idle: list[_Connection] = []
        self._open: set[_Connection] = set()
        self._factory = _ConnectionFactory(self)

    def post(self, method: str, body: bytes) -> defer.Deferred[HttpAnswer]:
        head = self._heads.get((method, len(body)))
        if head is None:
            if len(self._heads) > 64:
                self._heads.clear()
            head = self._heads[method, len(body)] = h11.Request(
                method=b"POST",
                target=self._targets[method],
                headers=[*self._headers, (b"Content-Length", str(len(body)).encode("ascii"))],
            )
        while self._idle:
            connection = self._idle.pop()
            if connection.usable:
                return connection.request(head, body, self._cap, method)
        return defer.Deferred.fromCoroutine(self._connect_and_post(head, body, method))

    async def _connect_and_post(self, head: h11.Request, body: bytes, method: str) -> HttpAnswer:
        connection: _Connection = await self._connector().connect(self._factory)
        return await connection.request(head, body, self._cap, method)

    def _connector(self) -> Any:
        if self._endpoint is None:
            endpoint: Any = HostnameEndpoint(
                self._reactor, self._host, self._port, timeout=self._connect_timeout
            )
            if self._tls:
                # The same certificate checks as Agent's default.
                creator = BrowserLikePolicyForHTTPS().creatorForNetloc(
                    self._host.encode("ascii"), self._port
                )
                endpoint = wrapClientTLS(creator, endpoint)
            self._endpoint = endpoint
        return self._endpoint

    def close(self) -> defer.Deferred[Any]:
        """Drop every connection; fires once all are closed."""
        self._idle.clear()
        lost = [connection.lost for connection in self._open]
        for connection in list(self._open):
            connection.abort()
        return defer.DeferredList(lost)

    def _opened(self, connection: _Connection) -> None:
        self._open.add(connection)

    def _reusable(self, connection: _Connection) -> None:
        self._idle.append(connection)

    def _closed(self, connection: _Connection) -> None:
        self._open.discard(connection)
        if connection in self._idle:
            self._idle.remove(connection)


class _ConnectionFactory(Factory):
    # Not a "Starting factory" log line for every connection.
    noisy = False

    def __init__(self, pool: LeanHttp) -> None:
        self.pool = pool

    def buildProtocol(self, addr: Any) -> _Connection:
        return _Connection(self.pool)


class _Connection(TwistedProtocol):
    """One HTTP/1.1 connection: one exchange at a time, kept alive between them."""

    def __init__(self, pool: LeanHttp) -> None:
        self._pool = pool
        self._h11 = h11.Connection(h11.CLIENT)
        self._pending: defer.Deferred[HttpAnswer] | None = None
        self._method = ""
        self._cap = 0
        self._status = 0
        self._parts: list[bytes] = []
        self._size = 0
        self._answered = False
        self.usable = False
        self.lost: defer.Deferred[None] = defer.Deferred()

    def connectionMade(self) -> None:
        self.usable = True
        self._pool._opened(self)

    def request(
        self, head: h11.Request, body: bytes, cap: int, method: str
    ) -> defer.Deferred[HttpAnswer]:
        self.usable = False
        self._method, self._cap = method, cap
        self._status, self._size, self._answered = 0, 0, False
        self._parts = []
        pending: defer.Deferred[HttpAnswer] = defer.Deferred(self._cancel)
        self._pending = pending
        send = self._h11.send
        data = (send(head) or b"") + (send(h11.Data(data=body)) or b"")
        transport: Any = self.transport
        transport.write(data + (send(h11.EndOfMessage()) or b""))
        return pending

    def abort(self) -> None:
        self.usable = False
        transport: Any = self.transport
        if transport is not None:
            transport.abortConnection()

    def _cancel(self, _: defer.Deferred[HttpAnswer]) -> None:
        # The Deferred fails with CancelledError; the connection's state is
        # unknown mid-exchange, so it goes.
        self._pending = None
        self.abort()

    def dataReceived(self, data: bytes) -> None:
        if self._pending is None:
            # Nothing asked for: a server talking out of turn is not reused.
            self.abort()
            return
        self._answered = True
        try:
            self._h11.receive_data(data)
            self._read_events()
        except h11.ProtocolError as exc:
            self._fail(ResponseFailed([Failure(exc)]))

    def _read_events(self) -> None:
        while self._pending is not None:
            event = self._h11.next_event()
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return
            if isinstance(event, h11.Response):
                self._status = event.status_code
                if skips_body(self._status):
                    location = next((v for k, v in event.headers if k == b"location"), b"")
                    self._finish(HttpAnswer(self._status, location, b""), keep=False)
                    return
                length = next((v for k, v in event.headers if k == b"content-length"), None)
                if length is not None and int(length) > self._cap:
                    self._over_cap(int(length))
                    return
            elif isinstance(event, h11.Data):
                self._size += len(event.data)
                if self._size > self._cap:
                    self._over_cap(None)
                    return
                self._parts.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                answer = HttpAnswer(self._status, b"", b"".join(self._parts))
                self._finish(answer, keep=True)
                return
            elif isinstance(event, h11.ConnectionClosed):
                return
            # h11.InformationalResponse (1xx): the real answer follows.

    def _over_cap(self, declared: int | None) -> None:
        if self._status >= 400:
            # An error status may still say which error; an oversized one is
            # reported by its status alone.
            self._finish(HttpAnswer(self._status, b"", b""), keep=False)
        else:
            self._fail(_too_large(declared, self._cap, self._method))

    def _finish(self, answer: HttpAnswer, *, keep: bool) -> None:
        pending, self._pending = self._pending, None
        self._parts = []
        if keep and self._h11.our_state is h11.DONE and self._h11.their_state is h11.DONE:
            self._h11.start_next_cycle()
            self.usable = True
            self._pool._reusable(self)
        else:
            self.abort()
        assert pending is not None
        pending.callback(answer)

    def _fail(self, error: Exception) -> None:
        pending, self._pending = self._pending, None
        self._parts = []
        self.abort()
        if pending is not None:
            pending.errback(error)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.usable = False
        self._pool._closed(self)
        if self._pending is not None:
            # A body delimited by the end of the connection ends here.
            try:
                self._h11.receive_data(b"")
                self._read_events()
            except h11.ProtocolError:
                pass
        if self._pending is not None:
            self._fail(
                ResponseFailed([reason]) if self._answered else ResponseNeverReceived([reason])
            )
        self.lost.callback(None)


# -- any IAgent -------------------------------------------------------------------


class AgentHttp:
    """POSTs through a Twisted ``IAgent``."""

    def __init__(
        self,
        agent: Any,
        api_url: str,
        *,
        methods: tuple[str, ...],
        cap: int,
        user_agent: bytes,
    ) -> None:
        self._agent = agent
        self._cap = cap
        self._urls = {m: f"{api_url}/{m}".encode("ascii") for m in methods}
        self._headers = Headers(
            {b"Content-Type": [b"application/json"], b"User-Agent": [user_agent]}
        )

    def post(self, method: str, body: bytes) -> defer.Deferred[HttpAnswer]:
        return defer.Deferred.fromCoroutine(self._post(method, body))

    async def _post(self, method: str, body: bytes) -> HttpAnswer:
        response: Any = await self._agent.request(
            b"POST", self._urls[method], self._headers.copy(), _BytesProducer(body)
        )
        status: int = response.code
        if skips_body(status):
            _abort(response)
            location = (response.headers.getRawHeaders(b"location") or [b""])[0]
            return HttpAnswer(status, location, b"")
        try:
            content = await _read_capped(response, self._cap, method)
        except ProtocolError:
            if status < 400:
                raise
            content = b""
        return HttpAnswer(status, b"", content)

    def close(self) -> defer.Deferred[Any]:
        """Nothing to close: the agent's connections are its owner's."""
        return defer.succeed(None)


class _CappedBody(TwistedProtocol):
    """Collects a response body up to ``cap`` bytes; past it, aborts the
    connection and fails without buffering the rest."""

    def __init__(self, finished: defer.Deferred[bytes], cap: int, method: str) -> None:
        self.finished = finished
        self.cap = cap
        self.method = method
        self.parts: list[bytes] = []
        self.size = 0

    def dataReceived(self, data: bytes) -> None:
        if self.finished.called:
            return
        self.size += len(data)
        if self.size > self.cap:
            self.parts.clear()
            assert self.transport is not None
            self.transport.stopProducing()
            self.finished.errback(_too_large(None, self.cap, self.method))
            return
        self.parts.append(data)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        if self.finished.called:
            return
        if reason.check(ResponseDone, PotentialDataLoss):
            self.finished.callback(b"".join(self.parts))
        else:
            self.finished.errback(reason)


# Responses are typed Any: mypy reads zope interface methods as unbound functions.
def _read_capped(response: Any, cap: int, method: str) -> defer.Deferred[bytes]:
    if response.length is not UNKNOWN_LENGTH and response.length > cap:
        _abort(response)
        return defer.fail(_too_large(response.length, cap, method))
    reader: _CappedBody | None = None

    def cancel(_: defer.Deferred[bytes]) -> None:
        if reader is not None and reader.transport is not None:
            reader.transport.stopProducing()

    finished: defer.Deferred[bytes] = defer.Deferred(cancel)
    reader = _CappedBody(finished, cap, method)
    response.deliverBody(reader)
    return finished


class _Discard(TwistedProtocol):
    def connectionMade(self) -> None:
        assert self.transport is not None
        self.transport.stopProducing()


def _abort(response: Any) -> None:
    """Drop the connection without reading the body (which may be huge)."""
    response.deliverBody(_Discard())


@implementer(IBodyProducer)
class _BytesProducer:
    """Writes a request body in one go. The default (``FileBodyProducer``)
    schedules its writes on the *global* reactor, which must not be assumed
    (or installed as a side effect) when the client was given its own."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.length = len(body)

    def startProducing(self, consumer: Any) -> defer.Deferred[None]:
        consumer.write(self.body)
        return defer.succeed(None)

    def pauseProducing(self) -> None:
        pass

    def resumeProducing(self) -> None:
        pass

    def stopProducing(self) -> None:
        pass

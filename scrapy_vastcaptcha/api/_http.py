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
never uses), or one over the cap. Both ask for an unencoded answer and undo
gzip or deflate if a server or proxy compresses it anyway (at most ``cap``
bytes once inflated).
"""

from __future__ import annotations

import zlib
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

from scrapy_vastcaptcha.api._protocol import GET_BALANCE, GET_TASK_RESULT
from scrapy_vastcaptcha.api.errors import ProtocolError

#: Methods that may be sent again when a kept-alive connection turns out to
#: have been closed by the server as the request went out: they change
#: nothing on the service. ``createTask`` is not one (a task may be billed),
#: so it always goes out on a fresh connection, which cannot be stale.
REPLAYABLE = frozenset({GET_TASK_RESULT, GET_BALANCE})
#: Seconds an idle connection is kept (less if the server announces a shorter
#: ``Keep-Alive: timeout``): longer than the 3 s between polls of one task,
#: shorter than the idle limits of common load balancers and NAT gateways
#: (60 s and more), past which a connection may be dropped without a word
#: and a request on it would hang until the HTTP timeout.
IDLE_TIMEOUT = 20.0
#: Idle connections kept at most; the longest idle go first.
MAX_IDLE = 32
#: A connection is given up this long before the server said it would close
#: it: our clock starts later than the server's, and a timer may fire late.
KEEP_ALIVE_MARGIN = 1.0
#: Statuses that send the API elsewhere (304 "not modified" and 300 "multiple
#: choices" do not: they are odd answers, not a new address).
REDIRECTS = frozenset({301, 302, 303, 307, 308})
#: What each request says about encodings: an absent header would allow any.
ACCEPT_ENCODING = b"identity"


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    status: int
    #: The ``Location`` header of a redirect, else empty.
    location: bytes
    #: The body, decoded; empty for statuses whose body is not read (see
    #: :func:`skips_body`) and for an error status whose body was over the
    #: cap or could not be decoded.
    body: bytes


class Transport(Protocol):
    def post(self, method: str, body: bytes) -> defer.Deferred[HttpAnswer]: ...

    def close(self) -> defer.Deferred[Any]: ...


def is_redirect(status: int) -> bool:
    return status in REDIRECTS


def is_try_later(status: int) -> bool:
    """A status that says "not now": the call may succeed if made again."""
    return status >= 500 or status in (408, 429)


def skips_body(status: int) -> bool:
    """Answers whose body the client never reads: redirects and "try later"."""
    return is_redirect(status) or is_try_later(status)


def _too_large(size: int | None, cap: int, method: str) -> ProtocolError:
    what = "answer" if size is None else f"answer of {size} bytes"
    return ProtocolError(f"{what} larger than {cap} bytes", method=method)


def _answer(status: int, body: bytes, encodings: bytes, cap: int, method: str) -> HttpAnswer:
    """The answer with its body decoded; an error status whose body cannot
    be decoded is reported by its status alone."""
    if encodings:
        try:
            body = _decoded(body, encodings, cap, method)
        except ProtocolError:
            if status < 400:
                raise
            body = b""
    return HttpAnswer(status, b"", body)


def _decoded(body: bytes, encodings: bytes, cap: int, method: str) -> bytes:
    """``body`` with its content codings undone, last applied first."""
    for coding in reversed(encodings.lower().split(b",")):
        coding = coding.strip()
        if coding in (b"", b"identity"):
            continue
        if coding in (b"gzip", b"x-gzip"):
            body = _inflate(body, 16 + zlib.MAX_WBITS, cap, method)
        elif coding == b"deflate":
            # Meant to be zlib-wrapped; some servers send it raw.
            wrapped = (
                len(body) >= 2 and body[0] & 0x0F == 8 and int.from_bytes(body[:2], "big") % 31 == 0
            )
            body = _inflate(body, zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS, cap, method)
        else:
            shown = coding.decode("latin-1")[:40]
            raise ProtocolError(
                f"answer encoded as {shown!r}, which is not supported", method=method
            )
    return body


def _inflate(data: bytes, wbits: int, cap: int, method: str) -> bytes:
    inflater = zlib.decompressobj(wbits)
    try:
        # Never more than the cap in memory, whatever the ratio.
        out = inflater.decompress(data, cap + 1)
    except zlib.error as exc:
        raise ProtocolError(f"compressed answer is corrupt ({exc})", method=method) from None
    if len(out) > cap:
        raise _too_large(None, cap, method)
    if not inflater.eof:
        raise ProtocolError("compressed answer is cut short", method=method)
    return out


def _keep_alive_timeout(value: bytes) -> float | None:
    """The ``timeout`` a ``Keep-Alive`` header announces, if any."""
    for part in value.split(b","):
        name, _, number = part.partition(b"=")
        if name.strip().lower() == b"timeout":
            try:
                return float(number.strip().strip(b'"'))
            except ValueError:
                return None
    return None


# -- the lean path ----------------------------------------------------------------


class _StaleConnection(ResponseNeverReceived):
    """A kept-alive connection the server closed (or answered 408 on) as a
    request went out on it, before answering anything: most likely closed
    while idle, the request unread; but that cannot be known, so only a
    replayable call is sent again."""

    def __init__(self, reason: Failure) -> None:
        super().__init__([reason])  # type: ignore[no-untyped-call]


class LeanHttp:
    """Keep-alive HTTP/1.1 POSTs to the API host.

    Connections are made on demand and kept while the server keeps them (and
    at most ``idle_timeout`` seconds, ``max_idle`` of them); the client's
    semaphore bounds how many are busy at once. One request at a time goes
    on a connection (no pipelining). A replayable call whose kept connection
    turns out closed before any answer is sent again once, on a fresh
    connection; other calls always go out on a fresh one, so that no request
    that may have been received is ever sent twice here.
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
        replayable: frozenset[str] = REPLAYABLE,
        idle_timeout: float = IDLE_TIMEOUT,
        max_idle: int = MAX_IDLE,
    ) -> None:
        parts = urlsplit(api_url)
        self._reactor = reactor
        self._tls = parts.scheme == "https"
        self._host = parts.hostname or ""
        self._port = parts.port or (443 if self._tls else 80)
        self._connect_timeout = connect_timeout
        self._cap = cap
        self._replayable = replayable
        self.idle_timeout = idle_timeout
        self._max_idle = max_idle
        self._endpoint: Any = None
        headers = [
            (b"Host", parts.netloc.encode("ascii")),
            (b"Content-Type", b"application/json"),
            (b"Accept-Encoding", ACCEPT_ENCODING),
            (b"User-Agent", user_agent),
        ]
        self._targets = {m: f"{parts.path.rstrip('/')}/{m}".encode("ascii") for m in methods}
        self._headers = headers
        # Request heads by (method, body length): a poll's body always has the
        # same length, so its head is built once.
        self._heads: dict[tuple[str, int], h11.Request] = {}
        #: Idle connections, the most recently used last (taken first: the
        #: least likely to have been closed by the server).
        self._idle: list[_Connection] = []
        self._open: set[_Connection] = set()
        self._sweeper: Any = None
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
        if method in self._replayable:
            connection = self._take_idle()
            if connection is not None:
                exchange = connection.request(head, body, self._cap, method)
                return exchange.addErrback(self._replay, head, body, method)
        return defer.Deferred.fromCoroutine(self._connect_and_post(head, body, method))

    def _take_idle(self) -> _Connection | None:
        now = self._reactor.seconds()
        while self._idle:
            connection = self._idle.pop()
            if connection.usable and connection.idle_until > now:
                return connection
            connection.abort()
        return None

    def _replay(
        self, failure: Failure, head: h11.Request, body: bytes, method: str
    ) -> defer.Deferred[HttpAnswer]:
        failure.trap(_StaleConnection)
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
        if self._sweeper is not None and self._sweeper.active():
            self._sweeper.cancel()
        self._sweeper = None
        lost = [connection.lost for connection in self._open]
        for connection in list(self._open):
            connection.abort()
        return defer.DeferredList(lost)

    def _opened(self, connection: _Connection) -> None:
        self._open.add(connection)

    def _reusable(self, connection: _Connection) -> None:
        if len(self._idle) >= self._max_idle:
            self._idle.pop(0).abort()
        self._idle.append(connection)
        if self._sweeper is None:
            self._sweeper = self._reactor.callLater(
                connection.idle_until - self._reactor.seconds(), self._sweep
            )

    def _sweep(self) -> None:
        """Close the connections idle for too long (the server may drop them
        silently, or is about to close them)."""
        self._sweeper = None
        now = self._reactor.seconds()
        kept = []
        for connection in self._idle:
            if connection.usable and connection.idle_until > now:
                kept.append(connection)
            else:
                connection.abort()
        self._idle = kept
        if kept:
            due = min(c.idle_until for c in kept)
            self._sweeper = self._reactor.callLater(due - now, self._sweep)

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
        self._encodings = b""
        self._keep_for = 0.0
        self._parts: list[bytes] = []
        self._size = 0
        self._answered = False
        #: Exchanges completed on this connection.
        self.served = 0
        self.usable = False
        #: When this connection, idle, is closed (reactor time).
        self.idle_until = 0.0
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
        self._feed(data)

    def _feed(self, data: bytes, lost: Failure | None = None) -> None:
        """Read ``data`` into the answer; ``b""`` and why: the connection ended."""
        try:
            self._h11.receive_data(data)
            self._read_events()
        except h11.ProtocolError as exc:
            self._fail(ResponseFailed([Failure(exc), *([lost] if lost else [])]))
        except ProtocolError as exc:
            self._fail(exc)

    def _read_events(self) -> None:
        while self._pending is not None:
            event = self._h11.next_event()
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return
            if isinstance(event, h11.Response):
                self._response(event)
            elif isinstance(event, h11.Data):
                self._size += len(event.data)
                if self._size > self._cap:
                    self._over_cap(None)
                    return
                self._parts.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                body = b"".join(self._parts)
                answer = _answer(self._status, body, self._encodings, self._cap, self._method)
                self._finish(answer, keep=True)
                return
            elif isinstance(event, h11.ConnectionClosed):
                return
            # h11.InformationalResponse (1xx): the real answer follows.

    def _response(self, event: h11.Response) -> None:
        self._status = status = event.status_code
        location = length = None
        self._encodings = b""
        self._keep_for = self._pool.idle_timeout
        for name, value in event.headers:
            if name == b"content-length":
                length = value
            elif name == b"content-encoding":
                self._encodings = value
            elif name == b"location":
                location = value
            elif name == b"keep-alive":
                announced = _keep_alive_timeout(value)
                if announced is not None:
                    self._keep_for = min(self._keep_for, announced - KEEP_ALIVE_MARGIN)
        if status == 408 and self.served:
            # Sent by some servers as they close an idle connection: the
            # request crossed it and was not read.
            self._fail(_StaleConnection(Failure(ResponseNeverReceived(["HTTP 408"]))))
        elif skips_body(status):
            self._finish(HttpAnswer(status, location or b"", b""), keep=False)
        elif length is not None and int(length) > self._cap:
            self._over_cap(int(length))

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
        self.served += 1
        if keep and self._keep_for > 0 and self._idle_cleanly():
            self._h11.start_next_cycle()
            self.usable = True
            self.idle_until = self._pool._reactor.seconds() + self._keep_for
            self._pool._reusable(self)
        else:
            self.abort()
        assert pending is not None
        pending.callback(answer)

    def _idle_cleanly(self) -> bool:
        """Both sides done, and nothing sent beyond the answer (bytes past its
        end would be read as the next request's answer)."""
        h = self._h11
        return h.our_state is h11.DONE and h.their_state is h11.DONE and not h.trailing_data[0]

    def _fail(self, error: Exception) -> None:
        pending, self._pending = self._pending, None
        self._parts = []
        self.abort()
        if pending is not None:
            pending.errback(error)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.usable = False
        self._pool._closed(self)
        if self._pending is not None and self._answered:
            # A body delimited by the end of the connection ends here.
            self._feed(b"", reason)
        if self._pending is not None:
            if self._answered:
                error: Exception = ResponseFailed([reason])
            elif self.served:
                error = _StaleConnection(reason)
            else:
                error = ResponseNeverReceived([reason])
            self._fail(error)
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
            {
                b"Content-Type": [b"application/json"],
                b"Accept-Encoding": [ACCEPT_ENCODING],
                b"User-Agent": [user_agent],
            }
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
        encodings = b",".join(response.headers.getRawHeaders(b"content-encoding") or [])
        return _answer(status, content, encodings, self._cap, method)

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

"""The client against HTTP servers we did not write: the bytes real servers
and proxies send (idle connections closed under a request, ``Connection:
close``, HTTP/1.0, chunks, gzip, 1xx, answers in dribbles, too slow, without
a body, proxy error pages, bytes past the end, resets; some over TLS too),
served byte by byte by :mod:`tests.raw_http`. Each test checks what a user
sees: the right token or the right error, promptly, no task created twice, no
connection left open.
"""

from __future__ import annotations

import gzip
import json
import re
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from twisted.internet import defer
from twisted.internet.task import deferLater

from scrapy_vastcaptcha.api import (
    PollSchedule,
    ProtocolError,
    RecaptchaV2Task,
    RetryPolicy,
    TaskFailedError,
    TransportError,
    VastCaptchaClient,
)
from scrapy_vastcaptcha.api._http import MAX_IDLE, LeanHttp
from scrapy_vastcaptcha.api.client import MAX_ANSWER_BYTES
from tests import client_reads, raw_http
from tests.raw_http import RawServer, Req, answer_json, chunked, gzipped, message, send
from tests.test_client import Events

KEY = "vastCap_raw_0123456789SECRETSECRET"
FAST_RETRY = RetryPolicy(max_retries=3, base=0.01, cap=0.02, connect_retries=1)
NO_RETRY = RetryPolicy(max_retries=0, base=0.01, cap=0.01, connect_retries=0)
QUICK = {"recaptcha-v2": PollSchedule(first_wait=0.0, interval=0.01)}
READY = {"status": "ready", "solution": {"gRecaptchaResponse": "the-token"}}
PROCESSING = {"status": "processing"}


@pytest.fixture
def server() -> Iterator[RawServer]:
    yield from raw_http.serve()


@pytest.fixture
def tls_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RawServer]:
    trusted = tmp_path / "trusted.pem"
    monkeypatch.setenv("SSL_CERT_FILE", str(trusted))  # the client trusts this one certificate
    yield from raw_http.serve(trusted_pem=trusted)


@pytest.fixture(params=["server", "tls_server"], ids=["http", "tls"])
def either_server(request: pytest.FixtureRequest) -> RawServer:
    """:func:`server`, then :func:`tls_server`: for what must hold over both."""
    found: RawServer = request.getfixturevalue(request.param)
    return found


def task(n: int = 0) -> RecaptchaV2Task:
    return RecaptchaV2Task(website_url=f"https://shop.example/p/{n}", website_key="sitekey-raw")


def client_for(server: RawServer, **kwargs: Any) -> VastCaptchaClient:
    options: dict[str, Any] = {"schedules": QUICK, "retry": FAST_RETRY, "http_timeout": 5.0}
    options.update(kwargs)
    return VastCaptchaClient(KEY, server.url, **options)


def turn() -> defer.Deferred[None]:
    """One pass of the reactor (not a sleep: nothing is waited for)."""
    from twisted.internet import reactor

    return deferLater(reactor, 0, lambda: None)


async def solve_and_close(client: VastCaptchaClient, events: Events | None = None) -> Any:
    try:
        return await client.solve(task())
    finally:
        await client.close()
        await turn()  # events are delivered on the next turn


async def all_closed(server: RawServer) -> None:
    """Every connection to ``server`` has ended (fails after a deadline)."""
    await server.wait(lambda: not server.open, timeout=5.0)


def retries(events: Events) -> list[Any]:
    return [e for e in events.seen if e.name == "retrying"]


# -- 1. kept-alive connections the server closes ----------------------------------


#: How a server whose idle timer fires as a request arrives ends the connection
#: with the request read but not served (the client cannot tell it from a close
#: while idle): a FIN, a reset, or a 408 said as it closes.
IDLE_CLOSES: dict[str, raw_http.Handler] = {
    "fin": lambda req: req.conn.close(),
    "rst": lambda req: req.conn.reset(),
    "408": send(message(b"", 408, headers=[("Connection", "close")]), then_close=True),
}


@pytest.mark.parametrize("dropping", IDLE_CLOSES.values(), ids=IDLE_CLOSES.keys())
@pytest_twisted.ensureDeferred
async def test_a_poll_crossing_the_servers_idle_close_is_sent_again_quietly(
    either_server: RawServer, dropping: raw_http.Handler
) -> None:
    ready_on_third = iter([False, False, True])

    def poll(req: Req) -> None:
        if req.index:
            dropping(req)
        else:
            answer_json(READY if next(ready_on_third) else PROCESSING)(req)

    either_server.on("getTaskResult", poll)
    events = Events()
    client = client_for(either_server, on_event=events)
    result = await solve_and_close(client, events)
    assert result.token == "the-token"
    assert retries(events) == []  # nothing for the user to see
    assert either_server.methods().count("createTask") == 1
    # Each of the 3 polls: once on the kept connection (dropped) and once on a fresh one.
    dropped = [r for r in either_server.requests if r.method == "getTaskResult" and r.index]
    assert len(dropped) == 3
    assert either_server.methods().count("getTaskResult") == 6
    await all_closed(either_server)


@pytest_twisted.ensureDeferred
async def test_a_poll_is_sent_again_once_only(server: RawServer) -> None:
    client = client_for(server, retry=NO_RETRY)
    await client.get_balance()  # a kept connection to start from
    # From now on every request is read and dropped, fresh connection or not.
    server.on("getBalance", lambda req: req.conn.close())
    with pytest.raises(TransportError):
        await client.get_balance()
    await client.close()
    # The first call, then the second on the kept connection and once on a fresh one.
    assert server.methods() == ["getBalance"] * 3
    await all_closed(server)


@pytest_twisted.ensureDeferred
async def test_create_task_never_goes_out_on_a_kept_connection(server: RawServer) -> None:
    server.on("getTaskResult", answer_json(PROCESSING), answer_json(READY))

    # A server that drops every request on a kept connection: a createTask
    # there could have been read (and billed) before the close.
    def create(req: Req) -> None:
        if req.index:
            req.conn.close()
        else:
            answer_json({"taskId": f"t-{len(server.requests)}"})(req)

    server.on("createTask", create)
    client = client_for(server)
    await client.get_balance()
    first = await client.solve(task(1))
    second = await client.solve(task(2))
    await client.close()
    assert (first.token, second.token) == ("the-token", "the-token")
    created = [r for r in server.requests if r.method == "createTask"]
    assert [r.index for r in created] == [0, 0]
    assert first.attempts == second.attempts == 1
    await all_closed(server)


@pytest_twisted.ensureDeferred
async def test_an_idle_connection_the_server_closes_is_forgotten(server: RawServer) -> None:
    def answer_then_close_when_idle(req: Req) -> None:
        answer_json({"balance": 1.5})(req)
        req.conn.close()  # a FIN right after the answer, no "Connection: close"

    server.on("getBalance", answer_then_close_when_idle)
    events = Events()
    client = client_for(server, on_event=events)
    for _ in range(3):
        assert await client.get_balance() == 1.5
        await all_closed(server)
    await client.close()
    await turn()
    assert retries(events) == []
    assert server.accepted == 3


@pytest_twisted.ensureDeferred
async def test_connection_close_answers_are_read_and_the_connection_let_go(
    server: RawServer,
) -> None:
    closing = [("Connection", "close")]
    server.on("createTask", send(message(b'{"taskId": "t-1"}', headers=closing), then_close=True))
    server.on(
        "getTaskResult",
        send(message(json.dumps(PROCESSING).encode(), headers=closing)),  # server never closes
        send(message(json.dumps(READY).encode(), headers=closing), then_close=True),
    )
    client = client_for(server)
    result = await solve_and_close(client)
    assert result.token == "the-token"
    assert server.accepted == 3
    assert [r.index for r in server.requests] == [0, 0, 0]
    await all_closed(server)


# -- 2. framing ---------------------------------------------------------------------


READY_BYTES = json.dumps(READY).encode()
GZIPPED_READY = gzip.compress(READY_BYTES)


@pytest.mark.parametrize(
    ("answer", "closes"),
    [
        (message(READY_BYTES, version="1.0", length=False), True),
        (message(READY_BYTES, length=False), True),
        (message(READY_BYTES, headers=[("Connection", "close")], version="1.0"), True),
        (
            message(
                b"5;ext=1\r\n"
                + READY_BYTES[:5]
                + b"\r\n"
                + chunked(READY_BYTES[5:], trailer=b"X-Trailer: yes\r\n"),
                headers=[("Transfer-Encoding", "chunked")],
                length=False,
            ),
            False,
        ),
        (
            message(b"", 100)
            + message(b"", 103, headers=[("Link", "</x>")])
            + message(READY_BYTES),
            False,
        ),
    ],
    ids=["http10-close-delimited", "http11-close-delimited", "http10-length", "chunked", "1xx"],
)
@pytest_twisted.ensureDeferred
async def test_every_framing_gives_the_token(
    server: RawServer, answer: bytes, closes: bool
) -> None:
    server.on("getTaskResult", send(answer, then_close=closes))
    events = Events()
    client = client_for(server, on_event=events)
    result = await solve_and_close(client, events)
    assert result.token == "the-token"
    assert retries(events) == []
    await all_closed(server)


@pytest_twisted.ensureDeferred
async def test_an_answer_in_one_byte_writes_is_read(server: RawServer) -> None:
    data = message(b"", 100) + message(
        chunked(READY_BYTES), headers=[("Transfer-Encoding", "chunked")], length=False
    )

    def dribble(req: Req) -> None:
        for i in range(len(data)):
            _reactor().callLater(i * 0.001, req.conn.write, data[i : i + 1])

    server.on("getTaskResult", dribble)
    client = client_for(server)
    result = await solve_and_close(client)
    assert result.token == "the-token"


@pytest_twisted.ensureDeferred
async def test_bytes_past_the_end_of_an_answer_are_never_read_as_the_next(
    server: RawServer,
) -> None:
    # After the poll's answer, a whole second answer: a confused server or a
    # proxy desynchronised. Read on the same connection, it would be taken
    # for the next poll's answer.
    smuggled = message(b'{"status":"ready","solution":{"gRecaptchaResponse":"SMUGGLED"}}')
    server.on(
        "getTaskResult",
        send(message(json.dumps(PROCESSING).encode()) + smuggled),
        answer_json(READY),
    )
    client = client_for(server)
    result = await solve_and_close(client)
    assert result.token == "the-token"
    polls = [r for r in server.requests if r.method == "getTaskResult"]
    assert len(polls) == 2
    assert polls[0].conn is not polls[1].conn
    await all_closed(server)


# -- 3. encodings -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        gzipped(READY),
        message(zlib.compress(READY_BYTES), headers=[("Content-Encoding", "deflate")]),
        message(zlib.compress(READY_BYTES)[2:-4], headers=[("Content-Encoding", "deflate")]),
        message(gzip.compress(READY_BYTES), headers=[("Content-Encoding", "identity, gzip")]),
        message(
            chunked(GZIPPED_READY[:7], GZIPPED_READY[7:]),
            headers=[("Content-Encoding", "gzip"), ("Transfer-Encoding", "chunked")],
            length=False,
        ),
    ],
    ids=["gzip", "deflate-zlib", "deflate-raw", "identity-gzip", "gzip-chunked"],
)
@pytest_twisted.ensureDeferred
async def test_compressed_answers_are_decoded_though_not_asked_for(
    server: RawServer, answer: bytes
) -> None:
    server.on("getTaskResult", send(answer))
    client = client_for(server)
    result = await solve_and_close(client)
    assert result.token == "the-token"
    assert server.requests[-1].headers["accept-encoding"] == "identity"
    assert server.accepted == 1  # still kept alive


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (
            message(
                gzip.compress(b" " * (MAX_ANSWER_BYTES + 1)), headers=[("Content-Encoding", "gzip")]
            ),
            "larger than",
        ),
        (
            message(
                gzip.compress(b"\0" * 64 * 1024 * 1024), headers=[("Content-Encoding", "gzip")]
            ),
            "larger than",
        ),
        (
            message(GZIPPED_READY[:10] + b"\xff" * 20, headers=[("Content-Encoding", "gzip")]),
            "corrupt",
        ),
        (
            message(gzip.compress(READY_BYTES)[:-10], headers=[("Content-Encoding", "gzip")]),
            "cut short",
        ),
        (message(b"\xce\xb2\x00", headers=[("Content-Encoding", "br")]), "'br'"),
    ],
    ids=["over-cap", "bomb", "corrupt", "truncated", "brotli"],
)
@pytest_twisted.ensureDeferred
async def test_undecodable_answers_are_protocol_errors(
    server: RawServer, answer: bytes, error: str
) -> None:
    server.on("getBalance", send(answer))
    client = client_for(server, retry=NO_RETRY)
    started = time.monotonic()
    with pytest.raises(ProtocolError, match=error):
        await client.get_balance()
    assert time.monotonic() - started < 2.0
    await client.close()
    await all_closed(server)


@pytest_twisted.ensureDeferred
async def test_a_compressed_error_page_is_reported_by_its_status(server: RawServer) -> None:
    server.on(
        "createTask",
        send(message(b"\x1f\x8bnot gzip", 418, headers=[("Content-Encoding", "gzip")])),
    )
    client = client_for(server)
    with pytest.raises(TaskFailedError) as info:
        await solve_and_close(client)
    assert info.value.code == "HTTP_418"
    assert server.methods() == ["createTask"]


#: An answer cut 10 bytes before its end.
PARTIAL = message(READY_BYTES)[:-10]


def partly(held: list[Req]) -> raw_http.Handler:
    """Write :data:`PARTIAL` and hold the request (in ``held``)."""

    def handler(req: Req) -> None:
        held.append(req)
        req.conn.write(PARTIAL)

    return handler


# -- 4. statuses and bodies -------------------------------------------------------------------

PROXY_PAGE = b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"


@pytest.mark.parametrize("in_chunks", [False, True])
@pytest_twisted.ensureDeferred
async def test_a_proxy_502_page_is_retried_on_a_new_connection(
    server: RawServer, in_chunks: bool
) -> None:
    page = (
        message(
            chunked(PROXY_PAGE),
            502,
            headers=[("Content-Type", "text/html"), ("Transfer-Encoding", "chunked")],
            length=False,
        )
        if in_chunks
        else message(PROXY_PAGE, 502, headers=[("Content-Type", "text/html")])
    )
    server.on("getTaskResult", send(page), answer_json(READY))
    events = Events()
    client = client_for(server, on_event=events)
    result = await solve_and_close(client, events)
    assert result.token == "the-token"
    (retry,) = retries(events)
    assert isinstance(retry.error, TransportError)
    assert "HTTP 502" in str(retry.error)
    assert server.methods().count("createTask") == 1
    polls = [r for r in server.requests if r.method == "getTaskResult"]
    assert polls[0].conn is not polls[1].conn
    await all_closed(server)


@pytest.mark.parametrize(
    "answer",
    [
        message(b"", 204),
        message(b"", 200),
        message(b"", 200, headers=[("Connection", "close")], length=False),
    ],
    ids=["204", "200-empty", "200-close-empty"],
)
@pytest_twisted.ensureDeferred
async def test_a_bodiless_success_to_create_task_counts_as_a_task(
    server: RawServer, answer: bytes
) -> None:
    server.on("createTask", send(answer, then_close=True))
    client = client_for(server, max_task_attempts=2)
    started = time.monotonic()
    with pytest.raises(ProtocolError) as info:
        await solve_and_close(client)
    assert time.monotonic() - started < 2.0
    assert server.methods() == ["createTask"] * 2
    assert info.value.tasks_created == 2
    await all_closed(server)


@pytest_twisted.ensureDeferred
async def test_a_304_is_not_taken_for_a_redirect(server: RawServer) -> None:
    server.on("createTask", send(message(b"", 304, length=False)))
    client = client_for(server)
    with pytest.raises(TaskFailedError, match="HTTP_304"):
        await solve_and_close(client)


def trickle_balance(req: Req) -> None:
    """The head at once, then the body a byte every 0.1 s."""
    body = json.dumps({"balance": 2.0}).encode()
    req.conn.write(message(body)[: -len(body)])
    for i in range(len(body)):
        _reactor().callLater(0.1 * (i + 1), req.conn.write, body[i : i + 1])


@pytest.mark.parametrize(
    ("answer", "timeout"),
    [
        # Says 40 bytes are coming, sends none, keeps the connection open.
        (send(message(b"", 200, headers=[("Content-Length", "40")], length=False)), 0.3),
        (trickle_balance, 0.5),
    ],
    ids=["head-like-never-sends-its-body", "body-slower-than-the-timeout"],
)
@pytest_twisted.ensureDeferred
async def test_an_answer_not_whole_within_the_timeout_fails_promptly(
    server: RawServer, answer: raw_http.Handler, timeout: float
) -> None:
    server.on("getBalance", answer)
    client = client_for(server, retry=NO_RETRY, http_timeout=timeout)
    started = time.monotonic()
    with pytest.raises(TransportError, match=re.escape(f"no answer within {timeout} s")):
        await client.get_balance()
    took = time.monotonic() - started
    await client.close()
    assert timeout <= took < timeout + 1.0
    await all_closed(server)


@pytest_twisted.ensureDeferred
async def test_a_reset_mid_body_of_a_poll_is_retried(
    either_server: RawServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    arrivals = client_reads.watch(monkeypatch)
    held: list[Req] = []
    either_server.on("getTaskResult", partly(held), answer_json(READY))
    events = Events()
    client = client_for(either_server, on_event=events)
    solving = client.solve(task())
    await arrivals.wait_for(PARTIAL)
    held[0].conn.reset()
    try:
        result = await solving
    finally:
        await client.close()
        await turn()
    assert result.token == "the-token"
    (retry,) = retries(events)
    # A transport error to retry, over TLS too: not a TlsError blaming the certificate.
    assert type(retry.error) is TransportError
    assert either_server.methods().count("createTask") == 1
    await all_closed(either_server)


@pytest_twisted.ensureDeferred
async def test_a_create_task_whose_answer_is_lost_is_counted(
    server: RawServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    arrivals = client_reads.watch(monkeypatch)
    held: list[Req] = []
    server.on("createTask", partly(held), answer_json({"taskId": "t-2"}))
    server.on("getTaskResult", answer_json(READY))
    client = client_for(server)
    solving = client.solve(task())
    await arrivals.wait_for(PARTIAL)
    held[0].conn.reset()
    result = await solving
    await client.close()
    # The first task may exist (and be billed): every createTask sent is counted.
    assert result.attempts == server.methods().count("createTask")


# -- 5. many connections, no pipelining, cancellation ------------------------------------------


@pytest_twisted.ensureDeferred
async def test_one_request_at_a_time_on_each_connection(server: RawServer) -> None:
    polls: dict[str, int] = {}

    def poll(req: Req) -> None:
        seen = polls[req.body["taskId"]] = polls.get(req.body["taskId"], 0) + 1
        answer_json(READY if seen == 3 else PROCESSING)(req)

    server.on("getTaskResult", poll)
    client = client_for(server, max_connections=4)
    try:
        results = await defer.gatherResults([client.solve(task(n)) for n in range(40)])
    finally:
        await client.close()
    assert [r.token for r in results] == ["the-token"] * 40
    assert server.pipelined == 0
    assert server.methods().count("createTask") == 40
    await all_closed(server)


@pytest_twisted.ensureDeferred
async def test_idle_connections_are_capped_and_all_closed_at_the_end(server: RawServer) -> None:
    burst = 3 * MAX_IDLE
    held: list[Req] = []

    def hold_until_all_arrived(req: Req) -> None:
        held.append(req)
        if len(held) == burst:
            for waiting in held:
                answer_json({"balance": 3.0})(waiting)

    server.on("getBalance", hold_until_all_arrived)
    client = client_for(server, max_connections=burst)
    balances = await defer.gatherResults([client.get_balance() for _ in range(burst)])
    assert balances == [3.0] * burst
    assert server.accepted == burst
    await server.wait(lambda: len(server.open) <= MAX_IDLE, timeout=5.0)
    assert len(server.open) == MAX_IDLE
    await client.close()
    await all_closed(server)


@pytest_twisted.ensureDeferred
async def test_a_kept_connection_is_let_go_before_the_servers_keep_alive_timeout(
    server: RawServer,
) -> None:
    # The server announces it will close idle connections after 1.5 s.
    server.on(
        "getBalance",
        answer_json({"balance": 1.0}, headers=[("Keep-Alive", "timeout=1.5, max=100")]),
    )
    http = LeanHttp(
        _reactor(),
        server.url,
        methods=("getBalance",),
        cap=1024,
        connect_timeout=1.0,
        user_agent=b"test",
    )
    started = time.monotonic()
    await http.post("getBalance", b"{}")
    await http.post("getBalance", b"{}")
    assert server.accepted == 1
    await all_closed(server)  # closed by the client, 1.5 s - 1 s margin after the answer
    assert time.monotonic() - started < 1.4
    await http.close()


@pytest_twisted.ensureDeferred
async def test_connections_idle_past_the_idle_timeout_are_closed(server: RawServer) -> None:
    http = LeanHttp(
        _reactor(),
        server.url,
        methods=("getBalance",),
        cap=1024,
        connect_timeout=1.0,
        user_agent=b"test",
        idle_timeout=0.2,
    )
    await defer.gatherResults([http.post("getBalance", b"{}") for _ in range(3)])
    assert len(server.open) == 3
    await all_closed(server)
    answer = await http.post("getBalance", b"{}")
    assert json.loads(answer.body) == {"balance": 5.0}
    assert server.accepted == 4
    await http.close()
    await all_closed(server)


@pytest_twisted.ensureDeferred
async def test_cancelling_while_the_answer_dribbles_in(
    server: RawServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    arrivals = client_reads.watch(monkeypatch)
    server.on("getTaskResult", partly([]))
    client = client_for(server)
    doomed = client.solve(task())
    await arrivals.wait_for(PARTIAL)
    doomed.cancel()
    with pytest.raises(defer.CancelledError):
        await doomed
    await client.close()
    assert server.methods() == ["createTask", "getTaskResult"]
    await all_closed(server)


def _reactor() -> Any:
    from twisted.internet import reactor

    return reactor


@pytest_twisted.ensureDeferred
async def test_cancelling_while_a_dropped_poll_is_sent_again(server: RawServer) -> None:
    def poll(req: Req) -> None:
        if req.index:
            req.conn.close()  # dropped on the kept connection; held on the fresh one

    server.on("getTaskResult", poll)
    client = client_for(server)
    doomed = client.solve(task())
    await server.wait(
        lambda: any(r.method == "getTaskResult" and not r.index for r in server.requests)
    )
    doomed.cancel()
    with pytest.raises(defer.CancelledError):
        await doomed
    await client.close()
    assert server.methods() == ["createTask", "getTaskResult", "getTaskResult"]
    await all_closed(server)


@pytest_twisted.ensureDeferred
async def test_compressed_answers_are_decoded_through_an_agent_too(server: RawServer) -> None:
    from twisted.web.client import Agent, HTTPConnectionPool

    pool = HTTPConnectionPool(_reactor(), persistent=False)
    server.on("getTaskResult", send(gzipped(READY)))
    client = client_for(server, agent=Agent(_reactor(), pool=pool))
    result = await solve_and_close(client)
    await pool.closeCachedConnections()
    assert result.token == "the-token"
    assert server.requests[-1].headers["accept-encoding"] == "identity"
    await all_closed(server)

"""The emulator over real HTTP, as a subprocess started by the pytest plugin's fixtures."""

from __future__ import annotations

import http.client
import json
import signal
import socket
import time
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from typing import Any, cast

import pytest
from treq.testing import RequestTraversalAgent
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock

from scrapy_vastcaptcha.api import RecaptchaV2Task, VastCaptchaClient
from scrapy_vastcaptcha.api.client import SolveResult
from scrapy_vastcaptcha.emulator import EmulatorConfig, EmulatorState, start_emulator
from scrapy_vastcaptcha.emulator.server import PendingAnswers, build_site_root
from scrapy_vastcaptcha.testing import (
    ControlError,
    EmulatorHandle,
    ServerProcess,
    ServerStartError,
)

SITE = "https://shop.example/account/login"
SITEKEY = "0x4AAAAAAADnPIDROrmt1Wwj"
TURNSTILE = {"type": "TurnstileTask", "websiteURL": SITE, "websiteKey": SITEKEY}


def post_raw(
    emulator: EmulatorHandle, path: str, body: bytes, content_type: str = "application/json"
) -> tuple[int, str, bytes]:
    """POST and return (status, content type, body)."""
    parts = urllib.parse.urlsplit(emulator.url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10.0)
    try:
        connection.request("POST", path, body, {"Content-Type": content_type})
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type") or "", response.read()
    finally:
        connection.close()


def api_body(emulator: EmulatorHandle, **payload: Any) -> bytes:
    return json.dumps({"clientKey": emulator.api_key, **payload}).encode()


def wait_for(condition: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Re-check ``condition`` until it returns something truthy, or fail at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, "condition not met before the deadline"
        time.sleep(0.05)


def finished(emulator: EmulatorHandle, task_id: str) -> dict[str, Any]:
    """getTaskResult once the task is no longer processing."""
    body: dict[str, Any] = wait_for(
        lambda: (
            (
                (result := emulator.call("getTaskResult", {"taskId": task_id}))["status"]
                != "processing"
            )
            and result
        )
    )
    return body


@pytest.fixture
def emulator(vastcaptcha_emulator: EmulatorHandle) -> EmulatorHandle:
    return vastcaptcha_emulator


# -- API methods ---------------------------------------------------------------


def test_get_balance(emulator: EmulatorHandle) -> None:
    assert emulator.call("getBalance") == {"balance": 10.0}
    body = emulator.call("getBalance", {"clientKey": "not-a-key"})
    assert body["error"]["errorCode"] == "ERROR_KEY_DOES_NOT_EXIST"


def test_create_task_and_poll_until_ready(emulator: EmulatorHandle) -> None:
    created = emulator.call("createTask", {"task": {**TURNSTILE, "userAgent": "UA/1"}})
    task_id = created["taskId"]
    assert emulator.call("getTaskResult", {"taskId": task_id}) == {"status": "processing"}
    result = finished(emulator, task_id)
    assert result["status"] == "ready"
    assert result["solution"]["token"].startswith("0.")
    assert result["solution"]["userAgent"] == "UA/1"
    assert emulator.call("getBalance") == {"balance": 9.998}


def test_validation_error_is_http_200(emulator: EmulatorHandle) -> None:
    status, content_type, body = post_raw(emulator, "/api/solver/createTask", b"{not json")
    assert (status, content_type) == (200, "application/json")
    assert json.loads(body)["error"]["errorCode"] == "ERROR_VALIDATION_FAILED"


def test_api_methods_only_accept_post(emulator: EmulatorHandle) -> None:
    parts = urllib.parse.urlsplit(emulator.url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10.0)
    try:
        connection.request("GET", "/api/solver/getBalance")
        response = connection.getresponse()
        response.read()
        assert response.status == 405
    finally:
        connection.close()


def test_counters_and_polls_per_task(emulator: EmulatorHandle) -> None:
    first = emulator.call("createTask", {"task": TURNSTILE})["taskId"]
    emulator.call("createTask", {"task": TURNSTILE})
    for _ in range(3):
        emulator.call("getTaskResult", {"taskId": first})
    emulator.call("getBalance", {"clientKey": "bad"})
    records = {record["task_id"]: record for record in emulator.tasks()}
    assert records[first]["polls"] == 3
    assert records[first]["account"] == "vastCap_"
    assert records[first]["fields"] == TURNSTILE
    stats = emulator.stats()
    assert stats["calls"] == {"createTask": 2, "getTaskResult": 3, "getBalance": 1}
    assert stats["errors"] == {"ERROR_KEY_DOES_NOT_EXIST": 1}
    assert stats["tasks"]["created"] == 2
    assert stats["polls"]["total"] == 3


# -- faults --------------------------------------------------------------------


def test_http_5xx_fault(emulator: EmulatorHandle) -> None:
    emulator.configure(faults={"http_5xx": 1.0})
    status, content_type, body = post_raw(emulator, "/api/solver/getBalance", api_body(emulator))
    assert status in (502, 503)
    assert content_type == "text/html"
    assert body.startswith(b"<html>")
    assert emulator.stats()["faults"] == {"http_5xx": 1}


def test_malformed_fault(emulator: EmulatorHandle) -> None:
    emulator.configure(faults={"malformed": 1.0})
    status, _, body = post_raw(emulator, "/api/solver/getBalance", api_body(emulator))
    assert status == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(body)


def test_drop_fault_closes_the_connection(emulator: EmulatorHandle) -> None:
    emulator.configure(faults={"drop": 1.0})
    with pytest.raises((ConnectionError, http.client.HTTPException)):
        post_raw(emulator, "/api/solver/getBalance", api_body(emulator))
    assert emulator.stats()["faults"] == {"drop": 1}


def test_slow_fault_delays_the_answer(emulator: EmulatorHandle) -> None:
    emulator.configure(faults={"slow": 1.0}, slow_delay=0.4)
    started = time.monotonic()
    status, _, body = post_raw(emulator, "/api/solver/getBalance", api_body(emulator))
    assert time.monotonic() - started >= 0.4
    assert (status, json.loads(body)) == (200, {"balance": 10.0})


def test_unsolvable_fault(emulator: EmulatorHandle) -> None:
    emulator.configure(faults={"unsolvable": 1.0})
    task_id = emulator.call("createTask", {"task": TURNSTILE})["taskId"]
    result = finished(emulator, task_id)
    assert result["status"] in ("failed", "error")
    assert result["error"]["errorCode"] == "ERROR_CAPTCHA_UNSOLVABLE"


def test_faults_hit_only_the_configured_methods(emulator: EmulatorHandle) -> None:
    emulator.configure(faults={"http_5xx": 1.0}, fault_methods=["getTaskResult"])
    status, _, _ = post_raw(emulator, "/api/solver/getBalance", api_body(emulator))
    assert status == 200
    status, _, _ = post_raw(emulator, "/api/solver/getTaskResult", api_body(emulator, taskId="x"))
    assert status >= 500


# -- control API ---------------------------------------------------------------


def test_configure_reports_and_validates_settings(emulator: EmulatorHandle) -> None:
    assert emulator.config()["solve_time"] == [0.3, 0.8]
    new = emulator.configure(solve_time=[0.1, 0.2], capacity=5, faults={"drop": 0.5})
    assert (new["solve_time"], new["capacity"], new["faults"]["drop"]) == ([0.1, 0.2], 5, 0.5)
    with pytest.raises(ControlError, match=r"400.*colour"):
        emulator.configure(colour="blue")
    emulator.reset()
    assert emulator.config()["capacity"] == 1_000_000


def test_capacity_over_http(emulator: EmulatorHandle) -> None:
    emulator.configure(capacity=1, solve_time=30)
    emulator.call("createTask", {"task": TURNSTILE})
    body = emulator.call("createTask", {"task": TURNSTILE})
    assert body["error"]["errorCode"] == "ERROR_NO_SLOT_AVAILABLE"


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"balance": 0}, "ERROR_INSUFFICIENT_BALANCE"),
        ({"disabled": True}, "ERROR_ACCOUNT_DISABLED"),
        ({"ip_allowed": False}, "ERROR_IP_NOT_ALLOWED"),
        ({"banned": True}, "ERROR_IP_BANNED"),
    ],
)
def test_set_account(emulator: EmulatorHandle, fields: dict[str, Any], code: str) -> None:
    account = emulator.set_account(emulator.api_key, **fields)
    assert account["account"] == emulator.api_key[:8]
    body = emulator.call("createTask", {"task": TURNSTILE})
    assert body["error"]["errorCode"] == code


def test_set_account_refuses_bad_fields(emulator: EmulatorHandle) -> None:
    with pytest.raises(ControlError, match=r"400.*colour"):
        emulator.set_account(emulator.api_key, colour="red")
    with pytest.raises(ControlError, match=r"400.*key"):
        emulator.set_account("", balance=1)


def test_reset_clears_tasks_and_counters(emulator: EmulatorHandle) -> None:
    emulator.call("createTask", {"task": TURNSTILE})
    emulator.reset()
    assert emulator.tasks() == []
    assert emulator.stats()["calls"] == {"createTask": 0, "getTaskResult": 0, "getBalance": 0}


# -- siteverify ----------------------------------------------------------------


def solved_token(emulator: EmulatorHandle) -> str:
    task_id = emulator.call("createTask", {"task": {**TURNSTILE, "cData": "xyz"}})["taskId"]
    token: str = finished(emulator, task_id)["solution"]["token"]
    return token


def test_siteverify_form_encoded_end_to_end(emulator: EmulatorHandle) -> None:
    token = solved_token(emulator)
    form = {"response": token, "sitekey": SITEKEY, "kind": "turnstile", "url": SITE + "?a=1"}
    encoded = urllib.parse.urlencode(form).encode()
    content_type = "application/x-www-form-urlencoded"
    status, _, body = post_raw(emulator, "/siteverify", encoded, content_type)
    answer = json.loads(body)
    assert (status, answer["success"], answer["cdata"]) == (200, True, "xyz")
    again = json.loads(post_raw(emulator, "/siteverify", encoded, content_type)[2])
    assert again["error-codes"] == ["timeout-or-duplicate"]
    verifications = emulator.stats()["verifications"]
    assert (verifications["succeeded"], verifications["failed"]) == (1, 1)
    record = verifications["records"][0]
    assert record["time"] >= record["ready_at"]


def test_siteverify_json(emulator: EmulatorHandle) -> None:
    token = solved_token(emulator)
    payload = {"response": token, "sitekey": "other", "kind": "hcaptcha", "url": SITE}
    answer = json.loads(post_raw(emulator, "/siteverify", json.dumps(payload).encode())[2])
    assert answer["success"] is False
    assert answer["error-codes"] == ["sitekey-mismatch", "kind-mismatch"]
    status, _, body = post_raw(emulator, "/siteverify", b"[not json")
    assert (status, json.loads(body)["error-codes"]) == (400, ["bad-request"])


# -- command line --------------------------------------------------------------


@pytest.fixture
def cli_process() -> Iterator[ServerProcess]:
    process = ServerProcess(
        "emulator",
        [
            *("--solve-time", "0.1:0.2", "--capacity", "3"),
            *("--fault", "http_5xx=0.25", "--fault", "proxy_failure=0.5"),
        ],
    )
    yield process
    process.stop()


def test_cli_prints_url_first(cli_process: ServerProcess) -> None:
    # How fast it starts is a benchmark's business, not a test's (machines vary).
    url = cli_process.start()
    host, port = urllib.parse.urlsplit(url).hostname, urllib.parse.urlsplit(url).port
    assert host == "127.0.0.1"
    assert cli_process.first_line == (
        f"VastCap emulator serving on {url} (API URL: {url}/api/solver)"
    )
    with socket.create_connection((host, port or 0), timeout=5):
        pass
    config = EmulatorHandle(url).config()
    assert config["solve_time"] == [0.1, 0.2]
    assert config["faults"]["http_5xx"] == 0.25
    assert config["faults"]["proxy_failure"] == 0.5
    assert config["capacity"] == 3


def test_cli_exits_zero_on_sigterm(cli_process: ServerProcess) -> None:
    cli_process.start()
    assert cli_process.returncode is None
    assert cli_process.stop() == 0


def test_cli_exits_zero_on_sigint(cli_process: ServerProcess) -> None:
    cli_process.start()
    assert cli_process.stop(sig=signal.SIGINT) == 0


def test_launcher_reports_stderr_when_the_port_is_taken() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        with pytest.raises(ServerStartError, match=r"(?s)exited without.*cannot listen"):
            ServerProcess("emulator", ["--port", port]).start()


# -- in-process ----------------------------------------------------------------


def test_start_emulator_on_the_running_reactor() -> Deferred[None]:
    # pytest-twisted runs the reactor until a Deferred returned by a test fires;
    # its decorators are untyped, which strict mypy refuses
    return Deferred.fromCoroutine(_serve_in_process())


async def _serve_in_process() -> None:
    import treq
    from twisted.internet import reactor
    from twisted.web.client import HTTPConnectionPool

    emulator = start_emulator(EmulatorConfig(solve_time=(0.0, 0.0)))
    pool = HTTPConnectionPool(reactor, persistent=False)
    try:
        assert emulator.url.startswith("http://127.0.0.1:")
        assert emulator.api_url == emulator.url + "/api/solver"
        body = {"clientKey": "vastCap_in_process", "task": TURNSTILE}
        response = await treq.post(emulator.api_url + "/createTask", json=body, pool=pool)
        task_id = (await response.json())["taskId"]
        body = {"clientKey": "vastCap_in_process", "taskId": task_id}
        response = await treq.post(emulator.api_url + "/getTaskResult", json=body, pool=pool)
        assert (await response.json())["status"] == "ready"
        assert emulator.state.stats()["tasks"]["delivered"] == 1
    finally:
        await emulator.stop()


def test_the_resource_tree_serves_an_in_memory_agent() -> None:
    # The README's recipe: treq's in-memory agent over build_site_root, on a fake clock,
    # driven by the project's client; unknown paths and other verbs answer there too.
    clock = Clock()
    clock.advance(1_000.0)
    state = EmulatorState(EmulatorConfig(solve_time=(12.0, 18.0)), clock=clock.seconds)
    agent = RequestTraversalAgent(build_site_root(state, PendingAnswers(cast(Any, clock))))
    client = VastCaptchaClient(
        EmulatorHandle.api_key, "https://vastcap.test/api/solver", agent=agent, reactor=clock
    )
    task = RecaptchaV2Task(website_url="https://shop.example/", website_key="sitekey-demo-1")
    result = client.solve(task)
    while not result.called:
        agent.flush()
        pending: Sequence[Any] = clock.getDelayedCalls()
        clock.advance(min(c.getTime() for c in pending) - clock.seconds())
    solved = result.result
    assert isinstance(solved, SolveResult)
    assert solved.token.startswith("03A")
    assert state.stats()["tasks"]["delivered"] == 1

    answers: list[tuple[int, dict[str, Any]]] = []

    def keep(response: Any) -> Deferred[None]:
        import treq

        body: Deferred[Any] = treq.json_content(response)
        return body.addCallback(lambda data: answers.append((response.code, data)))

    for verb, path in ((b"GET", b"/api/solver/getBalance"), (b"POST", b"/api/solver/nope")):
        agent.request(verb, b"https://vastcap.test" + path).addCallback(keep)
        agent.flush()
    assert [(code, data["error"]["errorCode"]) for code, data in answers] == [
        (405, "ERROR_METHOD_NOT_ALLOWED"),
        (404, "ERROR_NO_SUCH_METHOD"),
    ]
    client.close()

"""The emulator against the API reference, point by point, over real HTTP.

Each test pins one statement of /work/shared/reference/vastcap-api.md (quoted
in its docstring, "seed" meaning the service's own getTaskResult page) or, where the
reference is silent, the emulator's documented choice. Requests are plain
``http.client`` calls, as a client written by someone else would send them;
the emulator runs in its own process (the pytest plugin's fixture).
"""

from __future__ import annotations

import base64
import http.client
import json
import time
import urllib.parse
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from scrapy_vastcaptcha.testing import EmulatorHandle

SITE = "https://shop.example/account/login"
V2_KEY = "6LeIxAcTAAAAAJcZVRqyHh71UMIEGNQ_MXjiZKhI"
H_KEY = "10000000-ffff-ffff-ffff-000000000001"
T_KEY = "0x4AAAAAAADnPIDROrmt1Wwj"
# 1033 bytes: padded, with "+" and "/" in its base64
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4 + b"\x00").decode()
UA = "Mozilla/5.0 (X11; Linux x86_64) Reference/1.0"
PROXY = "login:secret@proxy.example:3128"
METHODS = ("createTask", "getTaskResult", "getBalance")

TASKS: dict[str, dict[str, Any]] = {
    "RecaptchaV2Task": {"websiteURL": SITE, "websiteKey": V2_KEY, "isInvisible": True},
    "RecaptchaV3Task": {
        "websiteURL": SITE,
        "websiteKey": V2_KEY,
        "pageAction": "login",
        "minScore": 0.7,
    },
    "HCaptchaTask": {
        "websiteURL": SITE,
        "websiteKey": H_KEY,
        "invisible": True,
        "enterprise": True,
        "rqdata": "rq-data",
    },
    "TurnstileTask": {"websiteURL": SITE, "websiteKey": T_KEY, "invisible": False},
    "FunCaptchaTask": {
        "websiteURL": SITE,
        "websiteKey": "DE0B0BB7-1EE4-4D70-1853-31B835D4506B",
        "data": {"blob": "blob-data", "custom_cookies": {"session": "abc"}},
    },
    "ImageToTextTask": {"body": PNG},
}


def full_task(type_: str, **extra: Any) -> dict[str, Any]:
    return {"type": type_, **TASKS[type_], **extra}


class Reply:
    """One HTTP answer: status, headers and the body decoded as JSON."""

    def __init__(self, status: int, headers: dict[str, str], raw: bytes) -> None:
        self.status = status
        self.headers = headers
        self.raw = raw

    @property
    def json(self) -> Any:
        return json.loads(self.raw)

    @property
    def error_code(self) -> str:
        code: str = self.json["error"]["errorCode"]
        return code


def request(
    emulator: EmulatorHandle,
    path: str,
    body: bytes | None = None,
    *,
    verb: str = "POST",
    headers: dict[str, str] | None = None,
) -> Reply:
    parts = urllib.parse.urlsplit(emulator.url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10.0)
    try:
        connection.request(verb, path, body, headers or {})
        response = connection.getresponse()
        found = {name.lower(): value for name, value in response.getheaders()}
        return Reply(response.status, found, response.read())
    finally:
        connection.close()


def api(emulator: EmulatorHandle, method: str, **payload: Any) -> dict[str, Any]:
    """POST one method the documented way; every answer must be HTTP 200 JSON."""
    body = json.dumps({"clientKey": emulator.api_key, **payload}).encode()
    reply = request(
        emulator, f"/api/solver/{method}", body, headers={"Content-Type": "application/json"}
    )
    assert reply.status == 200
    assert reply.headers["content-type"] == "application/json"
    data: dict[str, Any] = reply.json
    return data


def code_of(body: dict[str, Any]) -> str:
    assert set(body) == {"error"}, body
    assert body["error"]["errorId"] == 1
    assert isinstance(body["error"]["errorDescription"], str)
    code: str = body["error"]["errorCode"]
    return code


def create(emulator: EmulatorHandle, task: dict[str, Any]) -> str:
    body = api(emulator, "createTask", task=task)
    assert set(body) == {"taskId"}, body
    task_id: str = body["taskId"]
    return task_id


def wait_until(condition: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Ask ``condition`` again until it gives something truthy; fail at the deadline."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, "not reached before the deadline"
        time.sleep(0.02)
    return value


def outcome(emulator: EmulatorHandle, task_id: str) -> dict[str, Any]:
    """The first getTaskResult answer that is not "processing"."""

    def answer() -> dict[str, Any] | None:
        body = api(emulator, "getTaskResult", taskId=task_id)
        return None if body == {"status": "processing"} else body

    result: dict[str, Any] = wait_until(answer)
    return result


@pytest.fixture
def emulator(vastcaptcha_emulator: EmulatorHandle) -> EmulatorHandle:
    return vastcaptcha_emulator


@pytest.fixture
def instant(emulator: EmulatorHandle) -> EmulatorHandle:
    """Tasks are ready at their first poll."""
    emulator.configure(solve_time=0)
    return emulator


# -- transport -------------------------------------------------------------------


def test_every_method_is_a_post_under_api_solver_answering_json(emulator: EmulatorHandle) -> None:
    """ "Base URL .../api/solver; method name appended ... All are POST with a JSON body";
    "the clients expect 200 with errors in the body"."""
    for method in METHODS:
        body = api(emulator, method)  # api() checks HTTP 200 and application/json
        assert isinstance(body, dict)
    assert emulator.stats()["calls"] == dict.fromkeys(METHODS, 1)


def test_the_key_travels_in_the_body_only(emulator: EmulatorHandle) -> None:
    """ "the key travels in the body as clientKey on every call. No header auth.\""""
    key = emulator.api_key
    for headers in (
        {"Authorization": f"Bearer {key}"},
        {"X-API-Key": key},
        {"clientKey": key},
    ):
        reply = request(emulator, "/api/solver/getBalance", b"{}", headers=headers)
        assert (reply.status, code_of(reply.json)) == (200, "ERROR_KEY_DOES_NOT_EXIST")
    assert api(emulator, "getBalance") == {"balance": 10.0}


@pytest.mark.parametrize("key", ["vastCap_someone_else", "vastCap_x"])
def test_keys_in_the_sdk_form_are_accounts(emulator: EmulatorHandle, key: str) -> None:
    """ "Keys in SDK examples start with vastCap_" (the emulator gives each the default
    balance); anything else is ERROR_KEY_DOES_NOT_EXIST on every method."""
    assert api(emulator, "getBalance", clientKey=key) == {"balance": 10.0}
    for bad in ("", "VASTCAP_x", "sk-0123456789", 12345, None):
        assert code_of(api(emulator, "getBalance", clientKey=bad)) == "ERROR_KEY_DOES_NOT_EXIST"


@pytest.mark.parametrize(
    "raw",
    [b"{not json", b"", b"[]", b'"text"', b"null", b"clientKey=vastCap_x", b"\xff\xfe{}"],
    ids=["broken", "empty", "array", "string", "null", "form", "not-utf8"],
)
def test_a_body_that_is_not_a_json_object_is_a_validation_error(
    emulator: EmulatorHandle, raw: bytes
) -> None:
    """Silent in the reference: ERROR_VALIDATION_FAILED (an SDK code), still HTTP 200."""
    for method in METHODS:
        reply = request(
            emulator, f"/api/solver/{method}", raw, headers={"Content-Type": "application/json"}
        )
        assert (reply.status, reply.headers["content-type"]) == (200, "application/json")
        assert code_of(reply.json) == "ERROR_VALIDATION_FAILED"


@pytest.mark.parametrize(
    "content_type", [None, "text/plain", "application/x-www-form-urlencoded", "application/json"]
)
def test_a_json_body_is_read_whatever_its_content_type(
    emulator: EmulatorHandle, content_type: str | None
) -> None:
    """Silent in the reference: the body is JSON whatever the header says (urllib sends
    form-encoded by default, some clients send nothing)."""
    headers = {} if content_type is None else {"Content-Type": content_type}
    body = json.dumps({"clientKey": emulator.api_key}).encode()
    reply = request(emulator, "/api/solver/getBalance", body, headers=headers)
    assert (reply.status, reply.json) == (200, {"balance": 10.0})


@pytest.mark.parametrize("verb", ["GET", "PUT", "DELETE", "PATCH"])
def test_other_verbs_than_post_are_refused_with_405(emulator: EmulatorHandle, verb: str) -> None:
    """ "All are POST"; the answer to anything else is the emulator's choice: 405,
    Allow: POST, an API error body. Nothing is processed or counted."""
    body = json.dumps({"clientKey": emulator.api_key}).encode()
    for method in METHODS:
        reply = request(emulator, f"/api/solver/{method}", body, verb=verb)
        assert reply.status == 405
        assert reply.headers["allow"] == "POST"
        assert reply.headers["content-type"] == "application/json"
        assert code_of(reply.json) == "ERROR_METHOD_NOT_ALLOWED"
    assert emulator.stats()["calls"] == dict.fromkeys(METHODS, 0)


@pytest.mark.parametrize(
    "path",
    [
        "/api/solver/getTask",
        "/api/solver/createtask",
        "/api/solver/createTask/extra",
        "/api/solver/",
        "/api/solver",
        "/api/getBalance",
        "/createTask",
        "/",
    ],
)
def test_a_path_naming_no_method_is_a_404(emulator: EmulatorHandle, path: str) -> None:
    """Silent in the reference: 404 with ERROR_NO_SUCH_METHOD (the peers' code)."""
    for verb in ("POST", "GET"):
        reply = request(
            emulator, path, json.dumps({"clientKey": emulator.api_key}).encode(), verb=verb
        )
        assert reply.status == 404
        assert reply.headers["content-type"] == "application/json"
        assert code_of(reply.json) == "ERROR_NO_SUCH_METHOD"


def test_a_trailing_slash_or_a_query_still_reaches_the_method(emulator: EmulatorHandle) -> None:
    body = json.dumps({"clientKey": emulator.api_key}).encode()
    for path in ("/api/solver/getBalance/", "/api/solver/getBalance?lang=en"):
        assert request(emulator, path, body).json == {"balance": 10.0}


# -- createTask ------------------------------------------------------------------


@pytest.mark.parametrize("type_", list(TASKS))
def test_create_task_answers_a_uuid_task_id_only(emulator: EmulatorHandle, type_: str) -> None:
    """ "Success: {"taskId": "<string, a UUID>"}", and "successful bodies carry no errorId";
    every documented field of the type, plus proxy and userAgent, is accepted."""
    task = full_task(type_, proxy=PROXY, userAgent=UA)
    task_id = create(emulator, task)
    assert str(uuid.UUID(task_id)) == task_id
    (record,) = emulator.tasks()
    assert (record["task_id"], record["type"], record["fields"]) == (task_id, type_, task)


def test_task_ids_are_never_reused(emulator: EmulatorHandle) -> None:
    ids = {create(emulator, full_task("TurnstileTask")) for _ in range(20)}
    emulator.reset()
    ids |= {create(emulator, full_task("TurnstileTask")) for _ in range(20)}
    assert len(ids) == 40


@pytest.mark.parametrize(
    ("type_", "sent", "invisible"),
    [
        ("RecaptchaV2Task", {"isInvisible": True}, True),
        ("RecaptchaV2Task", {"invisible": True}, False),
        ("RecaptchaV2Task", {}, False),
        ("HCaptchaTask", {"invisible": True}, True),
        ("HCaptchaTask", {"isInvisible": True}, False),
        ("TurnstileTask", {"invisible": True}, True),
        ("TurnstileTask", {"isInvisible": True}, False),
        ("RecaptchaV3Task", {"isInvisible": True}, None),
    ],
)
def test_each_type_reads_its_own_spelling_of_the_invisible_flag(
    emulator: EmulatorHandle, type_: str, sent: dict[str, bool], invisible: bool | None
) -> None:
    """ "RecaptchaV2Task: isInvisible; HCaptchaTask, TurnstileTask: invisible ... Note the
    different spelling of the invisible flag." The other spelling is an unknown field:
    accepted and ignored; the task record says how the flag was read."""
    site = {"websiteURL": SITE, "websiteKey": V2_KEY}
    create(emulator, {"type": type_, **site, **sent})
    (record,) = emulator.tasks()
    assert record["invisible"] is invisible


@pytest.mark.parametrize(
    ("task", "field"),
    [
        ({"type": "RecaptchaV2Task", "websiteKey": V2_KEY}, "websiteURL"),
        (full_task("HCaptchaTask", websiteURL=""), "websiteURL"),
        (full_task("HCaptchaTask", websiteURL="shop.example/login"), "websiteURL"),
        (full_task("HCaptchaTask", websiteURL="/account/login"), "websiteURL"),
        (full_task("HCaptchaTask", websiteURL="javascript:alert(1)"), "websiteURL"),
        ({"type": "TurnstileTask", "websiteURL": SITE}, "websiteKey"),
        (full_task("TurnstileTask", websiteKey="  "), "websiteKey"),
        (full_task("TurnstileTask", websiteKey=None), "websiteKey"),
        (full_task("RecaptchaV2Task", isInvisible="true"), "isInvisible"),
        (full_task("RecaptchaV3Task", minScore="0.7"), "minScore"),
        (full_task("RecaptchaV3Task", pageAction=["login"]), "pageAction"),
        (full_task("HCaptchaTask", enterprise="yes"), "enterprise"),
        (full_task("HCaptchaTask", rqdata={"a": 1}), "rqdata"),
        (full_task("TurnstileTask", invisible=1), "invisible"),
        (full_task("FunCaptchaTask", data={"blob": 5}), "data.blob"),
        (full_task("FunCaptchaTask", data={"custom_cookies": "a=1"}), "data.custom_cookies"),
        (full_task("TurnstileTask", userAgent=["UA"]), "userAgent"),
        ({"type": "RecaptchaV2TaskProxyless", **TASKS["RecaptchaV2Task"]}, "type"),
        ({**TASKS["TurnstileTask"]}, "type"),
    ],
)
def test_bad_task_fields_are_validation_errors_naming_the_field(
    emulator: EmulatorHandle, task: dict[str, Any], field: str
) -> None:
    """ "Fatal for one task: validation failed (bad task fields)": ERROR_VALIDATION_FAILED."""
    body = api(emulator, "createTask", task=task)
    assert code_of(body) == "ERROR_VALIDATION_FAILED"
    assert f"task.{field}" in body["error"]["errorDescription"]
    assert emulator.tasks() == []


@pytest.mark.parametrize(
    "proxy",
    [
        "login:secret@proxy.example:3128",
        "user-1:p:a:ss@10.0.0.1:8080",
        "u:p@[2001:db8::1]:1080",
        "u:p@localhost:65535",
    ],
)
def test_proxy_in_the_documented_form_is_accepted(emulator: EmulatorHandle, proxy: str) -> None:
    """ "optional proxy (login:password@host:port, no scheme)\""""
    create(emulator, full_task("RecaptchaV2Task", proxy=proxy))


@pytest.mark.parametrize(
    "proxy",
    [
        "http://login:secret@proxy.example:3128",
        "socks5://login:secret@proxy.example:1080",
        "proxy.example:3128",
        "login@proxy.example:3128",
        ":secret@proxy.example:3128",
        "login:secret@proxy.example",
        "login:secret@proxy.example:0",
        "login:secret@proxy.example:65536",
        "login:secret@proxy.example:3128/",
        "",
    ],
)
def test_proxy_in_any_other_form_is_refused(emulator: EmulatorHandle, proxy: str) -> None:
    body = api(emulator, "createTask", task=full_task("HCaptchaTask", proxy=proxy))
    assert code_of(body) == "ERROR_VALIDATION_FAILED"
    description = body["error"]["errorDescription"]
    assert "task.proxy" in description
    assert "secret" not in description  # a proxy password is a secret too


@pytest.mark.parametrize(
    "body",
    [
        "data:image/png;base64," + PNG,
        base64.encodebytes(base64.b64decode(PNG)).decode(),  # MIME base64, with newlines
        PNG.rstrip("="),  # padding lost
        PNG.replace("+", "-").replace("/", "_"),  # URL-safe alphabet
        " " + PNG,
        "",
    ],
    ids=["data-uri", "newlines", "unpadded", "urlsafe", "space", "empty"],
)
def test_image_body_must_be_plain_base64(emulator: EmulatorHandle, body: str) -> None:
    """ "ImageToTextTask ... body = plain base64 (no data-URI prefix, no newlines)\""""
    answer = api(emulator, "createTask", task={"type": "ImageToTextTask", "body": body})
    assert code_of(answer) == "ERROR_VALIDATION_FAILED"
    assert "task.body" in answer["error"]["errorDescription"]


def test_image_task_needs_no_website(emulator: EmulatorHandle) -> None:
    create(emulator, {"type": "ImageToTextTask", "body": PNG})


@pytest.mark.parametrize(
    "task",
    [
        {"type": "FunCaptchaTask", **TASKS["FunCaptchaTask"], "data": {}},
        {"type": "ImageToTextTask", "websiteKey": "", "websiteURL": "", "body": PNG},
        {"type": "RecaptchaV3Task", "websiteKey": V2_KEY, "websiteURL": SITE, "minScore": 0.3},
    ],
    ids=["funcaptcha-empty-data", "image-empty-site", "v3-no-action"],
)
def test_the_go_wrapper_s_shapes_are_accepted(
    emulator: EmulatorHandle, task: dict[str, Any]
) -> None:
    """The other public client (a Go wrapper) always sends ``data`` (maybe empty) and the
    site fields (empty for images), and omits false flags and empty strings."""
    create(emulator, task)


# -- getTaskResult ---------------------------------------------------------------


def test_a_task_being_solved_is_processing(emulator: EmulatorHandle) -> None:
    """ "{"status": "processing"}: poll again" (exactly that body: no errorId)."""
    emulator.configure(solve_time=60)
    task_id = create(emulator, full_task("TurnstileTask"))
    for _ in range(3):
        assert api(emulator, "getTaskResult", taskId=task_id) == {"status": "processing"}
    assert emulator.tasks()[0]["polls"] == 3


@pytest.mark.parametrize(
    ("type_", "keys"),
    [
        ("RecaptchaV2Task", {"gRecaptchaResponse"}),
        ("RecaptchaV3Task", {"gRecaptchaResponse", "score"}),
        ("HCaptchaTask", {"token"}),
        ("TurnstileTask", {"token"}),
        ("FunCaptchaTask", {"token"}),
        ("ImageToTextTask", {"text"}),
    ],
)
def test_ready_solutions_have_the_documented_fields(
    instant: EmulatorHandle, type_: str, keys: set[str]
) -> None:
    """ "reCAPTCHA (v2 and v3) gives gRecaptchaResponse; hCaptcha and Turnstile both give
    token; ImageToText gives text; v3 also gives score" (FunCaptcha: token, as the SDK
    reads it). No errorId, no error."""
    body = api(instant, "getTaskResult", taskId=create(instant, full_task(type_)))
    assert set(body) == {"status", "solution"}
    assert body["status"] == "ready"
    assert set(body["solution"]) == keys
    for key in keys - {"score"}:
        assert isinstance(body["solution"][key], str)
        assert body["solution"][key]
    if "score" in keys:
        score = body["solution"]["score"]
        assert isinstance(score, float)
        assert 0.7 <= score <= 0.9  # the task asked for minScore 0.7


@pytest.mark.parametrize("type_", list(TASKS))
def test_user_agent_comes_back_when_the_task_set_one(instant: EmulatorHandle, type_: str) -> None:
    """ "userAgent appears when the task set one\""""
    with_ua = api(instant, "getTaskResult", taskId=create(instant, full_task(type_, userAgent=UA)))
    assert with_ua["solution"]["userAgent"] == UA
    without = api(instant, "getTaskResult", taskId=create(instant, full_task(type_)))
    assert "userAgent" not in without["solution"]


def test_a_ready_answer_is_repeated_on_later_polls(instant: EmulatorHandle) -> None:
    task_id = create(instant, full_task("HCaptchaTask"))
    first = api(instant, "getTaskResult", taskId=task_id)
    assert api(instant, "getTaskResult", taskId=task_id) == first
    (record,) = instant.tasks()
    assert record["delivered_at"] is not None
    assert record["polls"] == 2


def test_a_failed_task_has_status_failed_or_error_and_a_nested_error(
    instant: EmulatorHandle,
) -> None:
    """ "Failure: the field list says status: "failed", the example shows status: "error";
    either way an error object carries errorId, errorCode, errorDescription."\""""
    instant.configure(faults={"unsolvable": 1.0})
    statuses = set()
    for _ in range(32):
        body = api(instant, "getTaskResult", taskId=create(instant, full_task("RecaptchaV2Task")))
        assert set(body) == {"status", "error"}
        assert body["error"] == {
            "errorId": 1,
            "errorCode": "ERROR_CAPTCHA_UNSOLVABLE",
            "errorDescription": "The captcha could not be solved",
        }
        statuses.add(body["status"])
    assert statuses == {"failed", "error"}
    assert api(instant, "getBalance") == {"balance": 10.0}  # failed tasks cost nothing


def test_a_proxy_that_cannot_be_reached_fails_the_task(instant: EmulatorHandle) -> None:
    """ERROR_PROXY_CONNECTION_FAILED is documented; the emulator gives it for a proxy host
    under the reserved .invalid domain, or at the rate of the proxy_failure fault."""
    unreachable = full_task("TurnstileTask", proxy="u:p@gone.invalid:3128")
    body = api(instant, "getTaskResult", taskId=create(instant, unreachable))
    assert body["status"] in ("failed", "error")
    assert body["error"]["errorCode"] == "ERROR_PROXY_CONNECTION_FAILED"
    instant.configure(faults={"proxy_failure": 1.0})
    with_proxy = api(
        instant, "getTaskResult", taskId=create(instant, full_task("TurnstileTask", proxy=PROXY))
    )
    assert with_proxy["error"]["errorCode"] == "ERROR_PROXY_CONNECTION_FAILED"
    without = api(instant, "getTaskResult", taskId=create(instant, full_task("TurnstileTask")))
    assert without["status"] == "ready"
    codes = [record["error_code"] for record in instant.tasks()]
    assert codes == ["ERROR_PROXY_CONNECTION_FAILED", "ERROR_PROXY_CONNECTION_FAILED", None]


@pytest.mark.parametrize(
    "task_id", ["9d55c404-5a45-4e7b-8a93-b8ed9f26bdcf", "12345", "", "not-a-task"]
)
def test_an_unknown_task_id_is_task_not_found(emulator: EmulatorHandle, task_id: str) -> None:
    """Seed, example request with its taskId; "Fatal for one task: ... task not found"."""
    assert code_of(api(emulator, "getTaskResult", taskId=task_id)) == "ERROR_TASK_NOT_FOUND"


def test_a_task_id_is_known_only_to_the_key_that_created_it(emulator: EmulatorHandle) -> None:
    task_id = create(emulator, full_task("TurnstileTask"))
    other = api(emulator, "getTaskResult", clientKey="vastCap_another_user", taskId=task_id)
    assert code_of(other) == "ERROR_TASK_NOT_FOUND"


def test_a_missing_task_id_is_a_validation_error(emulator: EmulatorHandle) -> None:
    assert code_of(api(emulator, "getTaskResult")) == "ERROR_VALIDATION_FAILED"


def test_task_ids_live_five_minutes(emulator: EmulatorHandle) -> None:
    """ "task ids live ~5 minutes" (peers): task_ttl is 300 s; after it, not found."""
    assert emulator.config()["task_ttl"] == 300.0
    emulator.configure(task_ttl=0.3, solve_time=0)
    task_id = create(emulator, full_task("TurnstileTask"))
    assert api(emulator, "getTaskResult", taskId=task_id)["status"] == "ready"
    wait_until(lambda: "error" in api(emulator, "getTaskResult", taskId=task_id))
    assert code_of(api(emulator, "getTaskResult", taskId=task_id)) == "ERROR_TASK_NOT_FOUND"


# -- getBalance ------------------------------------------------------------------


def test_get_balance_gives_usd_and_drops_as_tasks_are_solved(instant: EmulatorHandle) -> None:
    """ "{"clientKey": K} gives {"balance": 10.25} (USD)\""""
    instant.set_account(instant.api_key, balance=10.25)
    assert api(instant, "getBalance") == {"balance": 10.25}
    api(instant, "getTaskResult", taskId=create(instant, full_task("RecaptchaV2Task")))
    balance = api(instant, "getBalance")["balance"]
    assert 10.0 < balance < 10.25


@pytest.mark.parametrize("type_", ["RecaptchaV2Task", "ImageToTextTask"])
def test_solving_needs_at_least_a_tenth_of_a_cent(emulator: EmulatorHandle, type_: str) -> None:
    """ "Solving needs at least $0.001.\""""
    emulator.set_account(emulator.api_key, balance=0.001)
    create(emulator, full_task(type_))
    emulator.set_account(emulator.api_key, balance=0.00099)
    body = api(emulator, "createTask", task=full_task(type_))
    assert code_of(body) == "ERROR_INSUFFICIENT_BALANCE"


# -- every error code --------------------------------------------------------------


def _set(**fields: Any) -> Callable[[EmulatorHandle], dict[str, Any]]:
    def cause(emulator: EmulatorHandle) -> dict[str, Any]:
        emulator.set_account(emulator.api_key, **fields)
        return api(emulator, "createTask", task=full_task("RecaptchaV2Task"))

    return cause


def _failed_task(fault: str, **extra: Any) -> Callable[[EmulatorHandle], dict[str, Any]]:
    def cause(emulator: EmulatorHandle) -> dict[str, Any]:
        emulator.configure(solve_time=0, faults={fault: 1.0})
        task_id = create(emulator, full_task("RecaptchaV2Task", **extra))
        body = api(emulator, "getTaskResult", taskId=task_id)
        return {"error": body["error"]}

    return cause


def _no_slot(emulator: EmulatorHandle) -> dict[str, Any]:
    emulator.configure(capacity=1, solve_time=60)
    create(emulator, full_task("RecaptchaV2Task"))
    return api(emulator, "createTask", task=full_task("RecaptchaV2Task"))


CAUSES: dict[str, Callable[[EmulatorHandle], dict[str, Any]]] = {
    "ERROR_KEY_DOES_NOT_EXIST": lambda e: api(e, "getBalance", clientKey="no-such-key"),
    "ERROR_IP_NOT_ALLOWED": _set(ip_allowed=False),
    "ERROR_ACCOUNT_DISABLED": _set(disabled=True),
    "ERROR_INSUFFICIENT_BALANCE": _set(balance=0),
    "ERROR_CAPTCHA_UNSOLVABLE": _failed_task("unsolvable"),
    "ERROR_TASK_NOT_FOUND": lambda e: api(e, "getTaskResult", taskId=str(uuid.uuid4())),
    "ERROR_PROXY_CONNECTION_FAILED": _failed_task("proxy_failure", proxy=PROXY),
    "ERROR_VALIDATION_FAILED": lambda e: api(e, "createTask", task={"type": "RecaptchaV2Task"}),
    "ERROR_NO_SLOT_AVAILABLE": _no_slot,
    "ERROR_IP_BANNED": _set(banned=True),
}


@pytest.mark.parametrize("code", list(CAUSES))
def test_every_documented_error_code_comes_in_the_nested_envelope(
    emulator: EmulatorHandle, code: str
) -> None:
    """ "Documented: ERROR_KEY_DOES_NOT_EXIST, ... ERROR_PROXY_CONNECTION_FAILED. Used by the
    SDK: ERROR_VALIDATION_FAILED, ERROR_NO_SLOT_AVAILABLE, ERROR_IP_BANNED"; "VastCap nests
    errors: {"error": {"errorId": 1, "errorCode": ..., "errorDescription": ...}}\""""
    assert code_of(CAUSES[code](emulator)) == code


def test_no_success_body_carries_an_error_id(instant: EmulatorHandle) -> None:
    """ "successful bodies carry no errorId\""""
    task_id = create(instant, full_task("TurnstileTask"))
    for body in (api(instant, "getTaskResult", taskId=task_id), api(instant, "getBalance")):
        assert "errorId" not in body
        assert "error" not in body


def test_peer_style_puts_the_error_at_the_top_level(emulator: EmulatorHandle) -> None:
    """**Peers**: "errorId (0 = ok), errorCode, errorDescription at the top level" (the
    flat style, for peers' clients); it applies to 404 and 405 answers too."""
    emulator.configure(error_style="flat")
    assert api(emulator, "getBalance") == {"errorId": 0, "balance": 10.0}
    bad = api(emulator, "getBalance", clientKey="nope")
    assert (bad["errorId"], bad["errorCode"]) == (1, "ERROR_KEY_DOES_NOT_EXIST")
    missing = request(emulator, "/api/solver/nope", b"{}")
    assert (missing.status, missing.json["errorCode"]) == (404, "ERROR_NO_SUCH_METHOD")

"""The emulator's service logic, driven through JSON bodies with a hand-stepped clock."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import pytest

from scrapy_vastcaptcha.emulator import EmulatorConfig, EmulatorState, image_answer
from scrapy_vastcaptcha.emulator.config import ConfigError
from scrapy_vastcaptcha.emulator.validation import validate_task

KEY = "vastCap_unit_0123456789"
SITE = "https://shop.example/login"
SITEKEY = "6LeIxAcTAAAAAJcZVRqyHh71UMIEGNQ_MXjiZKhI"
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\nfake image bytes").decode()


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make_state(clock: FakeClock, **settings: Any) -> EmulatorState:
    base = {"solve_time": [1.0, 2.0], "seed": 7}
    return EmulatorState(EmulatorConfig().merged({**base, **settings}), clock=clock)


@pytest.fixture
def state(clock: FakeClock) -> EmulatorState:
    return make_state(clock)


def call(state: EmulatorState, method: str, key: str = KEY, **payload: Any) -> dict[str, Any]:
    return state.handle(method, json.dumps({"clientKey": key, **payload}).encode())


def task(type_: str = "RecaptchaV2Task", **fields: Any) -> dict[str, Any]:
    if type_ == "ImageToTextTask":
        return {"type": type_, "body": PNG, **fields}
    return {"type": type_, "websiteURL": SITE, "websiteKey": SITEKEY, **fields}


def create(state: EmulatorState, task_: dict[str, Any], key: str = KEY) -> str:
    body = call(state, "createTask", key, task=task_)
    assert "taskId" in body, body
    task_id: str = body["taskId"]
    return task_id


def result(state: EmulatorState, task_id: str, key: str = KEY) -> dict[str, Any]:
    return call(state, "getTaskResult", key, taskId=task_id)


def solved(state: EmulatorState, clock: FakeClock, task_: dict[str, Any]) -> dict[str, Any]:
    """The ready getTaskResult body of a new task, after its solve time."""
    task_id = create(state, task_)
    clock.advance(2.0)
    body = result(state, task_id)
    assert body["status"] == "ready", body
    return body


def error_code(body: dict[str, Any]) -> str:
    code: str = body["error"]["errorCode"]
    return code


# -- createTask validation ---------------------------------------------------


@pytest.mark.parametrize(
    ("task_", "field"),
    [
        ({"websiteURL": SITE, "websiteKey": SITEKEY}, "task.type"),
        (task("NoSuchTask"), "task.type"),
        (task(websiteURL=None), "task.websiteURL"),
        ({"type": "HCaptchaTask", "websiteKey": SITEKEY}, "task.websiteURL"),
        (task(websiteURL="ftp://shop.example/"), "task.websiteURL"),
        (task(websiteURL="shop.example/login"), "task.websiteURL"),
        (task(websiteURL=42), "task.websiteURL"),
        ({"type": "TurnstileTask", "websiteURL": SITE}, "task.websiteKey"),
        (task(websiteKey=""), "task.websiteKey"),
        (task(websiteKey=["k"]), "task.websiteKey"),
        (task("RecaptchaV3Task", minScore=0.95), "task.minScore"),
        (task("RecaptchaV3Task", minScore=0.05), "task.minScore"),
        (task("RecaptchaV3Task", minScore="0.5"), "task.minScore"),
        (task("RecaptchaV3Task", pageAction=1), "task.pageAction"),
        (task("RecaptchaV2Task", isInvisible="yes"), "task.isInvisible"),
        (task("RecaptchaV2Task", enterprisePayload="s=1"), "task.enterprisePayload"),
        (task("HCaptchaTask", invisible=1), "task.invisible"),
        (task("HCaptchaTask", rqdata=None), "task.rqdata"),
        (task("TurnstileTask", cData=5), "task.cData"),
        (task("FunCaptchaTask", data="blob"), "task.data"),
        (task("FunCaptchaTask", data={"blob": 1}), "task.data.blob"),
        (task("FunCaptchaTask", data={"custom_cookies": []}), "task.data.custom_cookies"),
        ({"type": "ImageToTextTask"}, "task.body"),
        (task("ImageToTextTask", body=""), "task.body"),
        (task("ImageToTextTask", body="not base64!"), "task.body"),
        (task("ImageToTextTask", body="data:image/png;base64," + PNG), "task.body"),
        (task(proxy="http://user:pass@1.2.3.4:8080"), "task.proxy"),
        (task(proxy="1.2.3.4"), "task.proxy"),
        (task(proxy="1.2.3.4:8080"), "task.proxy"),
        (task(proxy="user@1.2.3.4:8080"), "task.proxy"),
        (task(proxy="1.2.3.4:99999"), "task.proxy"),
        (task(userAgent=7), "task.userAgent"),
    ],
)
def test_invalid_task_is_refused_naming_the_field(
    state: EmulatorState, task_: dict[str, Any], field: str
) -> None:
    body = call(state, "createTask", task=task_)
    assert error_code(body) == "ERROR_VALIDATION_FAILED"
    assert field in body["error"]["errorDescription"]
    assert state.tasks() == []


@pytest.mark.parametrize("payload", [{}, {"task": "RecaptchaV2Task"}, {"task": None}])
def test_missing_or_non_object_task_is_refused(
    state: EmulatorState, payload: dict[str, Any]
) -> None:
    body = call(state, "createTask", **payload)
    assert error_code(body) == "ERROR_VALIDATION_FAILED"
    assert "task" in body["error"]["errorDescription"]


@pytest.mark.parametrize("raw", [b"not json", b"\xff\xfe", b"[1, 2]", b'"text"'])
def test_non_json_or_non_object_body_is_refused(state: EmulatorState, raw: bytes) -> None:
    for method in ("createTask", "getTaskResult", "getBalance"):
        assert error_code(state.handle(method, raw)) == "ERROR_VALIDATION_FAILED"


@pytest.mark.parametrize("task_id", [None, 12345])
def test_task_id_must_be_a_string(state: EmulatorState, task_id: object) -> None:
    payload: dict[str, Any] = {} if task_id is None else {"taskId": task_id}
    body = call(state, "getTaskResult", **payload)
    assert error_code(body) == "ERROR_VALIDATION_FAILED"
    assert "taskId" in body["error"]["errorDescription"]


@pytest.mark.parametrize(
    "task_",
    [
        task("RecaptchaV2Task", isInvisible=True, proxy="user:pa:ss@proxy.example:3128"),
        task("RecaptchaV3Task", pageAction="login", minScore=0.7, isEnterprise=True),
        task("RecaptchaV2Task", isEnterprise=True, enterprisePayload={"s": "abc"}),
        task("HCaptchaTask", invisible=True, enterprise=True, rqdata="rq", proxy="u:p@10.0.0.1:80"),
        task("TurnstileTask", action="login", cData="c", chlPageData="p", invisible=False),
        task("FunCaptchaTask", data={"blob": "b", "custom_cookies": {"a": "1"}}),
        task("ImageToTextTask", case=True, numeric=0),
        task("RecaptchaV2Task", someFutureField={"x": 1}),
    ],
)
def test_valid_task_is_accepted_with_all_fields_recorded(
    state: EmulatorState, task_: dict[str, Any]
) -> None:
    task_id = create(state, task_)
    assert re.fullmatch(
        r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", task_id
    )
    (record,) = state.tasks()
    assert record["task_id"] == task_id
    assert record["type"] == task_["type"]
    assert record["fields"] == task_


def test_success_bodies_carry_no_error_id(state: EmulatorState, clock: FakeClock) -> None:
    task_id = create(state, task())
    for body in (
        call(state, "getBalance"),
        result(state, task_id),
        call(state, "createTask", task=task()),
    ):
        assert "errorId" not in body
        assert "error" not in body


# -- solutions ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("task_", "key", "prefix"),
    [
        (task("RecaptchaV2Task"), "gRecaptchaResponse", "03A"),
        (task("RecaptchaV3Task", pageAction="buy"), "gRecaptchaResponse", "03A"),
        (task("HCaptchaTask"), "token", "P1_"),
        (task("TurnstileTask"), "token", "0."),
        (task("FunCaptchaTask"), "token", ""),
    ],
)
def test_token_solutions_have_the_documented_shape(
    state: EmulatorState, clock: FakeClock, task_: dict[str, Any], key: str, prefix: str
) -> None:
    solution = solved(state, clock, task_)["solution"]
    expected_keys = {key, "score"} if task_["type"] == "RecaptchaV3Task" else {key}
    assert set(solution) == expected_keys
    token = solution[key]
    assert token.startswith(prefix)
    assert len(token) >= 100
    if prefix:
        assert re.fullmatch(r"[A-Za-z0-9_.\-]+", token)


def test_v3_score_respects_min_score(state: EmulatorState, clock: FakeClock) -> None:
    for min_score in (0.1, 0.5, 0.7, 0.9):
        solution = solved(state, clock, task("RecaptchaV3Task", minScore=min_score))["solution"]
        assert min_score <= solution["score"] <= 0.9


def test_image_solution_is_the_image_answer(state: EmulatorState, clock: FakeClock) -> None:
    solution = solved(state, clock, task("ImageToTextTask"))["solution"]
    assert solution == {"text": image_answer(base64.b64decode(PNG))}


def test_user_agent_is_echoed_when_set(state: EmulatorState, clock: FakeClock) -> None:
    solution = solved(state, clock, task("HCaptchaTask", userAgent="Mozilla/5.0 Test"))
    assert solution["solution"]["userAgent"] == "Mozilla/5.0 Test"


def test_image_answer_is_deterministic_six_uppercase_alphanumerics() -> None:
    answers = {image_answer(bytes([n]) * 10) for n in range(50)}
    assert len(answers) == 50
    for answer in answers:
        assert re.fullmatch(r"[A-Z0-9]{6}", answer)
    assert image_answer(b"same") == image_answer(b"same")


# -- task progress -----------------------------------------------------------


def test_task_is_processing_until_its_solve_time(state: EmulatorState, clock: FakeClock) -> None:
    task_id = create(state, task())
    (record,) = state.tasks()
    assert 1.0 <= record["ready_at"] - record["created_at"] <= 2.0
    assert result(state, task_id) == {"status": "processing"}
    clock.now = record["ready_at"] - 0.001
    assert result(state, task_id) == {"status": "processing"}
    clock.now = record["ready_at"]
    first = result(state, task_id)
    clock.advance(1.0)
    assert result(state, task_id) == first
    (record,) = state.tasks()
    assert record["status"] == "ready"
    assert record["polls"] == 4
    assert record["delivered_at"] == record["ready_at"]


def test_fixed_solve_time(clock: FakeClock) -> None:
    state = make_state(clock, solve_time=3)
    create(state, task())
    (record,) = state.tasks()
    assert record["ready_at"] - record["created_at"] == 3.0


def test_unsolvable_tasks_fail_with_both_status_spellings(clock: FakeClock) -> None:
    state = make_state(clock, faults={"unsolvable": 1.0})
    task_ids = [create(state, task()) for _ in range(16)]
    clock.advance(2.0)
    statuses = set()
    for task_id in task_ids:
        body = result(state, task_id)
        statuses.add(body["status"])
        assert body["error"] == {
            "errorId": 1,
            "errorCode": "ERROR_CAPTCHA_UNSOLVABLE",
            "errorDescription": "The captcha could not be solved",
        }
        assert result(state, task_id)["status"] == body["status"]  # stable per task
    assert statuses == {"failed", "error"}
    stats = state.stats()
    assert stats["tasks"]["failed"] == 16
    assert stats["errors"]["ERROR_CAPTCHA_UNSOLVABLE"] == 32


def test_unknown_task_is_not_found(state: EmulatorState) -> None:
    body = result(state, "9d55c404-5a45-4e7b-8a93-b8ed9f26bdcf")
    assert error_code(body) == "ERROR_TASK_NOT_FOUND"


def test_task_of_another_key_is_not_found(state: EmulatorState) -> None:
    task_id = create(state, task())
    assert error_code(result(state, task_id, key="vastCap_other")) == "ERROR_TASK_NOT_FOUND"


def test_task_expires_after_its_ttl(clock: FakeClock) -> None:
    state = make_state(clock, task_ttl=60)
    task_id = create(state, task())
    clock.advance(60)
    assert result(state, task_id)["status"] == "ready"
    clock.advance(0.5)
    assert error_code(result(state, task_id)) == "ERROR_TASK_NOT_FOUND"


def test_capacity_refuses_tasks_while_full(clock: FakeClock) -> None:
    state = make_state(clock, capacity=2)
    create(state, task())
    create(state, task())
    body = call(state, "createTask", task=task())
    assert error_code(body) == "ERROR_NO_SLOT_AVAILABLE"
    clock.advance(2.0)  # both finish, freeing their slots
    create(state, task())
    assert state.stats()["tasks"]["created"] == 3


# -- accounts and balance ----------------------------------------------------


@pytest.mark.parametrize("key", ["wrong_key", "VASTCAP_abc", "", None])
def test_unknown_key_is_refused_by_every_method(state: EmulatorState, key: str | None) -> None:
    for method, payload in (
        ("createTask", {"task": task()}),
        ("getTaskResult", {"taskId": "x"}),
        ("getBalance", {}),
    ):
        raw = json.dumps({"clientKey": key, **payload}).encode()
        assert error_code(state.handle(method, raw)) == "ERROR_KEY_DOES_NOT_EXIST"


def test_new_key_gets_the_default_balance(clock: FakeClock) -> None:
    assert call(make_state(clock), "getBalance") == {"balance": 10.0}
    assert call(make_state(clock, default_balance=2.5), "getBalance") == {"balance": 2.5}


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"disabled": True}, "ERROR_ACCOUNT_DISABLED"),
        ({"ip_allowed": False}, "ERROR_IP_NOT_ALLOWED"),
        ({"banned": True}, "ERROR_IP_BANNED"),
    ],
)
def test_account_standing_is_enforced_on_every_method(
    state: EmulatorState, fields: dict[str, bool], code: str
) -> None:
    task_id = create(state, task())
    state.set_account(KEY, **fields)
    assert error_code(call(state, "createTask", task=task())) == code
    assert error_code(result(state, task_id)) == code
    assert error_code(call(state, "getBalance")) == code


def test_set_account_can_create_any_key(state: EmulatorState) -> None:
    state.set_account("custom-key", balance=1.25)
    assert call(state, "getBalance", key="custom-key") == {"balance": 1.25}


@pytest.mark.parametrize(
    "fields", [{"balance": "1"}, {"disabled": "yes"}, {"colour": "red"}, {"banned": 1}]
)
def test_set_account_rejects_bad_fields(state: EmulatorState, fields: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=next(iter(fields))):
        state.set_account(KEY, **fields)


def test_balance_is_charged_when_a_task_is_solved(state: EmulatorState, clock: FakeClock) -> None:
    token_task = create(state, task())
    image_task = create(state, task("ImageToTextTask"))
    assert call(state, "getBalance") == {"balance": 10.0}
    clock.advance(2.0)
    assert call(state, "getBalance") == {"balance": round(10.0 - 0.002 - 0.001, 6)}
    assert result(state, token_task)["status"] == "ready"
    assert result(state, image_task)["status"] == "ready"
    assert state.stats()["charged"] == 0.003


def test_failed_tasks_are_not_charged(clock: FakeClock) -> None:
    state = make_state(clock, faults={"unsolvable": 1.0})
    create(state, task())
    clock.advance(2.0)
    assert call(state, "getBalance") == {"balance": 10.0}


def test_solving_needs_a_balance_of_at_least_a_tenth_of_a_cent(state: EmulatorState) -> None:
    # vastcap-api.md, getBalance: "Solving needs at least $0.001" (whatever the task costs)
    for type_ in ("RecaptchaV2Task", "ImageToTextTask"):
        state.set_account(KEY, balance=0.001)
        create(state, task(type_))
        state.set_account(KEY, balance=0.0009)
        body = call(state, "createTask", task=task(type_))
        assert error_code(body) == "ERROR_INSUFFICIENT_BALANCE"
    assert len(state.tasks()) == 2


def test_balance_charged_down_to_the_minimum_still_solves(clock: FakeClock) -> None:
    # 0.003 - 0.002 is 0.0009999... in floats: still the documented minimum
    state = make_state(clock, default_balance=0.003)
    create(state, task())
    clock.advance(2.0)
    assert call(state, "getBalance") == {"balance": 0.001}
    create(state, task())


# -- error styles ------------------------------------------------------------


def test_flat_error_style(clock: FakeClock) -> None:
    state = make_state(clock, error_style="flat", faults={"unsolvable": 1.0})
    assert call(state, "getBalance") == {"errorId": 0, "balance": 10.0}
    assert call(state, "getBalance", key="bad") == {
        "errorId": 1,
        "errorCode": "ERROR_KEY_DOES_NOT_EXIST",
        "errorDescription": "Invalid API key",
    }
    task_id = create(state, task())
    assert result(state, task_id) == {"errorId": 0, "status": "processing"}
    clock.advance(2.0)
    failed = result(state, task_id)
    assert failed["errorId"] == 1
    assert failed["errorCode"] == "ERROR_CAPTCHA_UNSOLVABLE"


# -- task failures -------------------------------------------------------------


@pytest.mark.parametrize(
    ("proxy", "host"),
    [("u:p@Proxy.Example:3128", "proxy.example"), ("u:p@[2001:DB8::1]:1080", "2001:db8::1")],
)
def test_the_proxy_host_is_read_from_the_proxy(proxy: str, host: str) -> None:
    assert validate_task(task(proxy=proxy)).proxy_host == host
    assert validate_task(task()).proxy_host is None


def test_proxy_failure_hits_only_tasks_with_a_proxy(clock: FakeClock) -> None:
    state = make_state(clock, faults={"proxy_failure": 1.0})
    with_proxy = create(state, task(proxy="u:p@proxy.example:3128"))
    without = create(state, task())
    clock.advance(2.0)
    assert error_code(result(state, with_proxy)) == "ERROR_PROXY_CONNECTION_FAILED"
    assert result(state, without)["status"] == "ready"
    assert call(state, "getBalance") == {"balance": 9.998}  # only the solved task is charged


def test_a_proxy_under_dot_invalid_always_fails(state: EmulatorState, clock: FakeClock) -> None:
    task_ids = [create(state, task(proxy=f"u:p@{host}:80")) for host in ("x.invalid", "INVALID")]
    clock.advance(2.0)
    for task_id in task_ids:
        assert error_code(result(state, task_id)) == "ERROR_PROXY_CONNECTION_FAILED"
    assert [record["error_code"] for record in state.tasks()] == [
        "ERROR_PROXY_CONNECTION_FAILED"
    ] * 2


def test_the_proxy_fault_leaves_seeded_runs_without_proxies_alone(clock: FakeClock) -> None:
    outcomes = []
    for rate in (0.0, 1.0):
        state = make_state(clock, faults={"unsolvable": 0.5, "proxy_failure": rate})
        task_ids = [create(state, task()) for _ in range(20)]
        clock.advance(2.0)
        outcomes.append([result(state, task_id)["status"] == "ready" for task_id in task_ids])
    assert outcomes[0] == outcomes[1]
    assert len(set(outcomes[0])) == 2  # some solved, some not


# -- transport faults --------------------------------------------------------


@pytest.mark.parametrize("kind", ["drop", "http_5xx", "malformed"])
def test_fault_at_rate_one_always_hits(clock: FakeClock, kind: str) -> None:
    state = make_state(clock, faults={kind: 1.0})
    for method in ("createTask", "getTaskResult", "getBalance"):
        plan = state.begin_call(method)
        assert plan.kind == kind
        assert plan.delay == 0.0
        if kind == "http_5xx":
            assert plan.http_status in (502, 503)
    assert state.stats()["faults"] == {kind: 3}


def test_slow_fault_delays_by_slow_delay(clock: FakeClock) -> None:
    state = make_state(clock, faults={"slow": 1.0}, slow_delay=0.25)
    plan = state.begin_call("getBalance")
    assert (plan.kind, plan.delay) == (None, 0.25)


def test_faults_only_hit_the_configured_methods(clock: FakeClock) -> None:
    state = make_state(clock, faults={"drop": 1.0}, fault_methods=["getTaskResult"])
    assert state.begin_call("createTask").kind is None
    assert state.begin_call("getBalance").kind is None
    assert state.begin_call("getTaskResult").kind == "drop"


def test_no_faults_by_default(state: EmulatorState) -> None:
    for _ in range(100):
        assert state.begin_call("getBalance").kind is None


# -- counters and records ----------------------------------------------------


def test_stats_count_calls_errors_tasks_and_polls(state: EmulatorState, clock: FakeClock) -> None:
    for method in ("createTask", "getTaskResult", "getTaskResult", "getBalance"):
        state.begin_call(method)
    task_id = create(state, task())
    create(state, task())
    call(state, "getBalance", key="nope")
    call(state, "createTask", task={"type": "Bad"})
    result(state, task_id)
    clock.advance(2.0)
    result(state, task_id)
    stats = state.stats()
    assert stats["calls"] == {"createTask": 1, "getTaskResult": 2, "getBalance": 1}
    assert stats["errors"] == {"ERROR_KEY_DOES_NOT_EXIST": 1, "ERROR_VALIDATION_FAILED": 1}
    assert stats["errors_by_method"]["createTask"] == {"ERROR_VALIDATION_FAILED": 1}
    assert stats["tasks"] == {
        "created": 2,
        "processing": 0,
        "solved": 2,
        "failed": 0,
        "delivered": 1,
    }
    assert stats["polls"] == {"total": 2, "max": 2, "mean": 1.0}


def test_task_records_never_hold_the_client_key(state: EmulatorState) -> None:
    create(state, {**task(), "clientKey": KEY})
    (record,) = state.tasks()
    assert KEY not in json.dumps(record)
    assert record["account"] == KEY[:8]
    assert "clientKey" not in record["fields"]


# -- configuration -----------------------------------------------------------


def test_unknown_setting_is_refused() -> None:
    with pytest.raises(ConfigError, match="colour"):
        EmulatorConfig().merged({"colour": "blue"})


@pytest.mark.parametrize(
    "settings",
    [
        {"solve_time": [3, 1]},
        {"solve_time": "fast"},
        {"faults": {"teleport": 0.1}},
        {"faults": {"drop": 2}},
        {"fault_methods": ["solve"]},
        {"error_style": "xml"},
        {"capacity": -1},
        {"task_ttl": True},
        {"seed": 1.5},
    ],
)
def test_bad_setting_values_are_refused(settings: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match=next(iter(settings))):
        EmulatorConfig().merged(settings)


def test_faults_merge_one_by_one(state: EmulatorState) -> None:
    state.configure({"faults": {"drop": 0.5}})
    state.configure({"faults": {"slow": 0.25}})
    assert state.config.fault_rate("drop") == 0.5
    assert state.config.fault_rate("slow") == 0.25


def test_reset_restores_start_config_and_clears_everything(
    state: EmulatorState, clock: FakeClock
) -> None:
    create(state, task())
    state.set_account(KEY, balance=0.5)
    state.configure({"capacity": 0})
    state.reset()
    assert state.config.capacity == EmulatorConfig().capacity
    assert state.tasks() == []
    assert call(state, "getBalance") == {"balance": 10.0}
    assert state.stats()["tasks"]["created"] == 0


def test_seed_makes_runs_reproducible(clock: FakeClock) -> None:
    first, second = make_state(clock), make_state(clock)
    first_id = create(first, task())
    create(second, task())
    first.reset()
    create(first, task())
    (record,) = first.tasks()
    assert record["task_id"] != first_id  # ids never repeat, even after a reset
    assert record["ready_at"] == second.tasks()[0]["ready_at"]


# -- site verification -------------------------------------------------------


def token_of(state: EmulatorState, clock: FakeClock, task_: dict[str, Any]) -> str:
    solution = solved(state, clock, task_)["solution"]
    token: str = solution.get("gRecaptchaResponse") or solution["token"]
    return token


def verify(state: EmulatorState, token: str, kind: str, **params: str) -> dict[str, Any]:
    defaults = {"response": token, "sitekey": SITEKEY, "kind": kind, "url": SITE}
    return state.siteverify({**defaults, **params})


@pytest.mark.parametrize(
    ("task_", "kind"),
    [
        (task("RecaptchaV2Task"), "recaptcha"),
        (task("RecaptchaV3Task", isEnterprise=True), "recaptcha-enterprise"),
        (task("HCaptchaTask", enterprise=True), "hcaptcha"),
        (task("TurnstileTask"), "turnstile"),
        (task("FunCaptchaTask"), "funcaptcha"),
    ],
)
def test_valid_token_verifies_exactly_once(
    state: EmulatorState, clock: FakeClock, task_: dict[str, Any], kind: str
) -> None:
    token = token_of(state, clock, task_)
    first = verify(state, token, kind)
    assert first["success"] is True
    assert first["error-codes"] == []
    assert first["hostname"] == "shop.example"
    assert first["task_id"] == state.tasks()[0]["task_id"]
    assert verify(state, token, kind) == {
        "success": False,
        "error-codes": ["timeout-or-duplicate"],
        "challenge_ts": None,
        "hostname": None,
        "action": None,
        "cdata": None,
        "score": None,
        "task_id": None,
    }


def test_verification_reports_action_cdata_score_and_time(
    state: EmulatorState, clock: FakeClock
) -> None:
    turnstile = token_of(state, clock, task("TurnstileTask", action="login", cData="abc"))
    body = verify(state, turnstile, "turnstile")
    assert (body["action"], body["cdata"], body["score"]) == ("login", "abc", None)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", body["challenge_ts"])
    v3 = solved(state, clock, task("RecaptchaV3Task", pageAction="buy", minScore=0.9))
    body = verify(state, v3["solution"]["gRecaptchaResponse"], "recaptcha")
    assert (body["action"], body["score"]) == ("buy", 0.9)


def test_verifications_are_recorded_with_ready_time(state: EmulatorState, clock: FakeClock) -> None:
    token = token_of(state, clock, task())
    clock.advance(3.0)
    verify(state, token, "recaptcha")
    verify(state, "junk", "recaptcha")
    (record,) = state.tasks()
    stats = state.stats()["verifications"]
    assert (stats["total"], stats["succeeded"], stats["failed"]) == (2, 1, 1)
    good, bad = stats["records"]
    assert good["task_id"] == record["task_id"]
    assert good["time"] - good["ready_at"] == pytest.approx(clock.now - record["ready_at"])
    assert bad == {
        "time": clock.now,
        "task_id": None,
        "success": False,
        "error_codes": ["invalid-input-response"],
        "ready_at": None,
        "remoteip": None,
    }


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"sitekey": "another-key"}, "sitekey-mismatch"),
        ({"url": "https://shop.example/checkout"}, "url-mismatch"),
        ({"url": "http://shop.example/login"}, "url-mismatch"),
        ({"url": "https://evil.example/login"}, "url-mismatch"),
        ({"url": "https://shop.example:8443/login"}, "url-mismatch"),
        ({"kind": "hcaptcha"}, "kind-mismatch"),
        ({"kind": "recaptcha-enterprise"}, "kind-mismatch"),
    ],
)
def test_mismatched_token_fails_and_is_consumed(
    state: EmulatorState, clock: FakeClock, params: dict[str, str], code: str
) -> None:
    token = token_of(state, clock, task("RecaptchaV2Task"))
    others = dict(params)
    body = verify(state, token, others.pop("kind", "recaptcha"), **others)
    assert body["success"] is False
    assert body["error-codes"] == [code]
    assert verify(state, token, "recaptcha")["error-codes"] == ["timeout-or-duplicate"]


def test_enterprise_token_needs_the_enterprise_kind(state: EmulatorState, clock: FakeClock) -> None:
    token = token_of(state, clock, task("RecaptchaV2Task", isEnterprise=True))
    assert verify(state, token, "recaptcha")["error-codes"] == ["kind-mismatch"]


@pytest.mark.parametrize(
    "url",
    [
        SITE + "?next=/cart#top",
        "HTTPS://Shop.Example:443/login",
        "https://shop.example/login#frag",
    ],
)
def test_url_check_ignores_query_fragment_case_and_default_port(
    state: EmulatorState, clock: FakeClock, url: str
) -> None:
    token = token_of(state, clock, task())
    assert verify(state, token, "recaptcha", url=url)["success"] is True


def test_url_is_optional(state: EmulatorState, clock: FakeClock) -> None:
    token = token_of(state, clock, task())
    assert state.siteverify({"response": token, "sitekey": SITEKEY, "kind": "recaptcha"})["success"]


@pytest.mark.parametrize(
    ("family_task", "kind", "lifetime"),
    [
        (task("RecaptchaV2Task"), "recaptcha", 120.0),
        (task("HCaptchaTask"), "hcaptcha", 120.0),
        (task("TurnstileTask"), "turnstile", 300.0),
    ],
)
def test_token_expires_after_its_lifetime(
    state: EmulatorState,
    clock: FakeClock,
    family_task: dict[str, Any],
    kind: str,
    lifetime: float,
) -> None:
    just_in_time = token_of(state, clock, family_task)
    clock.now = state.tasks()[-1]["ready_at"] + lifetime
    assert verify(state, just_in_time, kind)["success"] is True
    too_late = token_of(state, clock, family_task)
    clock.now = state.tasks()[-1]["ready_at"] + lifetime + 0.01
    assert verify(state, too_late, kind)["error-codes"] == ["timeout-or-duplicate"]


def test_token_lifetime_is_configurable(clock: FakeClock) -> None:
    state = make_state(clock, token_ttl=5)
    token = token_of(state, clock, task())
    clock.advance(5.0)
    assert verify(state, token, "recaptcha")["error-codes"] == ["timeout-or-duplicate"]


@pytest.mark.parametrize(
    ("params", "codes"),
    [
        ({"sitekey": SITEKEY, "kind": "recaptcha"}, ["missing-input-response"]),
        ({"response": "t", "kind": "recaptcha"}, ["missing-input-sitekey"]),
        ({}, ["missing-input-response", "missing-input-sitekey"]),
        ({"response": "t", "sitekey": SITEKEY}, ["bad-request"]),
        ({"response": "t", "sitekey": SITEKEY, "kind": "geetest"}, ["bad-request"]),
        ({"response": "t", "sitekey": SITEKEY, "kind": "turnstile"}, ["invalid-input-response"]),
    ],
)
def test_bad_verification_requests(
    state: EmulatorState, params: dict[str, str], codes: list[str]
) -> None:
    body = state.siteverify(params)
    assert body["success"] is False
    assert body["error-codes"] == codes


def test_bad_request_does_not_consume_the_token(state: EmulatorState, clock: FakeClock) -> None:
    token = token_of(state, clock, task())
    assert verify(state, token, "bogus-kind")["error-codes"] == ["bad-request"]
    assert verify(state, token, "recaptcha")["success"] is True

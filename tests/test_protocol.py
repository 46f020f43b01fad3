"""Protocol core: every answer shape and every error code, classified."""

from __future__ import annotations

import json
from typing import Any

import pytest

from scrapy_vastcaptcha.api import (
    AccountError,
    ApiError,
    ApiRedirectError,
    BudgetExhaustedError,
    ConfigurationError,
    ImageToTextTask,
    InvalidTaskError,
    ProtocolError,
    RecaptchaV2Task,
    Scope,
    ServiceBusyError,
    SolveTimeoutError,
    TaskFailedError,
    TlsError,
    TransportError,
    VastCaptchaError,
)
from scrapy_vastcaptcha.api import _protocol as p
from scrapy_vastcaptcha.api.credentials import ApiKey
from scrapy_vastcaptcha.api.errors import WidgetNotReadyError, api_error, classify

TASK = RecaptchaV2Task(website_url="https://a.example/", website_key="sitekey-1234")


def body(data: Any) -> bytes:
    return json.dumps(data).encode()


def nested(code: str) -> dict[str, Any]:
    return {"error": {"errorId": 1, "errorCode": code, "errorDescription": f"about {code}"}}


def test_request_bodies_carry_the_key_and_the_task() -> None:
    key = ApiKey("vastCap_secret_value")
    assert json.loads(p.create_task_body(key, TASK)) == {
        "clientKey": "vastCap_secret_value",
        "task": TASK.payload(),
    }
    assert json.loads(p.task_result_body(key, "t-1")) == {
        "clientKey": "vastCap_secret_value",
        "taskId": "t-1",
    }
    assert json.loads(p.balance_body(key)) == {"clientKey": "vastCap_secret_value"}


@pytest.mark.parametrize(
    ("code", "scope", "exc_type"),
    [
        ("ERROR_KEY_DOES_NOT_EXIST", Scope.RUN, AccountError),
        ("ERROR_IP_NOT_ALLOWED", Scope.RUN, AccountError),
        ("ERROR_ACCOUNT_DISABLED", Scope.RUN, AccountError),
        ("ERROR_INSUFFICIENT_BALANCE", Scope.RUN, AccountError),
        ("ERROR_IP_BANNED", Scope.RUN, AccountError),
        ("ERROR_VALIDATION_FAILED", Scope.TASK, TaskFailedError),
        ("ERROR_TASK_NOT_FOUND", Scope.TASK, TaskFailedError),
        ("ERROR_CAPTCHA_UNSOLVABLE", Scope.NEW_TASK, TaskFailedError),
        ("ERROR_PROXY_CONNECTION_FAILED", Scope.NEW_TASK, TaskFailedError),
        ("ERROR_NO_SLOT_AVAILABLE", Scope.RETRY, ServiceBusyError),
        ("ERROR_SOMETHING_NEW", Scope.TASK, TaskFailedError),
    ],
)
def test_every_error_code_is_classified(code: str, scope: Scope, exc_type: type[ApiError]) -> None:
    assert classify(code) is scope
    with pytest.raises(exc_type) as info:
        p.parse_create_task(body(nested(code)))
    assert info.value.code == code
    assert info.value.scope is scope
    assert info.value.description == f"about {code}"
    assert info.value.method == "createTask"
    assert code in str(info.value)


def test_create_task_returns_string_ids_even_when_peers_send_ints() -> None:
    assert p.parse_create_task(body({"taskId": "9d55c404-5a45-4e7b-8a93-b8ed9f26bdcf"})) == (
        "9d55c404-5a45-4e7b-8a93-b8ed9f26bdcf"
    )
    assert p.parse_create_task(body({"errorId": 0, "taskId": 7})) == "7"


@pytest.mark.parametrize("data", [{}, {"taskId": ""}, {"taskId": None}, {"taskId": True}])
def test_create_task_without_an_id_is_a_transport_failure(data: dict[str, Any]) -> None:
    with pytest.raises(TransportError, match="taskId"):
        p.parse_create_task(body(data))


def test_flat_peer_envelope_is_an_error() -> None:
    flat = {"errorId": 1, "errorCode": "ERROR_ZERO_BALANCE", "errorDescription": "no money"}
    with pytest.raises(AccountError, match="ERROR_ZERO_BALANCE"):
        p.parse_create_task(body(flat))


def test_error_id_zero_is_success() -> None:
    assert p.parse_balance(body({"errorId": 0, "balance": 1.5})) == 1.5


def test_bare_error_string_is_understood() -> None:
    with pytest.raises(AccountError):
        p.parse_balance(body({"error": "ERROR_KEY_DOES_NOT_EXIST"}))


def test_processing_and_unknown_statuses_mean_keep_polling() -> None:
    assert p.parse_task_result(body({"status": "processing"})) == p.Pending("processing")
    assert p.parse_task_result(body({"status": "queued"})) == p.Pending("queued")
    assert p.parse_task_result(body({})) == p.Pending("unknown")


@pytest.mark.parametrize("status", ["failed", "error", "FAILED"])
def test_both_failure_spellings(status: str) -> None:
    data = {"status": status, **nested("ERROR_CAPTCHA_UNSOLVABLE")}
    with pytest.raises(TaskFailedError) as info:
        p.parse_task_result(body(data), TASK)
    assert info.value.scope is Scope.NEW_TASK


def test_failed_status_without_error_object() -> None:
    with pytest.raises(TaskFailedError) as info:
        p.parse_task_result(body({"status": "failed"}))
    assert info.value.code == "ERROR_UNKNOWN"


def test_recaptcha_solution() -> None:
    solution = p.parse_task_result(
        body({"status": "ready", "solution": {"gRecaptchaResponse": "03AG", "score": 0.9}}), TASK
    )
    assert isinstance(solution, p.Solution)
    assert solution.token == "03AG"
    assert solution.value == "03AG"
    assert solution.score == 0.9
    assert solution.raw == {"gRecaptchaResponse": "03AG", "score": 0.9}


@pytest.mark.parametrize("field", ["token", "hCaptchaResponse", "turnstileResponse"])
def test_token_is_found_whatever_field_it_came_in(field: str) -> None:
    solution = p.parse_task_result(body({"status": "ready", "solution": {field: "P1_x"}}), TASK)
    assert isinstance(solution, p.Solution)
    assert solution.token == "P1_x"


def test_user_agent_is_exposed() -> None:
    raw = {"token": "t", "userAgent": "Mozilla/5.0 X"}
    solution = p.parse_task_result(body({"status": "ready", "solution": raw}))
    assert isinstance(solution, p.Solution)
    assert solution.user_agent == "Mozilla/5.0 X"


def test_image_solution_text() -> None:
    task = ImageToTextTask(image=b"png")
    solution = p.parse_task_result(body({"status": "ready", "solution": {"text": "AB12"}}), task)
    assert isinstance(solution, p.Solution)
    assert solution.text == "AB12"
    assert solution.value == "AB12"


@pytest.mark.parametrize(
    "data",
    [
        {"status": "ready"},
        {"status": "ready", "solution": None},
        {"status": "ready", "solution": {}},
        {"status": "ready", "solution": {"gRecaptchaResponse": ""}},
        {"status": "ready", "solution": {"text": "only text"}},
    ],
)
def test_ready_without_a_usable_solution_is_worth_a_new_task(data: dict[str, Any]) -> None:
    with pytest.raises(TaskFailedError) as info:
        p.parse_task_result(body(data), TASK)
    assert info.value.code == "ERROR_EMPTY_SOLUTION"
    assert info.value.scope is Scope.NEW_TASK


@pytest.mark.parametrize(
    "raw",
    [b"", b"<html>502 Bad Gateway</html>", b'{"status": "rea', b"[1, 2]", b'"ready"', b"\xff\xfe"],
)
def test_non_json_or_truncated_bodies_are_transient(raw: bytes) -> None:
    with pytest.raises(TransportError, match="getTaskResult"):
        p.parse_task_result(raw)


def test_balance_shapes() -> None:
    assert p.parse_balance(body({"balance": 10.25})) == 10.25
    assert p.parse_balance(body({"balance": "3.5"})) == 3.5
    with pytest.raises(TransportError, match="balance"):
        p.parse_balance(body({"balance": "lots"}))
    with pytest.raises(AccountError):
        p.parse_balance(body(nested("ERROR_KEY_DOES_NOT_EXIST")))


@pytest.mark.parametrize("error_id", [1, "1", " 1 ", 1.0, True, -1, "x"])
def test_any_non_zero_error_id_is_an_error(error_id: Any) -> None:
    flat = {"errorId": error_id, "errorCode": "error_key_does_not_exist"}
    with pytest.raises(AccountError) as info:
        p.parse_create_task(body(flat))
    assert info.value.code == "ERROR_KEY_DOES_NOT_EXIST"


@pytest.mark.parametrize("error_id", [0, "0", 0.0, False, None, ""])
def test_zero_error_ids_are_success(error_id: Any) -> None:
    assert p.parse_create_task(body({"errorId": error_id, "taskId": "t-1"})) == "t-1"


@pytest.mark.parametrize(
    "task_id", [1.5, [], {"id": 1}, "x" * 201, "bad\nid", "   "], ids=lambda v: repr(v)[:12]
)
def test_unusable_task_ids_are_protocol_errors(task_id: Any) -> None:
    with pytest.raises(ProtocolError, match="taskId"):
        p.parse_create_task(body({"taskId": task_id}))


@pytest.mark.parametrize("status", [None, 42, ["ready"], {"x": 1}, ""])
def test_statuses_that_are_not_strings_mean_still_working(status: Any) -> None:
    assert p.parse_task_result(body({"status": status}), TASK) == p.Pending("unknown")


def test_long_statuses_are_cut() -> None:
    answer = p.parse_task_result(body({"status": "q" * 10_000}), TASK)
    assert isinstance(answer, p.Pending)
    assert len(answer.status) == 40


@pytest.mark.parametrize(
    "raw",
    [b"[" * 100_000, b'{"a":' * 100_000, b'{"balance": NaN}', b'{"balance": -Infinity}'],
    ids=["deep-list", "deep-object", "nan", "infinity"],
)
def test_deep_or_non_finite_json_is_a_protocol_error(raw: bytes) -> None:
    with pytest.raises(ProtocolError):
        p.parse_balance(raw)


@pytest.mark.parametrize("balance", ["NaN", "inf", "-Infinity", "1e400", True, None, [1]])
def test_balance_must_be_a_finite_number(balance: Any) -> None:
    data = f'{{"balance": {balance}}}' if balance == "1e400" else json.dumps({"balance": balance})
    with pytest.raises(ProtocolError, match="finite"):
        p.parse_balance(data.encode())


def test_negative_and_string_balances_are_numbers() -> None:
    assert p.parse_balance(body({"balance": -0.5})) == -0.5
    assert p.parse_balance(body({"balance": " 2.25 "})) == 2.25


SECRET = "vastCap_protocol_key_SECRETSECRET"


def test_key_echoed_json_escaped_is_scrubbed_after_decoding() -> None:
    key = ApiKey(SECRET)
    escaped = "\\u0076" + SECRET[1:]
    raw = (
        '{"error": {"errorCode": "ERROR_KEY_DOES_NOT_EXIST", '
        f'"errorDescription": "unknown key {escaped}"}}, "echo": ["{escaped}"]}}'
    ).encode()
    assert SECRET.encode() not in raw  # raw-byte scrubbing cannot see it
    with pytest.raises(AccountError) as info:
        p.parse_create_task(raw, key=key)
    assert SECRET not in info.value.description
    assert info.value.description == f"unknown key {key.prefix}"
    data = p.decode(raw, "createTask", key)
    assert data["echo"] == [key.prefix]


def test_key_in_a_malformed_body_snippet_is_scrubbed() -> None:
    key = ApiKey(SECRET)
    raw = ('{"k": "\\u0076' + SECRET[1:] + '", ').encode()
    with pytest.raises(ProtocolError) as info:
        p.parse_balance(raw, key=key)
    assert "SECRET" not in str(info.value)


def test_every_error_has_its_code_on_the_instance() -> None:
    errors = [
        VastCaptchaError("x"),
        ConfigurationError("x"),
        InvalidTaskError("x"),
        TransportError("x"),
        ProtocolError("x"),
        SolveTimeoutError("x"),
        ApiRedirectError("x", location="https://b.example/"),
        TlsError("x", host="a.example"),
        BudgetExhaustedError("x"),
        api_error("ERROR_CAPTCHA_UNSOLVABLE"),
    ]
    for exc in errors:
        assert isinstance(vars(exc)["code"], str)
        assert vars(exc)["tasks_created"] == 0
        assert isinstance(exc.scope, Scope)
    budget = BudgetExhaustedError("spent", code="MIN_BALANCE", reason="vastcaptcha_min_balance")
    assert (budget.code, budget.reason, budget.scope) == (
        "MIN_BALANCE",
        "vastcaptcha_min_balance",
        Scope.RUN,
    )
    assert BudgetExhaustedError("spent").reason == "vastcaptcha_budget_exhausted"
    # Subclasses elsewhere set ``code`` on the class or the instance first.
    assert WidgetNotReadyError("x").code == "WIDGET_NOT_READY"


def test_configuration_errors_are_value_errors_too() -> None:
    assert issubclass(ConfigurationError, ValueError)
    assert TransportError("x", code="CONNECTION_FAILED").code == "CONNECTION_FAILED"

"""The official ``vastcap`` 1.0.1 SDK against the emulator: its request shapes are accepted
and it reads the answers as it would read the service's.

The SDK is in the ``test`` dependency group (the benchmarks use it too); without it
these tests are skipped. Its known defects (vastcap-api.md, "Known defects of the official
Python SDK") show here as they would against the service: hCaptcha and Turnstile tokens
land in its ``funcaptcha_response`` because it looks for them under other names.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from scrapy_vastcaptcha.testing import EmulatorHandle

vastcap = pytest.importorskip("vastcap")

SITE = "https://shop.example/account/login"
V2_KEY = "6LeIxAcTAAAAAJcZVRqyHh71UMIEGNQ_MXjiZKhI"
UA = "Mozilla/5.0 (X11; Linux x86_64) SdkTest/1.0"
PROXY = "login:secret@proxy.example:3128"


@pytest.fixture
def emulator(vastcaptcha_emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch) -> Any:
    # the SDK posts with requests, which honours proxy variables; the emulator is local
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    vastcaptcha_emulator.configure(solve_time=0.05)
    return vastcaptcha_emulator


def sdk(emulator: EmulatorHandle, key: str | None = None) -> Any:
    client = vastcap.Vast(key or emulator.api_key, timeout=10.0, polling=0.05)
    client.API_BASE_URL = emulator.api_url
    return client


def test_balance(emulator: EmulatorHandle) -> None:
    assert sdk(emulator).get_balance() == 10.0


def test_every_sdk_task_is_accepted_and_solved(emulator: EmulatorHandle) -> None:
    client = sdk(emulator)
    site = {"website_url": SITE, "website_key": V2_KEY}
    tasks = [
        vastcap.RecaptchaV2Task(**site, is_invisible=True, user_agent=UA, proxy=PROXY),
        vastcap.RecaptchaV3Task(**site, min_score=0.7, page_action="login"),
        vastcap.HCaptchaTask(**site, invisible=True, enterprise=True),
        vastcap.TurnstileTask(**site),
        vastcap.FunCaptchaTask(**site),
    ]
    v2, v3, hcaptcha, turnstile, funcaptcha = [client.solve(task) for task in tasks]
    assert v2.grecaptcha_response.startswith("03A")
    assert v2.user_agent == UA
    assert v3.grecaptcha_response.startswith("03A")
    assert v3.score >= 0.7
    # the service answers hCaptcha and Turnstile with `token`, which this SDK reads
    # as a FunCaptcha answer only
    assert hcaptcha.hcaptcha_response is None
    assert hcaptcha.funcaptcha_response.startswith("P1_")
    assert turnstile.turnstile_response is None
    assert turnstile.funcaptcha_response.startswith("0.")
    assert funcaptcha.funcaptcha_response
    records = emulator.tasks()
    assert [record["fields"] for record in records] == [task.to_dict() for task in tasks]
    assert [record["invisible"] for record in records] == [True, None, True, False, None]
    assert [record["status"] for record in records] == ["ready"] * 5


def test_processing_then_ready(emulator: EmulatorHandle) -> None:
    emulator.configure(solve_time=60)
    client = sdk(emulator)
    task_id = client.create_task(vastcap.TurnstileTask(website_url=SITE, website_key=V2_KEY))
    assert client.get_task_result(task_id) == (vastcap.TaskStatus.PROCESSING, None)


def test_errors_map_to_the_sdk_exceptions(emulator: EmulatorHandle) -> None:
    with pytest.raises(vastcap.InvalidAPIKeyError):
        sdk(emulator, "not-a-key").get_balance()
    client = sdk(emulator)
    with pytest.raises(vastcap.TaskNotFoundError):
        client.get_task_result(str(uuid.uuid4()))
    bad_proxy = vastcap.TurnstileTask(
        website_url=SITE, website_key=V2_KEY, proxy="http://login:secret@proxy.example:3128"
    )
    with pytest.raises(vastcap.ValidationError):
        client.create_task(bad_proxy)
    emulator.configure(faults={"unsolvable": 1.0})
    with pytest.raises(vastcap.CaptchaUnsolvableError):
        client.solve(vastcap.TurnstileTask(website_url=SITE, website_key=V2_KEY))
    emulator.set_account(emulator.api_key, balance=0)
    with pytest.raises(vastcap.InsufficientBalanceError):
        client.create_task(vastcap.TurnstileTask(website_url=SITE, website_key=V2_KEY))

"""The ``vastcaptcha`` command line, run as a real process against the emulator."""

from __future__ import annotations

import os
import subprocess
import sys

import scrapy_vastcaptcha
from scrapy_vastcaptcha.testing import EmulatorHandle


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("VASTCAPTCHA_")}
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "scrapy_vastcaptcha", *args],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
        check=False,
    )


def test_balance(vastcaptcha_emulator: EmulatorHandle) -> None:
    done = run(
        "balance",
        "--api-key",
        vastcaptcha_emulator.api_key,
        "--api-url",
        vastcaptcha_emulator.api_url,
    )
    assert done.returncode == 0, done.stderr
    assert float(done.stdout) == 10.0


def test_solve_prints_the_token_and_progress(vastcaptcha_emulator: EmulatorHandle) -> None:
    vastcaptcha_emulator.configure(solve_time=0.3)
    done = run(
        "solve",
        "--type",
        "turnstile",
        "--url",
        "https://shop.example/login",
        "--sitekey",
        "0x4AAAAAAAB",
        "--action",
        "login",
        "--poll-interval",
        "0.1",
        env={
            "VASTCAPTCHA_API_KEY": vastcaptcha_emulator.api_key,
            "VASTCAPTCHA_API_URL": vastcaptcha_emulator.api_url,
        },
    )
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip()
    assert token.startswith("0.")
    assert "created" in done.stderr
    assert "processing" in done.stderr
    (task,) = vastcaptcha_emulator.tasks()
    assert task["fields"]["action"] == "login"


def test_failure_exits_non_zero_with_the_code(vastcaptcha_emulator: EmulatorHandle) -> None:
    vastcaptcha_emulator.set_account(vastcaptcha_emulator.api_key, disabled=True)
    done = run(
        "solve",
        "--type=recaptcha-v2",
        "--url=https://a.example/",
        "--sitekey=6Lc-key",
        f"--api-key={vastcaptcha_emulator.api_key}",
        f"--api-url={vastcaptcha_emulator.api_url}",
    )
    assert done.returncode == 1
    assert "ERROR_ACCOUNT_DISABLED" in done.stderr
    assert done.stdout == ""
    assert vastcaptcha_emulator.api_key not in done.stderr


def test_missing_key_says_how_to_set_it() -> None:
    done = run("balance", "--api-url", "http://127.0.0.1:9/api")
    assert done.returncode == 1
    assert "VASTCAPTCHA_API_KEY" in done.stderr


def test_bad_task_is_refused_before_any_call(vastcaptcha_emulator: EmulatorHandle) -> None:
    done = run(
        "solve",
        "--type=recaptcha-v3",
        "--url=https://a.example/",
        "--sitekey=6Lc-key",
        "--min-score=5",
        f"--api-key={vastcaptcha_emulator.api_key}",
        f"--api-url={vastcaptcha_emulator.api_url}",
    )
    assert done.returncode == 1
    assert "min_score" in done.stderr
    assert vastcaptcha_emulator.stats()["calls"]["createTask"] == 0


def test_plain_http_to_a_remote_host_is_refused() -> None:
    done = run("balance", "--api-key", "vastCap_x_123456", "--api-url", "http://10.1.2.3/api")
    assert done.returncode == 1
    assert "plain-http" in done.stderr


def test_version_is_the_package_version() -> None:
    done = run("--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"vastcaptcha {scrapy_vastcaptcha.__version__}\n"

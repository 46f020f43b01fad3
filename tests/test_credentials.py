"""The API key never shows itself; the API URL is safe."""

from __future__ import annotations

import pickle
from typing import Any

import pytest

from scrapy_vastcaptcha import ConfigurationError, VastCaptchaClient
from scrapy_vastcaptcha.api import check_positive_finite, check_positive_int
from scrapy_vastcaptcha.api.credentials import ApiKey, resolve_api_key, resolve_api_url

SECRET = "vastCap_0123456789abcdefSECRET"


def test_key_is_redacted_everywhere() -> None:
    key = ApiKey(SECRET)
    for text in (str(key), repr(key), f"{key}", f"{key!r}", key.prefix):
        assert SECRET not in text
        assert "SECRET" not in text
    assert key.reveal() == SECRET
    assert key.prefix == "vastCap_01…"


def test_short_keys_show_at_most_a_third() -> None:
    assert ApiKey("abcdefghi").prefix == "abc…"


def test_key_cannot_be_pickled() -> None:
    with pytest.raises(TypeError, match="pickled"):
        pickle.dumps(ApiKey(SECRET))


def test_scrub_replaces_key_in_bytes() -> None:
    key = ApiKey(SECRET)
    assert SECRET.encode() not in key.scrub_bytes(f'{{"k":"{SECRET}"}}'.encode())


@pytest.mark.parametrize(
    "text",
    [
        f"key {SECRET} unknown",
        "key \\u0076" + SECRET[1:] + " unknown",
        "key " + SECRET.replace("S", "%53") + " unknown",
    ],
    ids=["plain", "json-escaped", "percent-encoded"],
)
def test_scrub_finds_the_key_in_text_however_it_is_escaped(text: str) -> None:
    scrubbed = ApiKey(SECRET).scrub(text)
    assert "SECRET" not in scrubbed
    assert scrubbed == "key vastCap_01… unknown"


def test_scrub_leaves_text_without_the_key_alone() -> None:
    assert ApiKey(SECRET).scrub("50%25 \\u0041") == "50%25 \\u0041"


def test_key_from_argument_then_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VASTCAPTCHA_API_KEY", "vastCap_from_env_123")
    assert resolve_api_key().reveal() == "vastCap_from_env_123"
    assert resolve_api_key("vastCap_arg_4567890").reveal() == "vastCap_arg_4567890"


def test_missing_key_says_how_to_set_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VASTCAPTCHA_API_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="VASTCAPTCHA_API_KEY"):
        resolve_api_key()


def test_url_default_env_and_argument(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VASTCAPTCHA_API_URL", raising=False)
    assert resolve_api_url() == "https://captcha.vast.sh/api/solver"
    monkeypatch.setenv("VASTCAPTCHA_API_URL", "http://127.0.0.1:9/api/solver/")
    assert resolve_api_url() == "http://127.0.0.1:9/api/solver"
    assert resolve_api_url("https://proxy.example/api") == "https://proxy.example/api"


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8765/api", "http://localhost/api", "http://[::1]:1/api"]
)
def test_plain_http_allowed_on_loopback(url: str) -> None:
    assert resolve_api_url(url) == url


@pytest.mark.parametrize("url", ["http://captcha.vast.sh/api/solver", "http://10.0.0.5/api"])
def test_plain_http_refused_elsewhere(url: str) -> None:
    with pytest.raises(ConfigurationError, match="plain-http"):
        resolve_api_url(url)


@pytest.mark.parametrize("url", ["captcha.vast.sh", "ftp://x.y/api", "https://"])
def test_malformed_urls_refused(url: str) -> None:
    with pytest.raises(ConfigurationError, match="absolute"):
        resolve_api_url(url)


def test_client_repr_shows_prefix_only() -> None:
    client = VastCaptchaClient(SECRET, "http://127.0.0.1:1/api")
    assert SECRET not in repr(client)
    assert "vastCap_01…" in repr(client)


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("https://captcha.vast.sh/api/solver/createTask", "without the method name"),
        ("https://captcha.vast.sh/api/solver/getTaskResult/", "without the method name"),
        ("https://captcha.vast.sh/api/solver/GETBALANCE", "without the method name"),
        ("https://captcha.vast.sh/api/solver?key=1", "query"),
        ("https://captcha.vast.sh/api/solver#top", "fragment"),
        ("https://captcha.vast.sh:0/api", "port"),
        ("https://captcha.vast.sh:65536/api", "port"),
        ("https://captcha.vast.sh:http/api", "port"),
        ("https://:443/api", "empty host"),
        ("https://user:hunter2@captcha.vast.sh/api", "user:password"),
        ("https://☃☃..example/api", "invalid host"),
    ],
)
def test_urls_that_cannot_be_the_base_are_refused_naming_the_setting(url: str, says: str) -> None:
    with pytest.raises(ConfigurationError, match=says) as info:
        resolve_api_url(url, name="VASTCAPTCHA_API_URL")
    assert "VASTCAPTCHA_API_URL" in str(info.value)
    assert "hunter2" not in str(info.value)


def test_environment_url_errors_name_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VASTCAPTCHA_API_URL", "https://captcha.vast.sh/api/solver/createTask")
    with pytest.raises(ConfigurationError, match="VASTCAPTCHA_API_URL"):
        resolve_api_url()


def test_international_host_is_idna_encoded() -> None:
    assert resolve_api_url("https://bücher.example:8443/api") == (
        "https://xn--bcher-kva.example:8443/api"
    )
    assert resolve_api_url("https://1.2.3.4:65535/api") == "https://1.2.3.4:65535/api"


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf"), 0, -1.5, "3", True])
def test_check_positive_finite_refuses_and_names(value: object) -> None:
    with pytest.raises(ConfigurationError, match="VASTCAPTCHA_TIMEOUT"):
        check_positive_finite("VASTCAPTCHA_TIMEOUT", value)


def test_check_positive_finite_and_int_accept_numbers() -> None:
    assert check_positive_finite("x", 2) == 2.0
    assert check_positive_finite("x", 0.001) == 0.001
    assert check_positive_int("n", 3) == 3
    assert check_positive_int("n", 3.0) == 3
    for bad in (0, -1, 2.5, float("nan"), "4", False):
        with pytest.raises(ConfigurationError, match="n must"):
            check_positive_int("n", bad)


@pytest.mark.parametrize(
    "option",
    ["http_timeout", "solve_timeout", "poll_interval", "max_polls", "max_task_attempts"],
)
@pytest.mark.parametrize("value", [float("nan"), float("inf"), 0, -1])
def test_client_refuses_bad_numbers_at_construction(option: str, value: float) -> None:
    options: dict[str, Any] = {option: value}
    with pytest.raises(ConfigurationError, match=option):
        VastCaptchaClient(SECRET, "http://127.0.0.1:1/api", **options)


def test_client_refuses_a_method_url_at_construction() -> None:
    with pytest.raises(ConfigurationError, match="api_url must be the API base URL"):
        VastCaptchaClient(SECRET, "http://127.0.0.1:1/api/createTask")

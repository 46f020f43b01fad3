"""The API key never shows itself; the API URL is safe."""

from __future__ import annotations

import pickle

import pytest

from scrapy_vastcaptcha import ConfigurationError, VastCaptchaClient
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

"""VASTCAPTCHA_* settings: defaults, string values, clear errors."""

from __future__ import annotations

import pytest
from scrapy.exceptions import NotConfigured
from scrapy.settings import Settings
from scrapy.utils.test import get_crawler

from scrapy_vastcaptcha import ConfigurationError, VastCaptchaMiddleware
from scrapy_vastcaptcha.addon import MIDDLEWARE_PRIORITY, Addon
from scrapy_vastcaptcha.config import DEFAULTS, MiddlewareConfig

KEY = "vastCap_config_test_key"


def config(**values: object) -> MiddlewareConfig:
    return MiddlewareConfig.from_settings(Settings({"VASTCAPTCHA_API_KEY": KEY, **values}))


def test_defaults() -> None:
    c = config()
    assert c.api_url == "https://captcha.vast.sh/api/solver"
    assert (c.timeout, c.max_concurrent, c.max_attempts, c.token_max_age) == (180.0, 500, 3, 90.0)
    assert c.poll_interval is None
    assert "turnstile" in c.detect


def test_strings_are_converted() -> None:
    c = config(
        VASTCAPTCHA_POLL_INTERVAL="0.5",
        VASTCAPTCHA_MAX_CONCURRENT="7",
        VASTCAPTCHA_FORWARD_PROXY="true",
        VASTCAPTCHA_DETECT="hcaptcha, turnstile",
        VASTCAPTCHA_V3_MIN_SCORE="",
    )
    assert c.poll_interval == 0.5
    assert c.max_concurrent == 7
    assert c.forward_proxy is True
    assert c.detect == ("hcaptcha", "turnstile")
    assert c.v3_min_score is None


def test_missing_key_is_not_configured_with_a_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VASTCAPTCHA_API_KEY", raising=False)
    with pytest.raises(NotConfigured, match="VASTCAPTCHA_API_KEY"):
        MiddlewareConfig.from_settings(Settings())


def test_key_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VASTCAPTCHA_API_KEY", "vastCap_from_the_env")
    assert MiddlewareConfig.from_settings(Settings()).api_key.reveal() == "vastCap_from_the_env"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("VASTCAPTCHA_TIMEOUT", "soon", "VASTCAPTCHA_TIMEOUT"),
        ("VASTCAPTCHA_MAX_ATTEMPTS", "0", "VASTCAPTCHA_MAX_ATTEMPTS must be at least 1"),
        ("VASTCAPTCHA_DETECT", "recaptcha-v4", "unknown kind"),
        ("VASTCAPTCHA_POLL_INTERVAL", "-1", "VASTCAPTCHA_POLL_INTERVAL"),
        # nan passes every comparison: it used to switch the deadline off and
        # poll 120 times in a fraction of a second.
        ("VASTCAPTCHA_POLL_INTERVAL", "nan", "VASTCAPTCHA_POLL_INTERVAL"),
        ("VASTCAPTCHA_TIMEOUT", "nan", "VASTCAPTCHA_TIMEOUT"),
        ("VASTCAPTCHA_TIMEOUT", "inf", "VASTCAPTCHA_TIMEOUT"),
        ("VASTCAPTCHA_HTTP_TIMEOUT", "nan", "VASTCAPTCHA_HTTP_TIMEOUT"),
        ("VASTCAPTCHA_SESSION_CHALLENGES", "sometimes", "VASTCAPTCHA_SESSION_CHALLENGES"),
        ("VASTCAPTCHA_API_URL", "http://solver.example/api", "plain-http"),
        ("VASTCAPTCHA_API_URL", "https://solver.example/api/createTask", "createTask"),
        ("VASTCAPTCHA_API_URL", "https://solver.example/api?key=1", "query"),
        ("VASTCAPTCHA_API_URL", "https://solver.example:99999/api", "port"),
    ],
)
def test_bad_values_name_the_setting(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        config(**{name: value})


def test_a_bad_api_url_fails_when_the_crawler_starts() -> None:
    crawler = get_crawler(
        settings_dict={
            "VASTCAPTCHA_API_KEY": KEY,
            "VASTCAPTCHA_API_URL": "https://solver.example/api/getTaskResult",
        }
    )
    with pytest.raises(ConfigurationError, match="getTaskResult"):
        VastCaptchaMiddleware.from_crawler(crawler)


def test_disabled_by_setting() -> None:
    crawler = get_crawler(settings_dict={"VASTCAPTCHA_API_KEY": KEY, "VASTCAPTCHA_ENABLED": "0"})
    with pytest.raises(NotConfigured):
        VastCaptchaMiddleware.from_crawler(crawler)


def test_refuses_to_run_without_a_reactor() -> None:
    crawler = get_crawler(settings_dict={"VASTCAPTCHA_API_KEY": KEY})
    crawler.settings.frozen = False
    crawler.settings.set("TWISTED_REACTOR_ENABLED", False)
    with pytest.raises(ConfigurationError, match="TWISTED_REACTOR_ENABLED"):
        VastCaptchaMiddleware.from_crawler(crawler)


def test_addon_enables_the_middleware_and_defaults() -> None:
    settings = Settings({"VASTCAPTCHA_TIMEOUT": 5})
    Addon().update_settings(settings)
    assert settings.getdict("DOWNLOADER_MIDDLEWARES")[VastCaptchaMiddleware] == MIDDLEWARE_PRIORITY
    assert settings.getfloat("VASTCAPTCHA_TIMEOUT") == 5
    assert settings.getint("VASTCAPTCHA_MAX_ATTEMPTS") == DEFAULTS["VASTCAPTCHA_MAX_ATTEMPTS"]
    assert 550 < MIDDLEWARE_PRIORITY < 590

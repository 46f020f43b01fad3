"""Task model: payloads per type and validation before anything is sent."""

from __future__ import annotations

import base64
import dataclasses

import pytest

from scrapy_vastcaptcha import (
    FunCaptchaTask,
    HCaptchaTask,
    ImageToTextTask,
    InvalidTaskError,
    RecaptchaV2Task,
    RecaptchaV3Task,
    TurnstileTask,
)

URL = "https://shop.example/login"
KEY = "6Le-wvkSAAAAAPBMRTvw0Q4Muexq9bi0DJwx_mJ-"


def test_recaptcha_v2_payload_uses_service_field_names() -> None:
    task = RecaptchaV2Task(website_url=URL, website_key=KEY, invisible=True)
    assert task.payload() == {
        "type": "RecaptchaV2Task",
        "websiteURL": URL,
        "websiteKey": KEY,
        "isInvisible": True,
    }


def test_false_flags_and_unset_options_are_left_out() -> None:
    task = RecaptchaV2Task(website_url=URL, website_key=KEY)
    assert task.payload() == {"type": "RecaptchaV2Task", "websiteURL": URL, "websiteKey": KEY}


def test_enterprise_is_sent_as_is_enterprise() -> None:
    task = RecaptchaV2Task(
        website_url=URL, website_key=KEY, enterprise=True, enterprise_payload={"s": "x"}
    )
    assert task.payload()["isEnterprise"] is True
    assert task.payload()["enterprisePayload"] == {"s": "x"}


def test_recaptcha_v3_payload() -> None:
    task = RecaptchaV3Task(website_url=URL, website_key=KEY, page_action="login", min_score=0.7)
    assert task.payload() == {
        "type": "RecaptchaV3Task",
        "websiteURL": URL,
        "websiteKey": KEY,
        "pageAction": "login",
        "minScore": 0.7,
    }


@pytest.mark.parametrize("score", [0.0, 0.05, 0.95, 1.5, -1])
def test_recaptcha_v3_score_out_of_range_is_refused(score: float) -> None:
    with pytest.raises(InvalidTaskError, match="min_score"):
        RecaptchaV3Task(website_url=URL, website_key=KEY, min_score=score)


def test_hcaptcha_payload_spells_invisible_differently() -> None:
    task = HCaptchaTask(
        website_url=URL,
        website_key="10000000-ffff-ffff-ffff-000000000001",
        invisible=True,
        enterprise=True,
        rqdata="abc",
    )
    payload = task.payload()
    assert payload["invisible"] is True
    assert "isInvisible" not in payload
    assert payload["enterprise"] is True
    assert payload["rqdata"] == "abc"


def test_turnstile_passes_action_cdata_and_page_data_through() -> None:
    task = TurnstileTask(
        website_url=URL, website_key="0x4AAAAAAAB", action="login", cdata="c-1", page_data="p"
    )
    payload = task.payload()
    assert payload["action"] == "login"
    assert payload["cData"] == "c-1"
    assert payload["chlPageData"] == "p"


def test_funcaptcha_data_blob_and_cookies() -> None:
    task = FunCaptchaTask(
        website_url=URL,
        website_key="69A21A01-CC7B-B9C6-0F9A-E7FA06677FFC",
        blob="b",
        cookies={"a": "1"},
    )
    assert task.payload()["data"] == {"blob": "b", "custom_cookies": {"a": "1"}}
    bare = FunCaptchaTask(website_url=URL, website_key="69A21A01-CC7B-B9C6-0F9A-E7FA06677FFC")
    assert "data" not in bare.payload()


def test_image_bytes_become_clean_base64() -> None:
    task = ImageToTextTask(image=b"\x89PNG fake")
    assert task.payload() == {
        "type": "ImageToTextTask",
        "body": base64.b64encode(b"\x89PNG fake").decode(),
    }


def test_image_data_uri_and_line_breaks_are_cleaned() -> None:
    encoded = base64.b64encode(b"x" * 100).decode()
    wrapped = "\n".join(encoded[i : i + 20] for i in range(0, len(encoded), 20))
    task = ImageToTextTask(image=f"data:image/png;base64,{wrapped}\n")
    assert task.payload()["body"] == encoded


@pytest.mark.parametrize("image", [b"", "", "   ", "data:image/png;base64,", "not base64!!"])
def test_bad_images_are_refused(image: bytes | str) -> None:
    with pytest.raises(InvalidTaskError, match="image"):
        ImageToTextTask(image=image)


@pytest.mark.parametrize(
    ("url", "message"),
    [("", "website_url is required"), ("shop.example/x", "absolute"), ("ftp://x.y/", "absolute")],
)
def test_bad_urls_are_refused(url: str, message: str) -> None:
    with pytest.raises(InvalidTaskError, match=message):
        RecaptchaV2Task(website_url=url, website_key=KEY)


@pytest.mark.parametrize("key", ["", "ab", "has space", "quote'\"", "</script>"])
def test_bad_site_keys_are_refused(key: str) -> None:
    with pytest.raises(InvalidTaskError, match="website_key"):
        TurnstileTask(website_url=URL, website_key=key)


def test_proxy_scheme_is_dropped_and_password_kept() -> None:
    task = RecaptchaV2Task(website_url=URL, website_key=KEY, proxy="http://u:p@10.0.0.1:3128")
    assert task.payload()["proxy"] == "u:p@10.0.0.1:3128"


def test_bad_proxy_is_refused_without_showing_its_password() -> None:
    with pytest.raises(InvalidTaskError, match="proxy") as info:
        RecaptchaV2Task(website_url=URL, website_key=KEY, proxy="socks5://u:secret@host")
    assert "secret" not in str(info.value)


def test_user_agent_and_extra_fields_are_sent() -> None:
    task = HCaptchaTask(
        website_url=URL,
        website_key="10000000-ffff-ffff-ffff-000000000001",
        user_agent="UA/1",
        extra={"newField": [1, 2]},
    )
    assert task.payload()["userAgent"] == "UA/1"
    assert task.payload()["newField"] == [1, 2]


def test_extra_fields_may_not_override_typed_ones() -> None:
    with pytest.raises(InvalidTaskError, match="websiteURL"):
        RecaptchaV2Task(website_url=URL, website_key=KEY, extra={"websiteURL": "https://x.y"})
    with pytest.raises(InvalidTaskError, match="type"):
        RecaptchaV2Task(website_url=URL, website_key=KEY, extra={"type": "Other"})


def test_tasks_are_immutable() -> None:
    task = RecaptchaV2Task(website_url=URL, website_key=KEY, extra={"a": 1})
    with pytest.raises(dataclasses.FrozenInstanceError):
        task.website_url = "https://other.example"  # type: ignore[misc]
    with pytest.raises(TypeError):
        task.extra["a"] = 2  # type: ignore[index]


@pytest.mark.parametrize(
    "proxy",
    ["http://user:p/ss@host", "user:pa@ss@host", "socks5://u:se:cret@h:1:2"],
)
def test_odd_proxy_passwords_are_never_shown(proxy: str) -> None:
    with pytest.raises(InvalidTaskError) as info:
        RecaptchaV2Task(website_url=URL, website_key=KEY, proxy=proxy)
    assert "ss@" not in str(info.value)
    assert "cret" not in str(info.value)
    assert "***@" in str(info.value)


@pytest.mark.parametrize("proxy", ["10.0.0.1:3128", "http://proxy.test:3128", "u:@h.test:3128"])
def test_a_proxy_without_credentials_is_refused_by_name(proxy: str) -> None:
    # The service takes login:password@host:port only (vastcap-api.md).
    with pytest.raises(InvalidTaskError, match="login:password@host:port"):
        RecaptchaV2Task(website_url=URL, website_key=KEY, proxy=proxy)

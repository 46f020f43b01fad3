"""What a response says about its challenge: the evidence both solving paths decide on."""

from __future__ import annotations

import pytest
from scrapy.http import HtmlResponse

from scrapy_vastcaptcha.captcha import Captcha
from scrapy_vastcaptcha.resubmit import FormPlan
from scrapy_vastcaptcha.sessions import challenge_key, declared_or_evident, response_evidence

URL = "https://shop.test/catalog?page=2"
TURNSTILE = Captcha(kind="turnstile", sitekey="0x4AAA")


def form(url: str, *fields: tuple[str, str]) -> FormPlan:
    return FormPlan(url=url, method="POST", fields=tuple(fields), token_fields=())


@pytest.mark.parametrize(
    ("status", "headers", "plan", "evident"),
    [
        (403, {}, None, True),
        (200, {"CF-Mitigated": "Challenge"}, None, True),
        # Posts elsewhere and carries the requested URL back.
        (200, {}, form("https://shop.test/verify", ("return_to", "/catalog?page=2")), True),
        # Posts to its own page: it answers for that page only.
        (200, {}, form("https://shop.test/catalog?page=2"), False),
        (200, {}, form("https://shop.test/verify"), None),
    ],
)
def test_a_response_s_status_headers_and_form_tell_whether_its_challenge_is_session_wide(
    status: int, headers: dict[str, str], plan: FormPlan | None, evident: bool | None
) -> None:
    response = HtmlResponse(URL, status=status, headers=headers, body=b"<html></html>")
    evidence = response_evidence(response, jar=None, declared=None)
    assert declared_or_evident(evidence, plan, "auto") is evident


def test_the_user_s_word_and_the_session_decide_over_the_evidence() -> None:
    response = HtmlResponse(URL, status=403, body=b"<html></html>")
    declared = response_evidence(response, jar=None, declared=False)
    assert declared_or_evident(declared, None, "auto") is False
    # The same challenge in two sessions (cookie jars, browser contexts) is two challenges.
    keys = {
        challenge_key(response_evidence(response, jar=jar, declared=None), [TURNSTILE], None)
        for jar in (None, 1, "context-b")
    }
    assert len(keys) == 3

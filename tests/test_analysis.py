"""The page analysis on its own: one pure call from a response to a plan."""

from __future__ import annotations

from scrapy.http import HtmlResponse, TextResponse

from scrapy_vastcaptcha.analysis import AnalysisConfig, Verdict, analyse
from scrapy_vastcaptcha.captcha import DETECTABLE_KINDS
from scrapy_vastcaptcha.meta import parse_spec
from scrapy_vastcaptcha.state import SolveState

URL = "https://shop.example/login"
CONFIG = AnalysisConfig(detect=DETECTABLE_KINDS, v3_min_score=0.7)
KEY = "6LcAnalysisTestKey00000000000000000000001"


def page(body: str, url: str = URL) -> HtmlResponse:
    return HtmlResponse(url, body=f"<html><body>{body}</body></html>".encode(), encoding="utf-8")


def test_a_page_without_a_widget_is_clear() -> None:
    spec = parse_spec(None)
    assert spec is not None
    assert analyse(page("<form><input name=q></form>"), spec, None, CONFIG).verdict is Verdict.CLEAR


def test_a_widget_in_a_form_gives_the_captcha_and_the_filled_form() -> None:
    response = page(
        f'<form action="/login" method="post"><input name="user" value="ada">'
        f'<div class="g-recaptcha" data-sitekey="{KEY}"></div></form>'
    )
    spec = parse_spec(None)
    assert spec is not None
    plan = analyse(response, spec, None, CONFIG)
    assert plan.verdict is Verdict.SOLVE
    (captcha,) = plan.captchas
    assert (captcha.kind, captcha.sitekey, captcha.page_url) == ("recaptcha-v2", KEY, URL)
    assert plan.form is not None
    assert plan.form.url == "https://shop.example/login"
    assert ("user", "ada") in plan.form.fields
    assert plan.form.token_fields == (("g-recaptcha-response", 0),)


def test_defaults_are_applied_to_v3() -> None:
    response = page(
        f'<script src="https://www.google.com/recaptcha/api.js?render={KEY}"></script>'
        '<form method="post"><input type="hidden" name="g-recaptcha-response"></form>'
    )
    spec = parse_spec(None)
    assert spec is not None
    plan = analyse(response, spec, None, CONFIG)
    (captcha,) = plan.captchas
    assert (captcha.kind, captcha.min_score) == ("recaptcha-v3", 0.7)


def test_a_widget_in_no_form_is_reported_as_data() -> None:
    spec = parse_spec(None)
    assert spec is not None
    plan = analyse(page(f'<div class="h-captcha" data-sitekey="{KEY}"></div>'), spec, None, CONFIG)
    assert plan.verdict is Verdict.NO_FORM
    assert [c.kind for c in plan.captchas] == ["hcaptcha"]
    assert "in no form" in plan.message


def test_too_many_widgets_are_refused_with_a_code() -> None:
    widgets = "".join(
        f'<div class="cf-turnstile" data-sitekey="0x4AAAAAAAManyWidgets{n:04d}"></div>'
        for n in range(12)
    )
    spec = parse_spec(None)
    assert spec is not None
    plan = analyse(page(f"<form>{widgets}</form>"), spec, None, CONFIG)
    assert (plan.verdict, plan.code) == (Verdict.REFUSED, "TOO_MANY_CAPTCHAS")


def test_a_declared_image_captcha_needs_its_image() -> None:
    meta = {"kind": "image", "image": "#captcha", "field": "code"}
    spec = parse_spec(meta)
    assert spec is not None
    missing = analyse(page("<form><input name=code></form>"), spec, None, CONFIG)
    assert (missing.verdict, missing.code) == (Verdict.REFUSED, "NO_IMAGE")
    found = analyse(
        page('<form><img id="captcha" src="/c.png"><input name=code></form>'), spec, None, CONFIG
    )
    assert found.verdict is Verdict.SOLVE
    assert found.image_url == "https://shop.example/c.png"
    assert found.form is not None


def test_a_declared_captcha_on_something_else_than_html_is_refused() -> None:
    spec = parse_spec({"kind": "turnstile", "sitekey": "0x4AAAAAAADeclaredKey01"})
    assert spec is not None
    response = TextResponse(URL, body=b"{}", headers={"Content-Type": "application/json"})
    plan = analyse(response, spec, None, CONFIG)
    assert (plan.verdict, plan.code) == (Verdict.REFUSED, "NOT_HTML")


def test_a_rejected_guess_is_planned_as_the_other_kind() -> None:
    # Google's "bind v3 to a button" snippet: v3 by its data-action, not certain.
    response = page(
        f'<form method="post"><button class="g-recaptcha" data-sitekey="{KEY}" '
        'data-callback="go" data-action="login">Go</button></form>'
    )
    spec = parse_spec(None)
    assert spec is not None
    first = analyse(response, spec, None, CONFIG)
    assert [c.kind for c in first.captchas] == ["recaptcha-v3"]
    rejected = SolveState(token_url=URL, rejected=((KEY, "recaptcha-v3"),))
    second = analyse(response, spec, rejected, CONFIG)
    (captcha,) = second.captchas
    assert (captcha.kind, captcha.invisible, captcha.alternative) == (
        "recaptcha-v2",
        True,
        "recaptcha-v3",
    )

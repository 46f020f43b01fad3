"""HTML detection of every widget kind, from the providers' embed snippets."""

from __future__ import annotations

import pytest

from scrapy_vastcaptcha.captcha import Captcha
from scrapy_vastcaptcha.detect import detect, might_have_captcha

URL = "https://shop.example/login"


def one(html: str) -> tuple[Captcha, int | None]:
    (found,) = detect(html, URL)
    return found.captcha, found.form


def test_recaptcha_v2_checkbox_in_a_form() -> None:
    captcha, form = one(
        '<script src="https://www.google.com/recaptcha/api.js" async defer></script>'
        '<form><input name="user"><div class="g-recaptcha" data-sitekey="6Lc-key_123"></div>'
        "</form>"
    )
    assert captcha.kind == "recaptcha-v2"
    assert captcha.sitekey == "6Lc-key_123"
    assert captcha.page_url == URL
    assert captcha.fields == ("g-recaptcha-response",)
    assert form == 0


def test_invisible_button_with_callback_and_recaptcha_net() -> None:
    captcha, form = one(
        '<script src="https://www.recaptcha.net/recaptcha/api.js"></script>'
        '<form id="a"></form><form id="b"><button class="btn g-recaptcha" '
        'data-sitekey="6Lc-inv" data-callback="onSubmit" data-size="invisible">Go</button></form>'
    )
    assert captcha.invisible
    assert captcha.callback == "onSubmit"
    assert form == 1


def test_explicit_render_from_inline_script() -> None:
    captcha, form = one(
        '<script src="https://www.google.com/recaptcha/api.js?onload=cb&render=explicit">'
        '</script><form><div id="box"></div></form><script>var cb = function() {'
        "grecaptcha.render('box', {'sitekey' : '6Lc-explicit', callback: verify, size: "
        '"invisible"}); };</script>'
    )
    assert captcha.kind == "recaptcha-v2"
    assert captcha.sitekey == "6Lc-explicit"
    assert captcha.callback == "verify"
    assert captcha.invisible
    assert form == 0


def test_v3_key_from_render_and_action_from_execute() -> None:
    captcha, form = one(
        '<script src="https://www.google.com/recaptcha/api.js?render=6Lc-v3"></script>'
        '<form id="f"><input type="hidden" name="g-recaptcha-response"></form>'
        '<script>grecaptcha.ready(function() { grecaptcha.execute("6Lc-v3", '
        "{action: 'submit_order'}).then(t => {}); });</script>"
    )
    assert captcha.kind == "recaptcha-v3"
    assert captcha.sitekey == "6Lc-v3"
    assert captcha.action == "submit_order"
    assert form == 0


def test_enterprise_via_enterprise_js() -> None:
    captcha, _ = one(
        '<script src="https://www.google.com/recaptcha/enterprise.js"></script>'
        '<form><div class="g-recaptcha" data-sitekey="6Lc-ent" data-action="LOGIN"></div></form>'
    )
    assert captcha.enterprise
    assert captcha.action == "LOGIN"


def test_hcaptcha_fills_both_fields() -> None:
    captcha, _ = one(
        '<script src="https://js.hcaptcha.com/1/api.js"></script>'
        '<form><div class="h-captcha" data-sitekey="10000000-ffff-ffff-ffff-000000000001">'
        "</div></form>"
    )
    assert captcha.kind == "hcaptcha"
    assert captcha.fields == ("h-captcha-response", "g-recaptcha-response")


def test_turnstile_options_and_custom_field_name() -> None:
    captcha, _ = one(
        '<form><div class="cf-turnstile" data-sitekey="0x4AAAAAAAB" data-action="login" '
        'data-cdata="sess-1" data-response-field-name="ts"></div></form>'
    )
    assert (captcha.action, captcha.cdata) == ("login", "sess-1")
    assert captcha.fields == ("ts",)


def test_turnstile_rendered_from_script_with_challenge_options() -> None:
    captcha, form = one(
        '<form id="challenge-form" action="/verify"><div id="w"></div></form><script>'
        "turnstile.render('#w', {sitekey: '0x4AAAAAAAC', action: 'managed', cData: 'ray1', "
        "chlPageData: 'pd', callback: function (t) {}});</script>"
    )
    assert captcha.kind == "turnstile"
    assert (captcha.action, captcha.cdata, captcha.page_data) == ("managed", "ray1", "pd")
    assert form == 0


def test_funcaptcha_from_markup() -> None:
    captcha, _ = one(
        '<form><div id="funcaptcha" data-pkey="69A21A01-CC7B-B9C6-0F9A-E7FA06677FFC"></div></form>'
    )
    assert captcha.kind == "funcaptcha"


def test_two_widgets_in_one_form_each_found() -> None:
    found = detect(
        '<form><div class="g-recaptcha" data-sitekey="6Lc-a"></div>'
        '<div class="cf-turnstile" data-sitekey="0x4AAAAAAAD"></div></form>',
        URL,
    )
    assert [(f.captcha.kind, f.form) for f in found] == [("recaptcha-v2", 0), ("turnstile", 0)]


def test_page_own_captcha_field_also_receives_the_token() -> None:
    captcha, _ = one(
        '<form><input type="hidden" name="csrf_token" value=""><input type="hidden" '
        'name="captcha_token" value=""><div class="g-recaptcha" data-sitekey="6Lc-a"></div></form>'
    )
    assert captcha.fields == ("g-recaptcha-response", "captcha_token")


def test_widget_outside_any_form() -> None:
    _, form = one('<div class="g-recaptcha" data-sitekey="6Lc-a"></div><form></form><form></form>')
    assert form is None


def test_kinds_can_be_limited() -> None:
    html = (
        '<div class="g-recaptcha" data-sitekey="6Lc-a"></div>'
        '<div class="h-captcha" data-sitekey="h-1234"></div>'
    )
    assert [f.captcha.kind for f in detect(html, URL, kinds=["hcaptcha"])] == ["hcaptcha"]


@pytest.mark.parametrize(
    "html",
    [
        "<html><body><p>Nothing here</p></body></html>",
        "",
        "<<<>>> not html at all \x00",
        '<div class="g-recaptcha"></div>',  # no site key
        '<div class="g-recaptcha" data-sitekey=""></div>',
    ],
)
def test_pages_without_captchas(html: str) -> None:
    assert detect(html, URL) == []


def test_marker_prefilter() -> None:
    assert might_have_captcha(b'<div class="cf-turnstile" data-sitekey="0x4AAAAAAAB">')
    assert might_have_captcha(b"<script>turnstile.render('#w', {})</script>")
    assert not might_have_captcha(b"<p>We compare hCaptcha, Turnstile and reCAPTCHA.</p>")
    assert might_have_captcha(b"https://www.google.com/recaptcha/api.js")
    assert not might_have_captcha(b"<html><body>plain page</body></html>")
    assert not might_have_captcha(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))


def test_many_widgets_and_hostile_attributes_do_not_break_detection() -> None:
    widgets = "".join(
        f'<div class="g-recaptcha" data-sitekey="key-{n:04d}" '
        'data-callback="a\');alert(1)//"></div>'
        for n in range(300)
    )
    found = detect(f"<form>{widgets}</form>", URL)
    assert len(found) == 300
    assert found[0].captcha.callback == "a');alert(1)//"

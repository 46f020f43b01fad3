"""HTML detection of every widget kind, from the providers' embed snippets."""

from __future__ import annotations

from typing import Any

import pytest

from scrapy_vastcaptcha.captcha import Captcha
from scrapy_vastcaptcha.detect import detect, might_have_captcha
from scrapy_vastcaptcha.evidence import (
    RecaptchaEvidence,
    RecaptchaVerdict,
    normalise_sitekey,
    recaptcha_verdict,
)

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


# -- rules learnt from real pages (tests/corpus/) ----------------------------


def test_django_recaptcha_v3_hidden_input_is_v3_and_its_own_field() -> None:
    captcha, form = one(
        '<script src="https://www.google.com/recaptcha/api.js?render=6Lc-v3dj"></script>'
        "<script>grecaptcha.execute('6Lc-v3dj', {action: 'signup'})</script><form>"
        '<input type="hidden" name="captcha" class="g-recaptcha" data-sitekey="6Lc-v3dj" '
        'data-size="normal"></form>'
    )
    assert (captcha.kind, captcha.action, captcha.alternative) == ("recaptcha-v3", "signup", None)
    assert "captcha" in captcha.fields
    assert form == 0


def test_hidden_g_recaptcha_input_without_v3_script_is_a_v3_guess_with_v2_fallback() -> None:
    captcha, _ = one(
        '<form><input type="hidden" name="token" class="g-recaptcha" data-sitekey="6Lc-x"></form>'
    )
    assert (captcha.kind, captcha.alternative) == ("recaptcha-v3", "recaptcha-v2")
    assert captcha.invisible  # solved as the v2 alternative, it is an invisible one


def test_button_binding_is_invisible_v2_without_data_size() -> None:
    captcha, _ = one(
        '<form><button class="g-recaptcha" data-sitekey="6Lc-b" data-callback="go">Go</button>'
        "</form>"
    )
    assert (captcha.kind, captcha.invisible, captcha.alternative) == (
        "recaptcha-v2",
        True,
        "recaptcha-v3",
    )


def test_submit_input_binding_is_invisible_too() -> None:
    captcha, _ = one(
        '<form><input type="submit" class="g-recaptcha" data-sitekey="6Lc-i" data-callback="go">'
        "</form>"
    )
    assert captcha.invisible


def test_google_v3_button_snippet_is_v3_guess_with_v2_fallback() -> None:
    captcha, _ = one(
        '<script src="https://www.google.com/recaptcha/api.js"></script><form id="demo-form">'
        '<button class="g-recaptcha" data-sitekey="6Lc-v3b" data-callback="onSubmit" '
        'data-action="submit">Submit</button></form>'
    )
    assert (captcha.kind, captcha.action, captcha.alternative) == (
        "recaptcha-v3",
        "submit",
        "recaptcha-v2",
    )


def test_v3_button_confirmed_by_render_key_is_certain() -> None:
    captcha, _ = one(
        '<script src="https://www.google.com/recaptcha/api.js?render=6Lc-v3c"></script><form>'
        '<button class="g-recaptcha" data-sitekey="6Lc-v3c" data-action="buy">Buy</button></form>'
    )
    assert (captcha.kind, captcha.alternative) == ("recaptcha-v3", None)


def test_v3_bound_outside_any_form_is_not_a_gate() -> None:
    html = (
        '<script src="https://www.google.com/recaptcha/api.js?render=6Lc-an"></script>'
        '<button class="g-recaptcha" data-sitekey="6Lc-an" data-action="x">x</button>'
        "<form><input name=q></form><form></form>"
    )
    assert detect(html, URL) == []


@pytest.mark.parametrize(
    "target",
    [
        "document.getElementById('box')",
        'document.querySelector("#box")',
        "'#box'",
        "'.holder'",
    ],
)
def test_render_targets_are_resolved_to_their_form(target: str) -> None:
    found = detect(
        '<form></form><form><div id="box" class="holder"></div></form><form></form>'
        f"<script>grecaptcha.render({target}, {{'sitekey': '6Lc-r'}});</script>",
        URL,
    )
    assert [(f.captcha.sitekey, f.form) for f in found] == [("6Lc-r", 1)]


def test_render_into_an_unknown_variable_keeps_the_widget_without_a_form() -> None:
    found = detect(
        "<form></form><form></form>"
        "<script>hcaptcha.render(holder, {sitekey: '1000-aaaa'});</script>",
        URL,
    )
    assert [(f.captcha.kind, f.form) for f in found] == [("hcaptcha", None)]


def test_render_call_keys_are_stripped_and_variables_are_not_keys() -> None:
    found = detect(
        "<form><div id=a></div><div id=b></div></form><script>"
        "turnstile.render('#a', {sitekey: ' \t0x4AAAAAAAPad  '});"
        "turnstile.render('#b', {sitekey: field.getAttribute('data-sitekey')});</script>",
        URL,
    )
    assert [f.captcha.sitekey for f in found] == ["0x4AAAAAAAPad"]


def test_element_keys_are_stripped() -> None:
    captcha, _ = one('<form><div class="h-captcha" data-sitekey="\n  h-key-1 \t"></div></form>')
    assert captcha.sitekey == "h-key-1"


@pytest.mark.parametrize(
    ("captcha_type", "script", "kind"),
    [
        ("h-captcha", "https://hcaptcha.com/1/api.js", "hcaptcha"),
        ("cf-turnstile", "https://challenges.cloudflare.com/turnstile/v0/api.js", "turnstile"),
        ("g-recaptcha", "https://www.google.com/recaptcha/api.js", "recaptcha-v2"),
    ],
)
def test_gitea_data_captcha_type_names_the_provider(
    captcha_type: str, script: str, kind: str
) -> None:
    captcha, form = one(
        f'<form><div id="captcha" data-captcha-type="{captcha_type}" class="x-style" '
        f'data-sitekey="k-123"></div></form><script defer src="{script}"></script>'
    )
    assert (captcha.kind, form) == (kind, 0)


def test_sole_provider_script_owns_any_data_sitekey() -> None:
    captcha, form = one(
        '<form><div class="js-turnstile" data-sitekey="0x4AAAAAAAOwn"></div></form>'
        '<script src="https://challenges.cloudflare.com/turnstile/v0/api.js?onload=f"></script>'
    )
    assert (captcha.kind, form) == ("turnstile", 0)


def test_key_on_the_script_tag_belongs_to_the_only_form() -> None:
    captcha, form = one(
        '<script src="https://js.hcaptcha.com/1/api.js" data-sitekey="h-on-script"></script>'
        "<form><input name=email></form>"
    )
    assert (captcha.kind, captcha.sitekey, form) == ("hcaptcha", "h-on-script", 0)


@pytest.mark.parametrize(
    "html",
    [
        # two providers loaded: an unclaimed data-sitekey is nobody's for sure
        '<script src="https://hcaptcha.com/1/api.js"></script>'
        '<script src="https://challenges.cloudflare.com/turnstile/v0/api.js"></script>'
        '<form><div data-sitekey="k-1"></div></form>',
        # a provider we do not solve, named by data-captcha-type
        '<script src="https://hcaptcha.com/1/api.js"></script>'
        '<form><div data-captcha-type="m-captcha" data-sitekey="m-1"></div></form>',
        # no provider script at all
        '<form><div id="captcha" data-sitekey="k-2"></div></form>',
        # another vendor's widget next to reCAPTCHA v3 loaded for analytics
        '<script src="https://www.google.com/recaptcha/api.js?render=6Lc-an"></script>'
        '<form><div class="frc-captcha" data-sitekey="FCMG-1"></div></form>',
    ],
)
def test_data_sitekey_without_a_sole_owner_is_not_claimed(html: str) -> None:
    assert detect(html, URL) == []


def test_widget_outside_forms_goes_to_the_form_holding_its_response_field() -> None:
    _, form = one(
        '<div class="cf-turnstile" data-sitekey="0x4AAAAAAAChl"></div>'
        '<form id="search"><input name="q"></form>'
        '<form id="challenge-form" method="post"><input type="hidden" '
        'name="cf-turnstile-response"></form>'
    )
    assert form == 1


def test_hcaptcha_bound_to_a_button_is_invisible() -> None:
    captcha, _ = one(
        '<form><button class="h-captcha" data-sitekey="h-btn" data-callback="go">Go</button></form>'
    )
    assert captcha.invisible


# -- the shared rules themselves ----------------------------------------------


def verdict(**kwargs: Any) -> RecaptchaVerdict:
    return recaptcha_verdict(RecaptchaEvidence(sitekey="6Lc-k", **kwargs))


@pytest.mark.parametrize(
    ("evidence", "expected"),
    [
        ({}, ("recaptcha-v2", False, True, None)),
        ({"size": "invisible"}, ("recaptcha-v2", True, True, None)),
        ({"size": " Invisible "}, ("recaptcha-v2", True, True, None)),
        ({"tag": "button"}, ("recaptcha-v2", True, False, "recaptcha-v3")),
        ({"tag": "button", "action": "submit"}, ("recaptcha-v3", True, False, "recaptcha-v2")),
        ({"tag": "input", "input_type": "submit"}, ("recaptcha-v2", True, False, "recaptcha-v3")),
        ({"tag": "input", "input_type": "hidden"}, ("recaptcha-v3", True, False, "recaptcha-v2")),
        ({"tag": "", "render_keys": frozenset({"6Lc-k"})}, ("recaptcha-v3", False, True, None)),
        ({"tag": "div", "execute_keys": frozenset({"6Lc-k"})}, ("recaptcha-v3", False, True, None)),
        (
            {"tag": "input", "input_type": "hidden", "render_keys": frozenset({"6Lc-k"})},
            ("recaptcha-v3", True, True, None),
        ),
        ({"tag": "", "render_keys": frozenset({"6Lc-other"})}, ("recaptcha-v2", False, True, None)),
    ],
)
def test_recaptcha_verdicts(evidence: dict[str, Any], expected: tuple[Any, ...]) -> None:
    got = verdict(**evidence)
    assert (got.kind, got.invisible, got.certain, got.alternative) == expected
    assert got.reason


def test_uncertain_v3_guesses_fall_back_to_an_invisible_v2() -> None:
    for tag, input_type in (("button", None), ("input", "hidden")):
        got = verdict(tag=tag, input_type=input_type, action="a")
        # the same flag serves the retry: solved as v2, it is the invisible kind
        assert (got.alternative, got.invisible) == ("recaptcha-v2", True)


def test_verdict_compares_normalised_keys() -> None:
    got = recaptcha_verdict(RecaptchaEvidence(sitekey=" 6Lc-k\n", render_keys=frozenset({"6Lc-k"})))
    assert got.kind == "recaptcha-v3"


def test_normalise_sitekey() -> None:
    assert normalise_sitekey("\t 6Lc-k \n") == "6Lc-k"
    assert normalise_sitekey("") == ""


def test_alternative_survives_meta_round_trip_and_old_dicts_load() -> None:
    captcha, _ = one(
        '<form><button class="g-recaptcha" data-sitekey="6Lc-b" data-action="x">x</button></form>'
    )
    assert Captcha.from_dict(captcha.to_dict()) == captcha
    old = captcha.to_dict()
    del old["alternative"]
    assert Captcha.from_dict(old).alternative is None

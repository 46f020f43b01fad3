"""The detection rules added for page shapes the first corpus lacked, one test
per rule, on minimal pages; tests/test_corpus.py measures them on real ones."""

from __future__ import annotations

from scrapy_vastcaptcha.captcha import Captcha, build_task
from scrapy_vastcaptcha.detect import Detection, detect, might_have_captcha
from scrapy_vastcaptcha.evidence import RecaptchaEvidence, recaptcha_verdict

URL = "https://shop.example/contact"
V3_SCRIPT = '<script src="https://www.google.com/recaptcha/api.js?render=6Lc-v3-key"></script>'


def found(html: str) -> list[Detection]:
    return detect(html, URL)


def one(html: str) -> tuple[Captcha, int | None]:
    (hit,) = found(html)
    return hit.captcha, hit.form


# -- a badge is an invisible widget's -------------------------------------------


def test_a_badge_position_makes_a_certain_invisible_v2() -> None:
    got = recaptcha_verdict(RecaptchaEvidence(sitekey="6Lc-k", badge="bottomleft"))
    assert (got.kind, got.invisible, got.certain, got.alternative) == (
        "recaptcha-v2",
        True,
        True,
        None,
    )
    # a v3 key still wins: v3 pages may place their badge too
    v3 = recaptcha_verdict(
        RecaptchaEvidence(sitekey="6Lc-k", badge="inline", render_keys=frozenset({"6Lc-k"}))
    )
    assert v3.kind == "recaptcha-v3"


def test_badge_on_a_plugin_element_and_in_a_render_call() -> None:
    captcha, form = one(
        '<script src="https://www.google.com/recaptcha/api.js?render=explicit"></script>'
        '<form><div class="g-invisible-recaptcha" data-sitekey="6Lc-inv" '
        'data-badge="bottomright"></div></form>'
    )
    assert (captcha.kind, captcha.invisible, form) == ("recaptcha-v2", True, 0)
    captcha, _ = one(
        "<form><div id='w'></div></form><script>grecaptcha.render('w', "
        "{sitekey: '6Lc-inv', badge: 'inline', callback: send});</script>"
    )
    assert (captcha.kind, captcha.invisible) == ("recaptcha-v2", True)


# -- where a v3 token goes --------------------------------------------------------


def test_v3_token_field_named_for_a_captcha() -> None:
    captcha, form = one(
        V3_SCRIPT + '<form><input type="hidden" name="gcaptcha_token" value="">'
        '<input name="email"></form>'
    )
    assert (captcha.kind, form) == ("recaptcha-v3", 0)
    assert "gcaptcha_token" in captcha.fields


def test_v3_token_field_the_page_script_writes_into() -> None:
    captcha, form = one(
        '<form id="search"><input name="q"></form>'
        '<form id="signup"><input name="email"><input type="hidden" name="token" id="tk"></form>'
        + V3_SCRIPT
        + "<script>grecaptcha.ready(function() { grecaptcha.execute('6Lc-v3-key', "
        "{action: 'signup'}).then(function(t) { document.getElementById('tk').value = t; });"
        "});</script>"
    )
    assert (captcha.kind, captcha.action, form) == ("recaptcha-v3", "signup", 1)
    assert "token" in captcha.fields
    # looked up by name, through jQuery or querySelector, the same
    for lookup in ("$('[name=token]').val(t)", "document.querySelector('#tk').value = t"):
        captcha, form = one(
            '<form><input type="hidden" name="token" id="tk"></form>' + V3_SCRIPT + "<script>"
            "grecaptcha.execute('6Lc-v3-key', {action: 'a'}).then(function(t) {" + lookup + "})"
            "</script>"
        )
        assert "token" in captcha.fields


def test_v3_on_an_analytics_page_is_not_claimed_by_an_image_captcha_form() -> None:
    # a text field named "captcha" is a person's answer, not a place for a token;
    # and a hidden field the v3 script does not write is none of its business
    assert not found(
        V3_SCRIPT + '<form><img src="/captcha.php"><input type="text" name="captcha">'
        '<input type="hidden" name="token" id="tk"></form>'
        "<script>grecaptcha.execute('6Lc-v3-key', {action: 'homepage'});</script>"
    )


def test_every_form_taking_a_v3_token_gets_its_own_detection() -> None:
    hits = found(
        V3_SCRIPT + '<form><input type="hidden" name="g-recaptcha-response"></form>'
        '<form><input name="q"></form>'
        '<form><input type="hidden" name="g-recaptcha-response"></form>'
    )
    assert sorted(hit.form for hit in hits if hit.form is not None) == [0, 2]


def test_v3_action_stated_by_a_form_field_and_never_a_variable_name() -> None:
    captcha, _ = one(
        V3_SCRIPT + '<form><input type="hidden" name="recaptcha_response">'
        '<input type="hidden" name="recaptcha-action" value="contact"></form>'
        "<script>var a = document.querySelector('[name=recaptcha-action]').value;"
        "grecaptcha.execute('6Lc-v3-key', {action: a});</script>"
    )
    assert captcha.action == "contact"
    captcha, _ = one(
        V3_SCRIPT + '<form><input type="hidden" name="recaptcha_response"></form>'
        "<script>grecaptcha.execute('6Lc-v3-key', {action: currentAction});</script>"
    )
    assert captcha.action is None


# -- keys and scripts written in code --------------------------------------------


def test_site_key_given_as_a_variable_is_read_from_its_assignment() -> None:
    captcha, form = one(
        "<script>var SITE_KEY = '0x4AAAAAAAVariableKey01';"
        "window.onload = function() { turnstile.render('#ts', {sitekey: SITE_KEY, "
        "callback: function(t) {}}); };</script><form><div id='ts'></div></form>"
    )
    assert (captcha.kind, captcha.sitekey, form) == ("turnstile", "0x4AAAAAAAVariableKey01", 0)
    assert captcha.callback is None  # a function written in place has no name
    captcha, _ = one(
        "<script>const cfg = {'recaptchaKey': '6LcVarKeyAAAAAAB1cD3eF5gH7iJ9kL1mN3oP5qR'};"
        "grecaptcha.render('box', {sitekey: cfg.recaptchaKey, callback: onDone});</script>"
        "<form><div id='box'></div></form>"
    )
    assert (captcha.sitekey, captcha.callback) == (
        "6LcVarKeyAAAAAAB1cD3eF5gH7iJ9kL1mN3oP5qR",
        "onDone",
    )


def test_a_variable_key_that_cannot_be_read_leaves_no_widget() -> None:
    for script in (
        # read from the DOM at run time
        "var key = el.getAttribute('data-key'); grecaptcha.render('box', {sitekey: key});",
        # two different values: which one is used depends on the run
        "var key = '6LcAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'; if (x) key = "
        "'6LcBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB'; grecaptcha.render('box', {sitekey: key});",
        # not shaped like a key
        "var key = 'your key here'; grecaptcha.render('box', {sitekey: key});",
    ):
        assert not found(f"<form><div id='box'></div></form><script>{script}</script>")


def test_execute_with_a_variable_key_makes_it_a_v3_key() -> None:
    captcha, _ = one(
        '<script src="https://www.google.com/recaptcha/api.js?render=6LcVarV3AAAAAAB1cD3eF5gH7iJ9kL1mN3o">'
        "</script><form><input type='hidden' name='g-recaptcha-response'></form><script>"
        "const siteKey = '6LcVarV3AAAAAAB1cD3eF5gH7iJ9kL1mN3o';"
        "grecaptcha.execute(siteKey, {action: 'login'});</script>"
    )
    assert (captcha.kind, captcha.action) == ("recaptcha-v3", "login")


def test_widget_script_added_by_a_loader_script() -> None:
    captcha, form = one(
        "<script>var s = document.createElement('script');"
        "s.src = 'https://www.recaptcha.net/recaptcha/enterprise.js?render=6Lc-loaded-key';"
        "document.head.appendChild(s);</script>"
        '<form><input type="hidden" name="recaptcha_token"></form>'
    )
    assert (captcha.kind, captcha.sitekey, captcha.enterprise, form) == (
        "recaptcha-v3",
        "6Lc-loaded-key",
        True,
        0,
    )


def test_enterprise_reaches_the_task_as_is_enterprise() -> None:
    for html in (
        '<script src="https://www.google.com/recaptcha/enterprise.js"></script>'
        '<form><div class="g-recaptcha" data-sitekey="6LcEntKeyAAAAAB1cD3eF5gH7iJ9kL1mN3oP5q">'
        "</div></form>",
        "<form><div id='e'></div></form><script>grecaptcha.enterprise.render('e', "
        "{sitekey: '6LcEntKeyAAAAAB1cD3eF5gH7iJ9kL1mN3oP5q', action: 'LOGIN'});</script>",
    ):
        captcha, _ = one(html)
        payload = build_task(captcha).payload()
        assert payload["isEnterprise"] is True
    plain, _ = one(
        '<form><div class="g-recaptcha" data-sitekey="6LcPlainAAAAAAB1cD3eF5gH7iJ9kL1mN3oP5"></div>'
        '</form><script src="https://www.google.com/recaptcha/api.js"></script>'
    )
    assert "isEnterprise" not in build_task(plain).payload()


def test_hcaptcha_told_to_leave_recaptchas_field_alone() -> None:
    page = (
        '<script src="https://js.hcaptcha.com/1/api.js{q}" async defer></script>'
        '<form><div class="h-captcha" data-sitekey="10000000-ffff-ffff-ffff-000000000001"></div>'
        "</form>"
    )
    off, _ = one(page.format(q="?recaptchacompat=off"))
    assert off.fields == ("h-captcha-response",)
    on, _ = one(page.format(q=""))
    assert on.fields == ("h-captcha-response", "g-recaptcha-response")


def test_cloudflare_interstitial_without_a_key_is_not_a_widget() -> None:
    assert not found(
        '<form id="challenge-form" action="/?__cf_chl_f_tk=x" method="POST">'
        '<input type="hidden" name="md" value="x"></form>'
        "<script>window._cf_chl_opt = {cType: 'managed'}; var cpo = "
        "document.createElement('script'); cpo.src = "
        "'/cdn-cgi/challenge-platform/h/b/orchestrate/chl_page/v1?ray=1';</script>"
    )


def test_v3_token_field_created_by_the_page_script() -> None:
    # the common tutorial shape: on submit, add the token's field to the form and send it
    page = (
        V3_SCRIPT + '<form id="search"><input name="q"></form>'
        '<form id="contactForm"><input name="email"></form>'
        "<script>$('#contactForm').submit(function(e) { e.preventDefault();"
        "grecaptcha.ready(function() { grecaptcha.execute('6Lc-v3-key', {action: 'contact'})"
        ".then(function(token) { $('#contactForm').prepend('<input type=\"hidden\" "
        'name="g-recaptcha-response" value="\' + token + \'">\');'
        "$('#contactForm').unbind('submit').submit(); }); }); });</script>"
    )
    captcha, form = one(page)
    assert (captcha.kind, captcha.action, form) == ("recaptcha-v3", "contact", 1)
    assert captcha.fields == ("g-recaptcha-response",)
    # a field created for a form the page does not name, among several forms: no guess
    assert not found(
        V3_SCRIPT + "<form><input name='q'></form><form><input name='email'></form>"
        "<script>document.addEventListener('submit', function(e) { grecaptcha.execute("
        "'6Lc-v3-key', {action: 'x'}).then(function(t) { var i = document.createElement("
        "'input'); i.name = 'g-recaptcha-response'; e.target.appendChild(i); }); });</script>"
    )


def test_a_container_named_for_its_provider_is_claimed_without_the_script() -> None:
    # saved copies of pages often lose the provider's script tag; the plugin's
    # container still says whose widget it is
    captcha, form = one(
        "<form><div class='ginput_container ginput_recaptcha' data-sitekey='6LcGfAAAAAAAAB1cD3eF5g"
        "H7iJ9kL1mN3oP5q' data-size='invisible' data-badge='bottomright'></div></form>"
    )
    assert (captcha.kind, captcha.invisible, form) == ("recaptcha-v2", True, 0)
    captcha, _ = one(
        "<form><div id='hcaptcha-box' data-sitekey='10000000-ffff-ffff-ffff-000000000001'>"
        "</div></form>"
    )
    assert captcha.kind == "hcaptcha"
    # a container naming two providers says nothing
    assert not found(
        "<form><div class='captcha-recaptcha captcha-hcaptcha' data-sitekey='k-123'></div></form>"
    )


# -- widgets already rendered, widgets configured as data ---------------------------


def test_rendered_frames_name_the_widget() -> None:
    anchor = (
        "<iframe src='https://www.google.com/recaptcha/{path}/anchor?ar=1&amp;"
        "k=6LcFrameAAAAAB1cD3eF5gH7iJ9kL1mN3oP5qR7&amp;co=x&amp;size={size}'></iframe>"
    )
    captcha, form = one(
        "<form><input name='q'></form><form><div class='g-recaptcha'>"
        + anchor.format(path="api2", size="normal")
        + "<textarea name='g-recaptcha-response'></textarea></div></form>"
    )
    assert (captcha.kind, captcha.invisible, captcha.enterprise, form) == (
        "recaptcha-v2",
        False,
        False,
        1,
    )
    captcha, _ = one(
        "<form><div class='g-recaptcha'>"
        + anchor.format(path="enterprise", size="invisible")
        + "</div></form>"
    )
    assert (captcha.invisible, captcha.enterprise) == (True, True)
    captcha, _ = one(
        "<form><div><iframe src='https://newassets.hcaptcha.com/captcha/v1/abc/static/"
        "hcaptcha.html#frame=checkbox&amp;id=0x&amp;host=shop.example&amp;"
        "sitekey=10000000-ffff-ffff-ffff-000000000001&amp;theme=light'></iframe></div></form>"
        "<iframe src='https://newassets.hcaptcha.com/captcha/v1/abc/static/hcaptcha.html#"
        "frame=challenge&amp;sitekey=10000000-ffff-ffff-ffff-000000000001'></iframe>"
    )
    assert (captcha.kind, captcha.sitekey) == ("hcaptcha", "10000000-ffff-ffff-ffff-000000000001")
    captcha, _ = one(
        "<form><div><iframe src='https://challenges.cloudflare.com/cdn-cgi/challenge-platform/"
        "h/b/turnstile/if/ov2/av0/rcv/q1w2e/0x4AAAAAAAFrameKey0001/light/fbE/new/normal/"
        "auto/'></iframe></div></form>"
    )
    assert (captcha.kind, captcha.sitekey) == ("turnstile", "0x4AAAAAAAFrameKey0001")


def test_widget_configured_as_data_for_a_container_in_a_form() -> None:
    config = (
        '<script type="text/x-magento-init">{"#rc-container": {"Magento_Ui/js/core/app": '
        '{"components": {"rc": {"component": "Magento_ReCaptchaFrontendUi/js/reCaptcha", '
        '"settings": {"rendering": {"sitekey": "6LcConfAAAAAAB1cD3eF5gH7iJ9kL1mN3oP5qR7", '
        '"badge": "inline", "size": "{size}"}}}}}}}</script>'
    )
    page = "<form id='login'><input name='u'><div id='rc-container'></div></form>" + config
    assert might_have_captcha(page.encode())
    captcha, form = one(page.replace("{size}", "invisible"))
    assert (captcha.kind, captcha.invisible, form) == ("recaptcha-v2", True, 0)
    # configured for markup a script builds later (a pop-up): nothing to resubmit
    assert not found("<div id='rc-container'></div>" + config.replace("{size}", "invisible"))


def test_settings_without_a_container_go_to_the_one_form_keeping_a_token_field() -> None:
    settings = (
        '<script type="application/json">{"simple_recaptcha_v3": {"sitekey": '
        '"6LcSetAAAAAAAB1cD3eF5gH7iJ9kL1mN3oP5qR7", "forms": {"f": {"action": "signup"}}}}'
        "</script>"
    )
    page = (
        "<form><input name='q'></form><form><input name='email'>"
        "<input type='hidden' name='simple_recaptcha_token' value=''></form>"
        '<script src="https://www.google.com/recaptcha/api.js?render='
        '6LcSetAAAAAAAB1cD3eF5gH7iJ9kL1mN3oP5qR7"></script>' + settings
    )
    captcha, form = one(page)
    # the settings' action reaches the widget the token field revealed
    assert (captcha.kind, captcha.action, form) == ("recaptcha-v3", "signup", 1)
    assert "simple_recaptcha_token" in captcha.fields
    # two forms keeping such a field: no guess
    twice = page.replace("<input name='q'>", "<input type='hidden' name='captcha_token'>")
    assert {hit.form for hit in found(twice)} == {0, 1}  # both take a v3 token (render=)
    assert not found(twice.replace("?render=6LcSetAAAAAAAB1cD3eF5gH7iJ9kL1mN3oP5qR7", ""))


def test_provider_words_give_way_to_the_script_the_page_loads() -> None:
    # a wrapper named for reCAPTCHA around an hCaptcha key, on a page loading hCaptcha only
    captcha, _ = one(
        "<script src='https://js.hcaptcha.com/1/api.js'></script><form><div class='recaptcha-wrap'"
        " data-sitekey='93d2dffa-6cad-4031-9c00-4741a03c569d'></div></form>"
    )
    assert captcha.kind == "hcaptcha"
    # an older hCaptcha checkbox frame (no frame= parameter) still names its key
    captcha, _ = one(
        "<form><iframe src='https://assets.hcaptcha.com/captcha/v1/1fb1e70/static/"
        "hcaptcha-checkbox.html#id=08g98&amp;host=shop.example&amp;"
        "sitekey=93d2dffa-6cad-4031-9c00-4741a03c569d'></iframe></form>"
    )
    assert (captcha.kind, captcha.sitekey) == ("hcaptcha", "93d2dffa-6cad-4031-9c00-4741a03c569d")


def test_a_rendered_v2_widgets_own_field_does_not_take_the_v3_analytics_token() -> None:
    hits = found(
        V3_SCRIPT + "<form><div class='g-recaptcha' data-sitekey='6Lc-checkbox-key'>"
        "<textarea name='g-recaptcha-response'></textarea></div></form>"
    )
    assert [(hit.captcha.kind, hit.captcha.sitekey) for hit in hits] == [
        ("recaptcha-v2", "6Lc-checkbox-key")
    ]


def test_render_targets_and_keys_written_in_other_javascript_shapes() -> None:
    page = (
        "<form><input name='q'></form><form id='f'><div id='ts'></div></form><script>"
        "turnstile.render({target}, {{sitekey: `0x4AAAAAAATemplateKey001`, action: `{action}`}});"
        "</script>"
    )
    for target in ("`#ts`", "$('#ts')[0]", "jQuery('#ts').get(0)", "document.querySelector(`#ts`)"):
        captcha, form = one(page.format(target=target, action="login"))
        assert (captcha.sitekey, captcha.action, form) == ("0x4AAAAAAATemplateKey001", "login", 1)
    # a template literal that interpolates is not written out
    captcha, _ = one(page.format(target="'#ts'", action="${page}"))
    assert captcha.action is None

"""Test pages that embed the stand-in variants the way sites embed the real
widgets. Each page posts its form to :data:`SUBMIT_URL` and reports every
token its callbacks receive to ``window.pageCallback`` (a function the test
exposes), so a callback that submits and navigates away loses nothing.

Site keys are made up; the emulator accepts any well-formed one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from html import escape

PAGE_URL = "http://127.0.0.1:9/variant"  # routed: port 9 is never reached
SUBMIT_URL = "http://127.0.0.1:9/submit"

RECAPTCHA_SHAPES = ("container", "inner", "deep", "array", "challenge")

CHECKBOX_KEY = "6LdVariantCheckbox00000000000000000000001"
INVISIBLE_KEY = "6LdVariantInvisible0000000000000000000002"
BUTTON_KEY = "6LdVariantButton000000000000000000000003"
V3_KEY = "6LdVariantScore00000000000000000000000004"
HCAPTCHA_KEY = "10000000-aaaa-bbbb-cccc-000000000005"
TURNSTILE_KEY = "0x4AAAAAAAVariant000006"


@dataclass(frozen=True)
class Case:
    """One page and what a user expects of it once the helper is done."""

    name: str
    html: str
    kind: str
    sitekey: str
    #: the kind argument of siteverify
    verify_kind: str
    #: the form field that carries the token to the site
    field: str
    invisible: bool = False
    #: the page submits itself from its callback (else the test clicks submit)
    submits_itself: bool = False
    callback: bool = True
    action: str | None = None
    #: a JS expression to wait for before solving (the page's own load-time work)
    ready: str | None = None


def _js(value: str) -> str:
    return json.dumps(value)


_HEAD = '<!DOCTYPE html><html><head><meta charset="utf-8"><title>variant</title></head>'
_REPORT = "function report(token) { window.pageCallback(token); }"


def _recaptcha_src(shape: str, render: str | None = None, onload: str | None = None) -> str:
    query = f"render={render}&" if render else ""
    query += f"onload={onload}&" if onload else ""
    return f"https://www.google.com/recaptcha/api.js?{query}standin-shape={shape}"


def recaptcha_checkbox(shape: str) -> Case:
    html = f"""{_HEAD}<body>
<form id="f" method="post" action="{SUBMIT_URL}">
  <div class="g-recaptcha" data-sitekey="{CHECKBOX_KEY}" data-callback="onCheck"></div>
  <button type="submit">Send</button>
</form>
<script>
{_REPORT}
function onCheck(token) {{ report(token); }}
document.getElementById("f").addEventListener("submit", function (event) {{
  // the usual client-side check: no response, no submit
  if (!grecaptcha.getResponse()) {{ event.preventDefault(); }}
}});
</script>
<script src="{_recaptcha_src(shape)}" async defer></script>
</body></html>"""
    return Case(
        f"checkbox-{shape}",
        html,
        "recaptcha-v2",
        CHECKBOX_KEY,
        "recaptcha",
        "g-recaptcha-response",
    )


def recaptcha_invisible(shape: str) -> Case:
    html = f"""{_HEAD}<body>
<form id="f" method="post" action="{SUBMIT_URL}">
  <input name="email" value="someone@example.org">
  <div class="g-recaptcha" data-sitekey="{INVISIBLE_KEY}" data-size="invisible"
       data-callback="onToken"></div>
  <button type="submit">Send</button>
</form>
<script>
{_REPORT}
function onToken(token) {{ report(token); document.getElementById("f").submit(); }}
document.getElementById("f").addEventListener("submit", function (event) {{
  event.preventDefault();
  grecaptcha.execute();
}});
</script>
<script src="{_recaptcha_src(shape)}" async defer></script>
</body></html>"""
    return Case(
        f"invisible-{shape}",
        html,
        "recaptcha-v2",
        INVISIBLE_KEY,
        "recaptcha",
        "g-recaptcha-response",
        invisible=True,
        submits_itself=True,
    )


def recaptcha_button(shape: str) -> Case:
    # Google's "invisible, bound to a button" snippet; the badge goes to <body>
    html = f"""{_HEAD}<body>
<form id="f" method="post" action="{SUBMIT_URL}">
  <input type="hidden" name="token" id="token">
  <button class="g-recaptcha" data-sitekey="{BUTTON_KEY}" data-callback="onSubmit">Send</button>
</form>
<script>
{_REPORT}
function onSubmit(token) {{
  report(token);
  document.getElementById("token").value = token;
  document.getElementById("f").submit();
}}
</script>
<script src="{_recaptcha_src(shape)}" async defer></script>
</body></html>"""
    return Case(
        f"button-{shape}",
        html,
        "recaptcha-v2",
        BUTTON_KEY,
        "recaptcha",
        "token",
        invisible=True,
        submits_itself=True,
    )


def recaptcha_v3(shape: str) -> Case:
    # The key reaches execute() through a variable: only the init hook sees
    # the load-time call and its action.
    html = f"""{_HEAD}<body data-key="{V3_KEY}">
<script src="{_recaptcha_src(shape, V3_KEY)}"></script>
<form id="f" method="post" action="{SUBMIT_URL}">
  <input type="hidden" name="g-recaptcha-response" id="token">
  <button type="submit">Send</button>
</form>
<script>
{_REPORT}
var key = document.body.getAttribute("data-key");
grecaptcha.ready(function () {{
  grecaptcha.execute(key, {{action: "signup"}}).then(function () {{ window.warmedUp = true; }});
}});
document.getElementById("f").addEventListener("submit", function (event) {{
  event.preventDefault();
  grecaptcha.execute(key, {{action: "signup"}}).then(function (token) {{
    report(token);
    document.getElementById("token").value = token;
    event.target.submit();
  }});
}});
</script>
</body></html>"""
    return Case(
        f"v3-{shape}",
        html,
        "recaptcha-v3",
        V3_KEY,
        "recaptcha",
        "g-recaptcha-response",
        callback=False,
        action="signup",
        ready="() => window.warmedUp === true",
    )


def recaptcha_v3_field(shape: str) -> Case:
    # django-recaptcha's v3 shape: a hidden g-recaptcha input is the form's
    # own token field; the literal execute call names the action
    html = f"""{_HEAD}<body>
<form id="f" method="post" action="{SUBMIT_URL}">
  <input type="hidden" class="g-recaptcha" data-sitekey="{V3_KEY}" name="captcha" id="id_captcha">
  <button type="submit">Send</button>
</form>
<script src="{_recaptcha_src(shape, V3_KEY)}"></script>
<script>
{_REPORT}
grecaptcha.ready(function () {{
  var field = document.getElementById("id_captcha");
  field.form.addEventListener("submit", function (event) {{
    event.preventDefault();
    grecaptcha.execute("{V3_KEY}", {{action: "form"}}).then(function (token) {{
      report(token);
      field.value = token;
      field.form.submit();
    }});
  }});
}});
</script>
</body></html>"""
    return Case(
        f"v3-field-{shape}",
        html,
        "recaptcha-v3",
        V3_KEY,
        "recaptcha",
        "captcha",
        callback=False,
        action="form",
    )


def hcaptcha_explicit() -> Case:
    html = f"""{_HEAD}<body>
<form id="f" method="post" action="{SUBMIT_URL}">
  <div id="hc-slot"></div>
  <button type="submit">Send</button>
</form>
<script>
{_REPORT}
var widget = null;
function hcReady() {{
  widget = hcaptcha.render("hc-slot", {{sitekey: {_js(HCAPTCHA_KEY)}, callback: report}});
}}
document.getElementById("f").addEventListener("submit", function (event) {{
  if (!hcaptcha.getResponse(widget)) {{ event.preventDefault(); }}
}});
</script>
<script src="https://js.hcaptcha.com/1/api.js?render=explicit&onload=hcReady" async defer></script>
</body></html>"""
    return Case(
        "hcaptcha-explicit", html, "hcaptcha", HCAPTCHA_KEY, "hcaptcha", "h-captcha-response"
    )


def hcaptcha_declared() -> Case:
    html = f"""{_HEAD}<body>
<form id="f" method="post" action="{SUBMIT_URL}">
  <div class="h-captcha" data-sitekey="{escape(HCAPTCHA_KEY)}" data-callback="onHc"></div>
  <button type="submit">Send</button>
</form>
<script>{_REPORT} function onHc(token) {{ report(token); }}</script>
<script src="https://js.hcaptcha.com/1/api.js" async defer></script>
</body></html>"""
    return Case(
        "hcaptcha-declared", html, "hcaptcha", HCAPTCHA_KEY, "hcaptcha", "h-captcha-response"
    )


def hcaptcha_invisible() -> Case:
    # the submit button runs the (invisible) challenge and posts what it resolves
    html = f"""{_HEAD}<body>
<form id="f" method="post" action="{SUBMIT_URL}">
  <input type="hidden" name="hc_token" id="hc_token">
  <div class="h-captcha" data-sitekey="{HCAPTCHA_KEY}" data-size="invisible"
       data-callback="onHc"></div>
  <button type="submit">Send</button>
</form>
<script>
{_REPORT}
function onHc(token) {{ report(token); }}
document.getElementById("f").addEventListener("submit", function (event) {{
  event.preventDefault();
  hcaptcha.execute({{async: true}}).then(function (answer) {{
    document.getElementById("hc_token").value = answer.response;
    event.target.submit();
  }});
}});
</script>
<script src="https://js.hcaptcha.com/1/api.js" async defer></script>
</body></html>"""
    return Case(
        "hcaptcha-invisible",
        html,
        "hcaptcha",
        HCAPTCHA_KEY,
        "hcaptcha",
        "hc_token",
        invisible=True,
    )


def turnstile_explicit() -> Case:
    html = f"""{_HEAD}<body>
<form id="f" method="post" action="{SUBMIT_URL}">
  <div id="ts"></div>
  <button type="submit">Send</button>
</form>
<script>
{_REPORT}
function tsReady() {{
  turnstile.render("#ts", {{sitekey: {_js(TURNSTILE_KEY)}, action: "signup", callback: report}});
}}
document.getElementById("f").addEventListener("submit", function (event) {{
  if (!turnstile.getResponse("#ts")) {{ event.preventDefault(); }}
}});
</script>
<script src="https://challenges.cloudflare.com/turnstile/v0/api.js?render=explicit&onload=tsReady"
        async defer></script>
</body></html>"""
    return Case(
        "turnstile-explicit",
        html,
        "turnstile",
        TURNSTILE_KEY,
        "turnstile",
        "cf-turnstile-response",
        action="signup",
    )


def turnstile_declared() -> Case:
    html = f"""{_HEAD}<body>
<form id="f" method="post" action="{SUBMIT_URL}">
  <div class="cf-turnstile" data-sitekey="{TURNSTILE_KEY}" data-action="login"
       data-callback="onTs"></div>
  <button type="submit">Send</button>
</form>
<script>{_REPORT} function onTs(token) {{ report(token); }}</script>
<script src="https://challenges.cloudflare.com/turnstile/v0/api.js" async defer></script>
</body></html>"""
    return Case(
        "turnstile-declared",
        html,
        "turnstile",
        TURNSTILE_KEY,
        "turnstile",
        "cf-turnstile-response",
        action="login",
    )


def two_buttons(shape: str) -> str:
    """Two forms, each bound to a button of the same key: two widgets."""
    forms = "".join(
        f"""<form id="f{n}" method="post" action="{SUBMIT_URL}">
  <button class="g-recaptcha" data-sitekey="{BUTTON_KEY}" data-callback="send{n}">Send</button>
</form>"""
        for n in (1, 2)
    )
    return f"""{_HEAD}<body>{forms}
<script>
function send1(token) {{ document.getElementById("f1").submit(); }}
function send2(token) {{ document.getElementById("f2").submit(); }}
</script>
<script src="{_recaptcha_src(shape)}" async defer></script>
</body></html>"""


def v2_pair_and_v3(shape: str) -> str:
    """v3 on every page (render=KEY) and two checkboxes of one key rendered
    explicitly into plain divs, as Google advises for using both."""
    return f"""{_HEAD}<body>
<form method="post" action="{SUBMIT_URL}"><div id="a"></div><div id="b"></div></form>
<script>
function boot() {{
  grecaptcha.render("a", {{sitekey: {_js(CHECKBOX_KEY)}}});
  grecaptcha.render(document.getElementById("b"), {{sitekey: {_js(CHECKBOX_KEY)}}});
}}
</script>
<script src="{_recaptcha_src(shape, V3_KEY, "boot")}" async defer></script>
</body></html>"""


def all_cases() -> list[Case]:
    builds = (
        recaptcha_checkbox,
        recaptcha_invisible,
        recaptcha_button,
        recaptcha_v3,
        recaptcha_v3_field,
    )
    recaptcha = [build(shape) for build in builds for shape in RECAPTCHA_SHAPES]
    others = [
        hcaptcha_explicit(),
        hcaptcha_declared(),
        hcaptcha_invisible(),
        turnstile_explicit(),
        turnstile_declared(),
    ]
    return [*recaptcha, *others]

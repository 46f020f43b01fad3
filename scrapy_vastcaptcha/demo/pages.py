"""HTML of the demo shop.

Widget markup follows each provider's public embed snippet and points at the
real script URLs; in a test browser those are routed to the stand-in widgets
(see :mod:`scrapy_vastcaptcha.testing.browser`). Every value is escaped for where it
lands: ``html.escape`` for markup, :func:`script_json` inside ``<script>``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from html import escape

from scrapy_vastcaptcha.demo.catalog import (
    ENTERPRISE_ACTION,
    INTERSTITIAL_ACTION,
    PAGES,
    PAGES_BY_KIND,
    RECAPTCHA_V3_ACTION,
    SITEKEYS,
    TURNSTILE_ACTION,
    TURNSTILE_CDATA,
    products,
)

RECAPTCHA_JS = "https://www.google.com/recaptcha/api.js"
ENTERPRISE_JS = "https://www.google.com/recaptcha/enterprise.js"
HCAPTCHA_JS = "https://js.hcaptcha.com/1/api.js"
TURNSTILE_JS = "https://challenges.cloudflare.com/turnstile/v0/api.js"
FORM_ID = "captcha-form"
IFRAME_INNER_PATH = "/iframe/inner"
CHALLENGE_VERIFY_PATH = "/cdn-cgi/challenge-platform/verify"

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 46rem; color: #222; }
.error { color: #b00020; font-weight: 600; }
.product { border: 1px solid #ccc; border-radius: 6px; padding: .5rem 1rem; margin: .5rem 0; }
.product h2 { font-size: 1.1rem; margin: .2rem 0; }
form > * { margin: .6rem 0; }
"""


def script_json(value: object) -> str:
    """``value`` as a JavaScript literal that cannot end or confuse a ``<script>`` element."""
    text = json.dumps(value)
    for char, replacement in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(char, replacement)
    return text


def attr(value: object) -> str:
    """``value`` escaped for a double-quoted attribute."""
    return escape(str(value), quote=True)


def layout(title: str, body: str, *, head: str = "", site_title: bool = True) -> bytes:
    """A complete UTF-8 HTML document."""
    full_title = f"{title} · VastCap demo shop" if site_title else title
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(full_title)}</title><style>{_STYLE}</style>{head}</head>\n"
        f"<body>\n{body}\n</body></html>\n"
    ).encode()


def _error(message: str | None) -> str:
    return f'<p class="error">{escape(message)}</p>' if message else ""


def _script(src: str, *, defer: bool = True) -> str:
    return f'<script src="{attr(src)}"{" async defer" if defer else ""}></script>'


def _submit(label: str = "Show products") -> str:
    return f'<button type="submit">{escape(label)}</button>'


# Each widget builder returns (markup inside the form, scripts after the form).
def _recaptcha_v2(kind: str) -> tuple[str, str]:
    div = f'<div class="g-recaptcha" data-sitekey="{attr(SITEKEYS[kind])}"></div>'
    return div + _submit(), _script(RECAPTCHA_JS)


def _recaptcha_invisible(kind: str) -> tuple[str, str]:
    button = (
        f'<button class="g-recaptcha" data-sitekey="{attr(SITEKEYS[kind])}" '
        'data-callback="onSubmit" data-size="invisible">Show products</button>'
    )
    script = (
        _script(RECAPTCHA_JS) + "<script>function onSubmit(token) { "
        f"document.getElementById({script_json(FORM_ID)}).submit(); }}</script>"
    )
    return button, script


def _recaptcha_explicit(kind: str) -> tuple[str, str]:
    script = (
        "<script>\n"
        "var verifyCallback = function (response) {\n"
        f"  document.getElementById({script_json(FORM_ID)}).submit();\n"
        "};\n"
        "var onloadCallback = function () {\n"
        f"  grecaptcha.render('container', {{sitekey: {script_json(SITEKEYS[kind])}, "
        "callback: verifyCallback});\n"
        "};\n"
        "</script>\n" + _script(f"{RECAPTCHA_JS}?onload=onloadCallback&render=explicit")
    )
    return '<div id="container"></div>', script


def _recaptcha_v3(kind: str) -> tuple[str, str]:
    sitekey = SITEKEYS[kind]
    fields = (
        '<input type="hidden" name="g-recaptcha-response" id="recaptcha-token" value="">'
        + _submit()
    )
    script = (
        _script(f"{RECAPTCHA_JS}?render={sitekey}", defer=False) + "\n<script>\n"
        f"document.getElementById({script_json(FORM_ID)}).addEventListener('submit', "
        "function (event) {\n"
        "  event.preventDefault();\n"
        "  var form = event.target;\n"
        "  grecaptcha.ready(function () {\n"
        f"    grecaptcha.execute({script_json(sitekey)}, "
        f"{{action: {script_json(RECAPTCHA_V3_ACTION)}}}).then(function (token) {{\n"
        "      document.getElementById('recaptcha-token').value = token;\n"
        "      form.submit();\n"
        "    });\n"
        "  });\n"
        "});\n"
        "</script>"
    )
    return fields, script


def _recaptcha_enterprise(kind: str) -> tuple[str, str]:
    div = (
        f'<div class="g-recaptcha" data-sitekey="{attr(SITEKEYS[kind])}" '
        f'data-action="{attr(ENTERPRISE_ACTION)}"></div>'
    )
    return div + _submit(), _script(ENTERPRISE_JS)


def _hcaptcha(kind: str) -> tuple[str, str]:
    div = f'<div class="h-captcha" data-sitekey="{attr(SITEKEYS[kind])}"></div>'
    return div + _submit(), _script(HCAPTCHA_JS)


def _turnstile(kind: str) -> tuple[str, str]:
    div = (
        f'<div class="cf-turnstile" data-sitekey="{attr(SITEKEYS[kind])}" '
        f'data-action="{attr(TURNSTILE_ACTION)}" data-cdata="{attr(TURNSTILE_CDATA)}"></div>'
    )
    return div + _submit(), _script(TURNSTILE_JS)


def _two_captchas(kind: str) -> tuple[str, str]:
    divs = (
        f'<div class="g-recaptcha" data-sitekey="{attr(SITEKEYS["two-captchas-recaptcha"])}">'
        "</div>"
        f'<div class="cf-turnstile" data-sitekey="{attr(SITEKEYS["two-captchas-turnstile"])}">'
        "</div>"
    )
    return divs + _submit(), _script(RECAPTCHA_JS) + _script(TURNSTILE_JS)


_WIDGETS: dict[str, Callable[[str], tuple[str, str]]] = {
    "recaptcha-v2": _recaptcha_v2,
    "recaptcha-v2-invisible": _recaptcha_invisible,
    "recaptcha-v2-explicit": _recaptcha_explicit,
    "recaptcha-v3": _recaptcha_v3,
    "recaptcha-enterprise": _recaptcha_enterprise,
    "hcaptcha": _hcaptcha,
    "turnstile": _turnstile,
    "two-captchas": _two_captchas,
    "iframe": _recaptcha_v2,
}


def image_widget(challenge_id: str) -> str:
    """The image captcha's fields: the challenge id, the picture and the answer box."""
    return (
        f'<input type="hidden" name="challenge" value="{attr(challenge_id)}">'
        f'<img id="captcha-image" src="/image/captcha.png?c={attr(challenge_id)}" '
        'alt="captcha" width="150" height="50">'
        "<label>Type the characters in the picture: "
        '<input id="captcha" name="captcha" autocomplete="off" required></label>' + _submit()
    )


def form_page(
    kind: str,
    path: str,
    page: int,
    csrf: str,
    *,
    error: str | None = None,
    challenge_id: str = "",
) -> bytes:
    """The captcha-protected form of ``kind``; it posts back to ``path?page=N``."""
    info = PAGES_BY_KIND[kind]
    if kind == "image":
        fields, scripts = image_widget(challenge_id), ""
    else:
        fields, scripts = _WIDGETS[kind](kind)
    body = (
        f'<header><a href="/">VastCap demo shop</a></header>\n'
        f"<h1>{escape(info.title)}</h1>\n<p>{escape(info.description)} Page {page}.</p>\n"
        f"{_error(error)}\n"
        f'<form id="{FORM_ID}" method="POST" action="{attr(f"{path}?page={page}")}">'
        f'<input type="hidden" name="csrf" value="{attr(csrf)}">{fields}</form>\n{scripts}'
    )
    return layout(info.title, body)


def success_page(kind: str, path: str, page: int) -> bytes:
    """The products revealed once the captcha of ``kind`` page ``page`` is solved."""
    info = PAGES_BY_KIND[kind]
    items = "\n".join(
        f'<div class="product" data-sku="{attr(item.sku)}">'
        f'<h2 class="name">{escape(item.name)}</h2>'
        f'<span class="price">{escape(item.price)}</span></div>'
        for item in products(kind, page)
    )
    body = (
        f'<header><a href="/">VastCap demo shop</a></header>\n'
        f"<h1>{escape(info.title)}: page {page}</h1>\n"
        '<p class="success">Captcha passed. Products:</p>\n'
        f'<div class="products">\n{items}\n</div>\n'
        f'<nav><a class="next" href="{attr(f"{path}?page={page + 1}")}">Next page</a></nav>'
    )
    return layout(f"{info.title}: products", body)


def iframe_outer_page(page: int) -> bytes:
    """The page that embeds the protected form in an iframe."""
    info = PAGES_BY_KIND["iframe"]
    src = f"{IFRAME_INNER_PATH}?page={page}"
    body = (
        f'<header><a href="/">VastCap demo shop</a></header>\n'
        f"<h1>{escape(info.title)}</h1>\n<p>{escape(info.description)} Page {page}.</p>\n"
        f'<iframe id="shop-frame" title="Checkout" src="{attr(src)}" '
        'width="640" height="520"></iframe>'
    )
    return layout(info.title, body)


def index_page() -> bytes:
    """Links to every protected page, for crawlers to discover."""
    items = "\n".join(
        f'<li><a href="{attr(info.path)}">{escape(info.title)}</a>: {escape(info.description)}</li>'
        for info in PAGES
    )
    body = (
        "<h1>VastCap demo shop</h1>\n"
        "<p>Every page below hides its products behind a captcha. Each accepts "
        "<code>?page=N</code> and shows different products per page.</p>\n"
        f'<ul class="pages">\n{items}\n</ul>'
    )
    return layout("Index", body)


def challenge_page(
    return_to: str, ray: str, csrf: str, hostname: str, *, error: str | None = None
) -> bytes:
    """A Cloudflare-like "Just a moment..." interstitial.

    As on the real one, the Turnstile options exist only in the
    ``turnstile.render`` call; nothing is declared in data attributes.
    """
    options = (
        f"sitekey: {script_json(SITEKEYS['turnstile-interstitial'])}, "
        f"action: {script_json(INTERSTITIAL_ACTION)}, cData: {script_json(ray)}, "
        f"chlPageData: {script_json(f'chl-{ray}')}"
    )
    head = (
        "<script>window._cf_chl_opt = "
        f"{script_json({'cType': 'managed', 'cRay': ray, 'cZone': hostname})};</script>"
    )
    body = (
        f'<div class="main-wrapper"><h1>{escape(hostname)}</h1>\n'
        '<h2 id="challenge-title">Verify you are human by completing the action below.</h2>\n'
        f'{_error(error)}\n<div id="challenge"></div>\n'
        f'<form id="challenge-form" method="POST" action="{attr(CHALLENGE_VERIFY_PATH)}">'
        f'<input type="hidden" name="return" value="{attr(return_to)}">'
        f'<input type="hidden" name="csrf" value="{attr(csrf)}">'
        '<input type="hidden" name="cf-turnstile-response" id="challenge-response" value="">'
        "</form>\n"
        f"<p>{escape(hostname)} needs to review the security of your connection "
        f"before proceeding.</p>\n<p>Ray ID: <code>{escape(ray)}</code></p></div>\n"
        "<script>\n"
        "window.onloadTurnstile = function () {\n"
        f"  turnstile.render('#challenge', {{{options}, callback: function (token) {{\n"
        "    document.getElementById('challenge-response').value = token;\n"
        "    document.getElementById('challenge-form').submit();\n"
        "  }});\n"
        "};\n"
        "</script>\n" + _script(f"{TURNSTILE_JS}?onload=onloadTurnstile&render=explicit")
    )
    return layout("Just a moment...", body, head=head, site_title=False)


def message_page(title: str, lines: Sequence[str]) -> bytes:
    """A plain page for 400/404/405/502 answers."""
    body = f"<h1>{escape(title)}</h1>\n" + "\n".join(f"<p>{escape(line)}</p>" for line in lines)
    return layout(title, body)

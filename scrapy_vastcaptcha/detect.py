"""Find captcha widgets in HTML, without a browser and without I/O.

Detection follows each provider's public embed snippets: widget elements
(``.g-recaptcha``, ``.h-captcha``, ``.cf-turnstile``, ``[data-pkey]``), the
widget scripts (``api.js?render=KEY`` for reCAPTCHA v3, ``enterprise.js``,
``www.recaptcha.net``) and explicit ``*.render(...)`` / ``grecaptcha.execute``
calls in inline scripts. Each hit is tied to the ``<form>`` it belongs to, so
the injector knows what to resubmit.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass, replace
from urllib.parse import parse_qs, urlsplit

from parsel import Selector

from scrapy_vastcaptcha.captcha import TOKEN_FIELDS, Captcha

DETECTABLE_KINDS = ("recaptcha-v2", "recaptcha-v3", "hcaptcha", "turnstile", "funcaptcha")

_RECAPTCHA_SCRIPT = re.compile(
    r"^(?:https?:)?//(?:www\.)?(?:google\.com|recaptcha\.net)/recaptcha/(api|enterprise)\.js",
    re.IGNORECASE,
)
_HCAPTCHA_SCRIPT = re.compile(r"//(?:js\.)?hcaptcha\.com/", re.IGNORECASE)
_TURNSTILE_SCRIPT = re.compile(r"//challenges\.cloudflare\.com/turnstile/", re.IGNORECASE)
_ARKOSE_SCRIPT = re.compile(
    r"//(?:[\w-]+\.)?(?:arkoselabs|funcaptcha)\.com/v2/([A-Za-z0-9-]+)/api\.js", re.IGNORECASE
)
# `<global>.render('container', { ... })`: the options object up to its first
# closing brace is enough for the literal options we read.
_RENDER_CALL = re.compile(
    r"\b(grecaptcha(?:\.enterprise)?|hcaptcha|turnstile)\.render\(\s*"
    r"(?:(['\"])(?P<container>[^'\"]+)\2|[\w.$]+)\s*,\s*\{(?P<options>.*?)\}\s*\)",
    re.DOTALL,
)
_EXECUTE_CALL = re.compile(
    r"grecaptcha(?:\.enterprise)?\.execute\(\s*(['\"])(?P<key>[^'\"]+)\1\s*,\s*"
    r"\{[^}]*?\baction\s*:\s*(['\"])(?P<action>[^'\"]*)\3",
    re.DOTALL,
)


# Markup, not words: a page that merely mentions "hCaptcha" is not parsed.
_MARKERS = re.compile(
    rb"data-sitekey|data-pkey|/recaptcha/|recaptcha\.net|hcaptcha\.com|challenges\.cloudflare\.com"
    rb"|arkoselabs\.com|funcaptcha\.com|(?:grecaptcha|hcaptcha|turnstile)\.render\(",
    re.IGNORECASE,
)


def might_have_captcha(body: bytes) -> bool:
    """A cheap test on the raw body: without any marker there is no widget
    to parse for (most pages of most crawls)."""
    return _MARKERS.search(body) is not None


def _option(options: str, name: str) -> str | None:
    match = re.search(
        rf"['\"]?\b{re.escape(name)}['\"]?\s*:\s*(?:(['\"])(?P<s>[^'\"]*)\1|(?P<w>[\w.$]+))",
        options,
    )
    if match is None:
        return None
    return match.group("s") if match.group("s") is not None else match.group("w")


def _class_xpath(name: str) -> str:
    return f"//*[contains(concat(' ', normalize-space(@class), ' '), ' {name} ')][@data-sitekey]"


@dataclass(frozen=True)
class Detection:
    """A captcha and where it sits: ``form`` is the 0-based index of its
    ``<form>`` in the document (``None`` when it is in no form)."""

    captcha: Captcha
    form: int | None


def detect(
    html: str | Selector,
    page_url: str,
    kinds: Collection[str] = DETECTABLE_KINDS,
) -> list[Detection]:
    """Every captcha of the given kinds in ``html``, one per widget."""
    sel = html if isinstance(html, Selector) else Selector(text=html)
    found: list[Detection] = []
    seen: set[tuple[str, str, int | None]] = set()
    for detection in _all(sel, page_url):
        captcha = detection.captcha
        key = (captcha.kind, captcha.sitekey, detection.form)
        if captcha.kind in kinds and captcha.sitekey and key not in seen:
            seen.add(key)
            found.append(replace(detection, captcha=_with_form_fields(sel, detection)))
    return found


def _all(sel: Selector, url: str) -> Iterator[Detection]:
    scripts = [s.strip() for s in sel.xpath("//script/@src").getall()]
    inline = "\n".join(sel.xpath("//script[not(@src)]/text()").getall())
    yield from _recaptcha(sel, url, scripts, inline)
    yield from _element_widgets(sel, url, "h-captcha", "hcaptcha")
    yield from _element_widgets(sel, url, "cf-turnstile", "turnstile")
    yield from _render_calls(sel, url, inline)
    yield from _funcaptcha(sel, url, scripts)


def _form_index(sel: Selector, node: Selector | None) -> int | None:
    if node is None:
        return None
    form = node.xpath("ancestor-or-self::form[1]")
    if not form:
        return None
    return int(float(form[0].xpath("count(preceding::form)").get() or 0))


def _by_id(sel: Selector, element_id: str | None) -> Selector | None:
    if not element_id:
        return None
    nodes = sel.xpath("//*[@id=$id]", id=element_id.lstrip("#"))
    return nodes[0] if nodes else None


def _only_form(sel: Selector) -> int | None:
    # For widgets rendered from script into nothing we can see, the page's
    # single form (if it has just one) is the one the token belongs to.
    return 0 if len(sel.xpath("//form")) == 1 else None


def _recaptcha(sel: Selector, url: str, scripts: list[str], inline: str) -> Iterator[Detection]:
    matches = [(m.group(1).lower(), src) for src in scripts if (m := _RECAPTCHA_SCRIPT.search(src))]
    enterprise = any(name == "enterprise" for name, _ in matches) or (
        "grecaptcha.enterprise" in inline
    )
    for node in sel.xpath(_class_xpath("g-recaptcha")):
        yield Detection(
            Captcha(
                kind="recaptcha-v2",
                sitekey=node.attrib.get("data-sitekey", "").strip(),
                page_url=url,
                action=node.attrib.get("data-action") or None,
                invisible=node.attrib.get("data-size", "").lower() == "invisible",
                enterprise=enterprise,
                callback=node.attrib.get("data-callback") or None,
            ),
            _form_index(sel, node),
        )
    for _, src in matches:
        render = parse_qs(urlsplit(src).query).get("render", [""])[0]
        form = _v3_form(sel)
        if render and render not in ("explicit", "onload") and form is not None:
            action = next(
                (m.group("action") for m in _EXECUTE_CALL.finditer(inline) if m["key"] == render),
                None,
            )
            yield Detection(
                Captcha(
                    kind="recaptcha-v3",
                    sitekey=render,
                    page_url=url,
                    action=action,
                    enterprise=enterprise,
                ),
                form,
            )


def _v3_form(sel: Selector) -> int | None:
    # Sites load v3 on every page, as Google advises; only a form with a field
    # for the token needs one (anywhere else a solve would be money wasted).
    field = sel.xpath("//form//*[contains(translate(@name, 'RECAPTH', 'recapth'), 'recaptcha')]")
    return _form_index(sel, field[0]) if field else None


def _element_widgets(sel: Selector, url: str, css_class: str, kind: str) -> Iterator[Detection]:
    for node in sel.xpath(_class_xpath(css_class)):
        attrib = node.attrib
        field = attrib.get("data-response-field-name")
        yield Detection(
            Captcha(
                kind=kind,
                sitekey=attrib.get("data-sitekey", "").strip(),
                page_url=url,
                action=attrib.get("data-action") or None,
                cdata=attrib.get("data-cdata") or None,
                invisible=attrib.get("data-size", "").lower() == "invisible",
                enterprise=kind == "hcaptcha" and "enterprise" in attrib.get("data-mode", ""),
                callback=attrib.get("data-callback") or None,
                fields=(field,) if field else (),
            ),
            _form_index(sel, node),
        )


_RENDER_KINDS = {
    "grecaptcha": "recaptcha-v2",
    "grecaptcha.enterprise": "recaptcha-v2",
    "hcaptcha": "hcaptcha",
    "turnstile": "turnstile",
}


def _render_calls(sel: Selector, url: str, inline: str) -> Iterator[Detection]:
    for match in _RENDER_CALL.finditer(inline):
        options = match.group("options")
        sitekey = _option(options, "sitekey")
        if not sitekey:
            continue
        api = match.group(1)
        container = _by_id(sel, match.group("container"))
        form = _form_index(sel, container)
        yield Detection(
            Captcha(
                kind=_RENDER_KINDS[api],
                sitekey=sitekey,
                page_url=url,
                action=_option(options, "action"),
                cdata=_option(options, "cData"),
                page_data=_option(options, "chlPageData"),
                invisible=(_option(options, "size") or "").lower() == "invisible",
                enterprise=api == "grecaptcha.enterprise",
                callback=_option(options, "callback"),
            ),
            form if form is not None else _only_form(sel),
        )


def _funcaptcha(sel: Selector, url: str, scripts: list[str]) -> Iterator[Detection]:
    for node in sel.xpath("//*[@data-pkey]"):
        yield Detection(
            Captcha(kind="funcaptcha", sitekey=node.attrib["data-pkey"].strip(), page_url=url),
            _form_index(sel, node),
        )
    for src in scripts:
        if match := _ARKOSE_SCRIPT.search(src):
            yield Detection(
                Captcha(kind="funcaptcha", sitekey=match.group(1), page_url=url), _only_form(sel)
            )


def _with_form_fields(sel: Selector, detection: Detection) -> Captcha:
    """Add the form's own empty hidden fields named for a captcha (``recaptcha_token``,
    say): pages that copy the token somewhere of their own read it from there."""
    captcha = detection.captcha
    if detection.form is None or captcha.fields != TOKEN_FIELDS[captcha.kind]:
        return captcha
    form = sel.xpath("//form")[detection.form]
    own = [
        name
        for name in form.xpath(".//input[@type='hidden'][not(@value) or @value='']/@name").getall()
        if "captcha" in name.lower() and name not in captcha.fields and name not in _OTHER_FIELDS
    ]
    return replace(captcha, fields=captcha.fields + tuple(dict.fromkeys(own)))


# Fields owned by another provider's widget must not receive this one's token.
_OTHER_FIELDS = frozenset(name for names in TOKEN_FIELDS.values() for name in names)

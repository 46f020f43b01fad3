"""Find captcha widgets in HTML, without a browser and without I/O.

Detection follows each provider's public embed snippets and what real sites
do with them (tests/corpus/ holds the pages this is measured on):

- widget elements: ``.g-recaptcha``, ``.h-captcha``, ``.cf-turnstile`` and
  ``[data-pkey]``; elements that name their provider with
  ``data-captcha-type`` (Gitea, Forgejo); elements carrying ``data-sitekey``
  whose class or id names one provider (plugins' own containers, such as
  Gravity Forms' ``ginput_recaptcha``); and, when the page loads exactly one
  provider's script, any other element carrying ``data-sitekey`` (sites that
  render the widget from their own script);
- the widget scripts, from ``<script src>`` or from a loader script that
  writes the URL: ``api.js?render=KEY`` for reCAPTCHA v3, ``enterprise.js``,
  ``www.recaptcha.net``, hCaptcha's ``recaptchacompat=off``;
- explicit ``*.render(target, {...})`` and ``grecaptcha.execute(KEY, ...)``
  calls in inline scripts, ``target`` being an id string, a selector,
  ``document.getElementById(...)`` or ``document.querySelector(...)``; a key
  given as a variable is read from the inline script that assigns it a string;
- widgets configured as data for the page's own script (``{"sitekey": ...}``
  placed by an ``"#id"`` selector, as Magento does) when that container is in
  a form;
- widgets already rendered (saved copies, rendered DOM): the frames the
  providers insert name the key (reCAPTCHA's anchor and fallback frames,
  hCaptcha's checkbox frame, Turnstile's frame).

reCAPTCHA v2, invisible v2 and v3 are told apart by
:func:`scrapy_vastcaptcha.evidence.recaptcha_verdict`, the rules shared with
the browser detector. Each hit is tied to the ``<form>`` to resubmit: the form
around the widget, else the one form holding the provider's response field,
else (for script-rendered widgets) the page's only form; a widget with a known
key is never dropped for want of a form. reCAPTCHA v3 is the exception: it is
reported only where a form takes its token (see :func:`_v3_fields`), since
sites load it on every page for analytics.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass, replace
from urllib.parse import parse_qs, urlsplit

from parsel import Selector

from scrapy_vastcaptcha.captcha import DETECTABLE_KINDS, TOKEN_FIELDS, Captcha
from scrapy_vastcaptcha.evidence import RecaptchaEvidence, normalise_sitekey, recaptcha_verdict
from scrapy_vastcaptcha.pagefacts import PageFacts, TokenWriting, option

__all__ = ["DETECTABLE_KINDS", "Detection", "detect", "form_index", "might_have_captcha"]

# Frames a rendered widget leaves in the page (saved copies, rendered DOM).
_RECAPTCHA_FRAME = re.compile(
    r"^(?:https?:)?//(?:www\.)?(?:google\.com|recaptcha\.net)/recaptcha/"
    r"(?:(api2|enterprise)/anchor|api/fallback)\?",
    re.IGNORECASE,
)
_HCAPTCHA_FRAME = re.compile(r"^(?:https?:)?//[\w.-]*hcaptcha\.com/captcha/", re.IGNORECASE)
_TURNSTILE_FRAME = re.compile(
    r"^(?:https?:)?//challenges\.cloudflare\.com/cdn-cgi/challenge-platform/\S*?/turnstile/"
    r"\S*?/([0-3]x[\w-]{20,})(?:/|$)",
    re.IGNORECASE,
)
# Widget settings held as data: a site key in an object, and the "#id"
# selectors and provider names written before it. Provider names also mark
# plugins' own widget containers ("ginput_recaptcha").
_CONFIG_KEY = re.compile(
    r"""["']?\bsite_?key["']?\s*:\s*["'](?P<key>[^"'\\\s]{20,})["']""", re.IGNORECASE
)
_CONFIG_TARGET = re.compile(r"""["']#([\w-]+)["']""")
_PROVIDER_WORD = re.compile(r"recaptcha|hcaptcha|turnstile")
_ARKOSE_SCRIPT = re.compile(
    r"//(?:[\w-]+\.)?(?:arkoselabs|funcaptcha)\.com/v2/([A-Za-z0-9-]+)/api\.js", re.IGNORECASE
)
# `<global>.render(target, { ... })`: the options object up to the first
# closing brace followed by `)` is enough for the options we read.
_RENDER_CALL = re.compile(
    r"\b(grecaptcha(?:\.enterprise)?|hcaptcha|turnstile)\.render\(\s*"
    r"(?P<target>[^{};]*?)\s*,\s*\{(?P<options>.*?)\}\s*\)",
    re.DOTALL,
)
# Class names, and data-captcha-type values, that name each provider's widget.
_CLASSES = {"recaptcha": "g-recaptcha", "hcaptcha": "h-captcha", "turnstile": "cf-turnstile"}
_CAPTCHA_TYPES = {
    "g-recaptcha": "recaptcha",
    "recaptcha": "recaptcha",
    "h-captcha": "hcaptcha",
    "hcaptcha": "hcaptcha",
    "cf-turnstile": "turnstile",
    "cfturnstile": "turnstile",
    "turnstile": "turnstile",
}
# Other vendors' widgets that also carry data-sitekey: never claimed by the
# "only provider loaded" rule (Friendly Captcha, mCaptcha, Yandex SmartCaptcha,
# Prosopo, Private Captcha).
_FOREIGN_CLASSES = frozenset(
    {"frc-captcha", "m-captcha", "smart-captcha", "procaptcha", "private-captcha"}
)
_RENDER_PROVIDERS = {
    "grecaptcha": "recaptcha-v2",  # until the verdict says otherwise
    "grecaptcha.enterprise": "recaptcha-v2",
    "hcaptcha": "hcaptcha",
    "turnstile": "turnstile",
}
_SUBMIT_INPUTS = frozenset({"submit", "button", "image"})
# A field named for reCAPTCHA, unless a rendered widget holds it (its own
# response field, seen in saved copies of pages).
_NAMED_FOR_RECAPTCHA = (
    ".//*[contains(translate(@name, 'RECAPTH', 'recapth'), 'recaptcha')]"
    "[not(ancestor::*[contains(concat(' ', normalize-space(@class), ' '), ' g-recaptcha ')])]"
)
_EMPTY_HIDDEN = ".//input[@type='hidden'][not(@value) or @value='']"

# Markup, not words: a page that merely mentions "hCaptcha" is not parsed.
# Matched against the lower-cased body (faster than a case-blind pattern).
_MARKERS = re.compile(
    rb"data-sitekey|data-pkey|/recaptcha/|recaptcha\.net|hcaptcha\.com|challenges\.cloudflare\.com"
    rb"|arkoselabs\.com|funcaptcha\.com|(?:grecaptcha|hcaptcha|turnstile)\.render\("
    rb"|site_?key[\"']?\s*:"
)


def might_have_captcha(body: bytes) -> bool:
    """A cheap test on the raw body: without any marker there is no widget
    to parse for (most pages of most crawls)."""
    return _MARKERS.search(body.lower()) is not None


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
    page = PageFacts(sel, page_url)
    found: dict[tuple[str, str, int | None], Detection] = {}
    for detection in _all(page):
        captcha = detection.captcha
        if captcha.kind not in kinds or not captcha.sitekey:
            continue
        if detection.form is None:
            detection = replace(detection, form=page.form_with_field(TOKEN_FIELDS[captcha.kind]))
        if captcha.kind == "recaptcha-v3" and detection.form is None:
            continue  # v3 outside any form is analytics, not a gate
        key = (captcha.kind, captcha.sitekey, detection.form)
        first = found.get(key)
        if first is None:
            found[key] = replace(detection, captcha=_with_form_fields(page, detection))
        elif first.captcha.action is None and captcha.action is not None:
            # The same widget seen twice (markup and settings): keep what either says.
            found[key] = replace(first, captcha=replace(first.captcha, action=captcha.action))
    return list(found.values())


def form_index(sel: Selector, node: Selector | None) -> int | None:
    """The 0-based index of the ``<form>`` around ``node`` (``None`` outside any)."""
    if node is None:
        return None
    form = node.xpath("ancestor-or-self::form[1]")
    if not form:
        return None
    return int(float(form[0].xpath("count(preceding::form)").get() or 0))


def _all(page: PageFacts) -> Iterator[Detection]:
    for provider, node in _widget_elements(page):
        if provider == "recaptcha":
            yield _recaptcha_element(page, node)
        else:
            yield _element_widget(page, node, provider)
    yield from _v3_from_script(page)
    yield from _render_calls(page)
    yield from _rendered_frames(page)
    yield from _configured_widgets(page)
    yield from _funcaptcha(page)


def _widget_elements(page: PageFacts) -> Iterator[tuple[str, Selector]]:
    """Every element carrying a site key, with the provider it belongs to."""
    for node in page.keyed:
        classes = (node.attrib.get("class") or "").split()
        captcha_type = (node.attrib.get("data-captcha-type") or "").lower()
        by_class = next((p for p, c in _CLASSES.items() if c in classes), None)
        provider = by_class or _CAPTCHA_TYPES.get(captcha_type)
        foreign = bool(captcha_type or _FOREIGN_CLASSES.intersection(classes))
        if provider is None and not foreign:
            # A plugin's own container (Gravity Forms' "ginput_recaptcha",
            # "g-invisible-recaptcha", "js-turnstile") names its provider, even
            # where the page's copy lost the script tag.
            marks = f"{node.attrib.get('class', '')} {node.attrib.get('id', '')}".lower()
            named = sorted(set(_PROVIDER_WORD.findall(marks)))
            if len(named) == 1 and (not page.providers or named[0] in page.providers):
                (provider,) = named
        if provider is None and not foreign and len(page.providers) == 1:
            # The page's own script renders it: the only provider loaded owns it.
            (provider,) = page.providers
        if provider is not None:
            yield provider, node


def _element_form(page: PageFacts, node: Selector) -> int | None:
    form = page.form_index(node)
    if form is None and node.root.tag == "script":
        return page.only_form()
    return form


def _recaptcha_element(page: PageFacts, node: Selector) -> Detection:
    attrib = node.attrib
    sitekey = normalise_sitekey(attrib.get("data-sitekey", ""))
    tag = str(node.root.tag).lower()
    input_type = attrib.get("type") if tag == "input" else None
    action = attrib.get("data-action") or None
    verdict = recaptcha_verdict(
        RecaptchaEvidence(
            sitekey=sitekey,
            tag="" if tag == "script" else tag,
            input_type=input_type,
            size=attrib.get("data-size"),
            action=action,
            badge=attrib.get("data-badge"),
            render_keys=page.render_keys,
            execute_keys=page.execute_keys,
        )
    )
    form = _element_form(page, node)
    if verdict.kind == "recaptcha-v3" and action is None:
        action = page.execute_actions.get(sitekey) or _stated_action(page, form)
    fields = TOKEN_FIELDS[verdict.kind]
    name = attrib.get("name")
    own_field = tag == "input" and (input_type or "").lower() not in _SUBMIT_INPUTS
    if own_field and name and not attrib.get("value"):
        fields = (*fields, name)  # a token field of its own (django-recaptcha's v3 input)
    return Detection(
        Captcha(
            kind=verdict.kind,
            sitekey=sitekey,
            page_url=page.url,
            action=action,
            invisible=verdict.invisible,
            enterprise=page.enterprise,
            callback=attrib.get("data-callback") or None,
            fields=fields,
            alternative=verdict.alternative,
        ),
        form,
    )


def _element_widget(page: PageFacts, node: Selector, provider: str) -> Detection:
    attrib = node.attrib
    kind = provider
    tag = str(node.root.tag).lower()
    bound = tag == "button" or (tag == "input" and attrib.get("type", "").lower() in _SUBMIT_INPUTS)
    field = attrib.get("data-response-field-name")
    invisible = attrib.get("data-size", "").lower() == "invisible"
    return Detection(
        Captcha(
            kind=kind,
            sitekey=normalise_sitekey(attrib.get("data-sitekey", "")),
            page_url=page.url,
            action=attrib.get("data-action") or None,
            cdata=attrib.get("data-cdata") or None,
            # A button cannot hold hCaptcha's checkbox: bound to it, hCaptcha runs invisibly.
            invisible=invisible or (kind == "hcaptcha" and bound),
            enterprise=kind == "hcaptcha" and "enterprise" in attrib.get("data-mode", ""),
            callback=attrib.get("data-callback") or None,
            fields=(field,) if field else page.token_fields(kind),
        ),
        _element_form(page, node),
    )


def _v3_from_script(page: PageFacts) -> Iterator[Detection]:
    # Sites load v3 on every page, as Google advises; only a form with a field
    # for the token needs one (anywhere else a solve would be money wasted).
    keys = page.render_keys | page.execute_keys
    if not keys:
        return
    for form, own in _v3_fields(page, page.token_writing()).items():
        for key in sorted(keys):
            yield Detection(
                Captcha(
                    kind="recaptcha-v3",
                    sitekey=key,
                    page_url=page.url,
                    action=page.execute_actions.get(key) or _stated_action(page, form),
                    enterprise=page.enterprise,
                    fields=tuple(dict.fromkeys((*TOKEN_FIELDS["recaptcha-v3"], *own))),
                ),
                form,
            )


def _v3_fields(page: PageFacts, writing: TokenWriting) -> dict[int, tuple[str, ...]]:
    """The forms that take a reCAPTCHA v3 token, each with its own fields
    for it. A form takes one when it has a field named for reCAPTCHA
    (``g-recaptcha-response``, ``recaptcha_token``), or an empty hidden
    field named or classed for a captcha (``gcaptcha_token``), or an empty
    hidden field or textarea that the page's reCAPTCHA script writes into
    (looked up by id or name); or when that script creates the token's
    field and adds it to the form it looks up (or to the page's only form)."""
    taking: dict[int, tuple[str, ...]] = {}
    for index, form in enumerate(page.forms):
        named = bool(form.xpath(_NAMED_FOR_RECAPTCHA))
        own: list[str] = []
        for field in form.xpath(f"{_EMPTY_HIDDEN}|.//textarea"):
            name = field.attrib.get("name") or ""
            hidden = field.root.tag == "input"
            if (hidden and "captcha" in _marks(field)) or writing.looked_up.intersection(
                {name, field.attrib.get("id", "")} - {""}
            ):
                own.append(name)
        if named or own:
            taking[index] = tuple(dict.fromkeys(n for n in own if n))
    if writing.created:
        ids = {
            index
            for index, form in enumerate(page.forms)
            if writing.looked_up.intersection(
                {form.attrib.get("id", ""), form.attrib.get("name", "")} - {""}
            )
        }
        if not ids and len(page.forms) == 1:
            ids = {0}
        for index in ids:
            taking[index] = tuple(dict.fromkeys((*taking.get(index, ()), *writing.created)))
    return taking


def _stated_action(page: PageFacts, form: int | None) -> str | None:
    """A v3 action the form states in a field of its own
    (``recaptcha_action``, as phpBB and Magix CMS write it), for the page's
    script to read."""
    if form is None:
        return None
    for field in page.forms[form].xpath(".//input[@value]"):
        name = (field.attrib.get("name") or "").lower()
        if "captcha" in name and "action" in name:
            return field.attrib["value"].strip() or None
    return None


def _render_calls(page: PageFacts) -> Iterator[Detection]:
    for match in _RENDER_CALL.finditer(page.inline):
        options = match.group("options")
        raw_key = option(options, "sitekey", literal=True) or page.resolve(
            option(options, "sitekey")
        )
        sitekey = normalise_sitekey(raw_key or "")
        if not sitekey:
            continue
        api = match.group(1)
        container = page.target(match.group("target"))
        form = page.form_index(container)
        if form is None and container is None:
            form = page.only_form()
        size = option(options, "size", literal=True)
        kind = _RENDER_PROVIDERS[api]
        captcha = Captcha(
            kind=kind,
            sitekey=sitekey,
            page_url=page.url,
            action=option(options, "action", literal=True),
            cdata=option(options, "cData", literal=True),
            page_data=option(options, "chlPageData", literal=True),
            invisible=(size or "").lower() == "invisible",
            enterprise=api == "grecaptcha.enterprise" or (api == "grecaptcha" and page.enterprise),
            callback=option(options, "callback"),
            fields=page.token_fields(kind),
        )
        if api.startswith("grecaptcha"):
            captcha = _with_verdict(page, captcha, container, size, option(options, "badge"))
        yield Detection(captcha, form)


def _with_verdict(
    page: PageFacts,
    captcha: Captcha,
    container: Selector | None,
    size: str | None,
    badge: str | None,
) -> Captcha:
    tag = "" if container is None else str(container.root.tag).lower()
    verdict = recaptcha_verdict(
        RecaptchaEvidence(
            sitekey=captcha.sitekey,
            tag=tag,
            input_type=container.attrib.get("type") if container is not None else None,
            size=size,
            action=captcha.action,
            badge=badge,
            render_keys=page.render_keys,
            execute_keys=page.execute_keys,
        )
    )
    return replace(
        captcha,
        kind=verdict.kind,
        invisible=verdict.invisible,
        alternative=verdict.alternative,
        fields=TOKEN_FIELDS[verdict.kind],
    )


def _rendered_frames(page: PageFacts) -> Iterator[Detection]:
    """Widgets a saved copy of the page shows already rendered: the frames
    the providers' scripts insert name the site key (reCAPTCHA's anchor and
    no-script fallback frames, hCaptcha's checkbox frame, Turnstile's frame)."""
    for frame in page.frames:
        src = frame.attrib["src"].strip()
        if match := _RECAPTCHA_FRAME.search(src):
            query = parse_qs(urlsplit(src).query)
            sitekey = normalise_sitekey((query.get("k") or [""])[0])
            if not sitekey:
                continue
            size = (query.get("size") or [""])[0] or None
            holder = frame.xpath(
                "ancestor::*[contains(concat(' ', @class, ' '), ' g-recaptcha ')][1]"
            )
            captcha = Captcha(
                kind="recaptcha-v2",
                sitekey=sitekey,
                page_url=page.url,
                enterprise=match.group(1) == "enterprise" or page.enterprise,
            )
            yield Detection(
                _with_verdict(page, captcha, holder[0] if holder else None, size, None),
                page.form_index(frame),
            )
        elif _HCAPTCHA_FRAME.search(src):
            parts = urlsplit(src)
            fragment = parse_qs(parts.fragment)
            shown = (fragment.get("frame") or ["checkbox"])[0]
            if shown != "checkbox" or "challenge" in parts.path:
                continue  # the challenge frame repeats the checkbox's key
            yield Detection(
                Captcha(
                    kind="hcaptcha",
                    sitekey=normalise_sitekey((fragment.get("sitekey") or [""])[0]),
                    page_url=page.url,
                    invisible=(fragment.get("size") or [""])[0] == "invisible",
                    fields=page.token_fields("hcaptcha"),
                ),
                page.form_index(frame),
            )
        elif match := _TURNSTILE_FRAME.search(src):
            yield Detection(
                Captcha(kind="turnstile", sitekey=match.group(1), page_url=page.url),
                page.form_index(frame),
            )


def _configured_widgets(page: PageFacts) -> Iterator[Detection]:
    """Widgets a page configures in data for its own script to render:
    ``{"sitekey": KEY, "size": ...}`` in a JSON or script block, placed by
    the ``"#id"`` selector that precedes it (Magento's ``x-magento-init``
    reCAPTCHA components), else by the one form keeping a field for the
    token. Only a widget in a form counts: one configured for markup the page
    does not hold yet (a login pop-up a script builds) is none the crawler
    can resubmit."""
    if "sitekey" not in page.inline_lower and "site_key" not in page.inline_lower:
        return
    for block in page.blocks:
        for match in _CONFIG_KEY.finditer(block):
            before = block[: match.start()]
            selectors = _CONFIG_TARGET.findall(before)
            container = page.target(f"'#{selectors[-1]}'") if selectors else None
            form = page.form_index(container)
            if form is None and container is None:
                # Settings that name no container (Drupal's drupalSettings): the
                # one form keeping a field for the token is the widget's.
                holding = _token_forms(page)
                form = holding[0] if len(holding) == 1 else None
            if form is None:
                continue
            words = _PROVIDER_WORD.findall(before[-500:].lower())
            provider = words[-1] if words else None
            if provider is None and len(page.providers) == 1:
                (provider,) = page.providers
            if provider is None:
                continue
            options = (
                before[before.rfind("{") :] + block[match.end() : block.find("}", match.end())]
            )
            size = option(options, "size", literal=True)
            sitekey = normalise_sitekey(match.group("key"))
            if provider == "recaptcha":
                captcha = Captcha(
                    kind="recaptcha-v2",
                    sitekey=sitekey,
                    page_url=page.url,
                    action=option(options, "action", literal=True),
                    enterprise=page.enterprise,
                )
                captcha = _with_verdict(
                    page, captcha, None, size, option(options, "badge", literal=True)
                )
            else:
                captcha = Captcha(
                    kind=provider,
                    sitekey=sitekey,
                    page_url=page.url,
                    invisible=(size or "").lower() == "invisible",
                    fields=page.token_fields(provider),
                )
            yield Detection(captcha, form)


def _token_forms(page: PageFacts) -> list[int]:
    """Forms with an empty hidden field named or classed for a captcha: a
    place the page's script copies a token into."""
    return [
        index
        for index, form in enumerate(page.forms)
        if any("captcha" in _marks(field) for field in form.xpath(_EMPTY_HIDDEN))
    ]


def _marks(field: Selector) -> str:
    """What names a field: its name, id and class, lower-cased."""
    attrib = field.attrib
    return f"{attrib.get('name', '')} {attrib.get('id', '')} {attrib.get('class', '')}".lower()


def _funcaptcha(page: PageFacts) -> Iterator[Detection]:
    for node in page.pkeyed:
        yield Detection(
            Captcha(
                kind="funcaptcha",
                sitekey=normalise_sitekey(node.attrib["data-pkey"]),
                page_url=page.url,
            ),
            page.form_index(node),
        )
    for src in page.scripts:
        if match := _ARKOSE_SCRIPT.search(src):
            yield Detection(
                Captcha(kind="funcaptcha", sitekey=match.group(1), page_url=page.url),
                page.only_form(),
            )


def _with_form_fields(page: PageFacts, detection: Detection) -> Captcha:
    """Add the form's own empty hidden fields named for a captcha (``recaptcha_token``,
    say): pages that copy the token somewhere of their own read it from there."""
    captcha = detection.captcha
    default = TOKEN_FIELDS[captcha.kind]
    if detection.form is None or captcha.fields[:1] != default[:1]:
        return captcha  # no form, or a response field the widget was told to use
    form = page.forms[detection.form]
    own = [
        name
        for name in form.xpath(f"{_EMPTY_HIDDEN}/@name").getall()
        if "captcha" in name.lower() and name not in captcha.fields and name not in _OTHER_FIELDS
    ]
    return replace(captcha, fields=captcha.fields + tuple(dict.fromkeys(own)))


# Fields owned by another provider's widget must not receive this one's token.
_OTHER_FIELDS = frozenset(name for names in TOKEN_FIELDS.values() for name in names)

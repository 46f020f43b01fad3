"""What a page says about its captchas outside the widget elements, gathered
once per page for the detectors of :mod:`scrapy_vastcaptcha.detect`: its
forms, the widget scripts it loads (from ``<script src>`` or a loader script),
the reCAPTCHA keys named by ``?render=`` and ``execute()``, the strings its
inline scripts assign, and where those scripts put a token. Pure: no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from parsel import Selector

from scrapy_vastcaptcha.captcha import TOKEN_FIELDS
from scrapy_vastcaptcha.evidence import normalise_sitekey

__all__ = ["PageFacts", "TokenWriting", "option"]

_RECAPTCHA_SCRIPT = re.compile(
    r"^(?:https?:)?//(?:www\.)?(?:google\.com|recaptcha\.net)/recaptcha/(api|enterprise)\.js",
    re.IGNORECASE,
)
_PROVIDER_SCRIPTS = {
    "recaptcha": _RECAPTCHA_SCRIPT,
    "hcaptcha": re.compile(r"//(?:js\.)?hcaptcha\.com/", re.IGNORECASE),
    "turnstile": re.compile(r"//challenges\.cloudflare\.com/turnstile/", re.IGNORECASE),
}
_WIDGET_HOSTS = ("google.com", "recaptcha.net", "hcaptcha.com", "challenges.cloudflare.com")
# A widget script's URL written out in a loader script (WordPress plugins and
# single-page apps add the <script> tag from JavaScript).
_SCRIPT_URL_IN_CODE = re.compile(
    r"""(?:https?:)?//(?:www\.)?(?:google\.com|recaptcha\.net|js\.hcaptcha\.com|hcaptcha\.com"""
    r"""|challenges\.cloudflare\.com)/[^'"`\s<>]*""",
    re.IGNORECASE,
)
_EXECUTE_CALL = re.compile(
    r"grecaptcha(?:\s*\.\s*enterprise)?\s*\.\s*execute\(\s*"
    r"(?:(['\"])(?P<key>[^'\"]+)\1|(?P<name>[A-Za-z_$][\w.$]*))"
    r"(?:\s*,\s*\{(?P<options>[^}]*)\})?",
    re.DOTALL,
)
# A string written out: quotes, or a template literal with nothing interpolated.
_QUOTED = re.compile(r"""^(['"`])(?P<s>[^'"`]*)\1$""")
_LOOKUP = re.compile(
    r"""^(?:document\.(?P<dom>getElementById|querySelector)|\$|jQuery)"""
    r"""\(\s*(['"`])(?P<s>[^'"`]+)\2\s*\)(?:\[0\]|\.get\(0\))?$"""
)
# Where a page script puts a token: the elements it looks up by id or name.
_SCRIPT_TARGETS = re.compile(
    r"""(?:getElementById\(\s*|getElementsByName\(\s*|querySelector(?:All)?\(\s*|\$\(\s*)"""
    r"""(['"])(?P<s>[^'"]+)\1"""
)
_TARGET_NAMES = re.compile(r"""^#([\w-]+)$|\[name=['"]?([^'"\]]+)['"]?\]""")
# A field a page script creates: `input.name = 'x'`, `setAttribute('name', 'x')`,
# `.attr('name', 'x')`, or `name="x"` in a string of HTML.
_CREATED_FIELD = re.compile(r"""\bname\\?['"]?\s*[=:,]\s*\\?['"]([\w\[\]-]+)""")
# Names, not values: what a render option holding a function looks like.
_NOT_NAMES = frozenset({"function", "async", "null", "undefined", "true", "false", "new"})
# A site key is one token of this shape whatever the provider (40-character
# reCAPTCHA keys, hCaptcha UUIDs, Turnstile 0x... keys); assigned strings of
# another shape are placeholders or something else.
_KEY_SHAPE = re.compile(r"^[\w-]{20,}$")


class PageFacts:
    """What the detectors share about one page, looked up once: its forms,
    scripts, the reCAPTCHA keys it names, and the variables its inline
    scripts assign."""

    def __init__(self, sel: Selector, url: str) -> None:
        self.sel = sel
        self.url = url
        self.forms = sel.xpath("//form")
        # Every element a detector reads, found in one pass over the tree.
        marked = sel.xpath("//*[@data-sitekey or @data-pkey] | //iframe[@src]")
        self.keyed = [n for n in marked if "data-sitekey" in n.attrib]
        self.pkeyed = [n for n in marked if "data-pkey" in n.attrib]
        self.frames = [n for n in marked if n.root.tag == "iframe" and "src" in n.attrib]
        self._form_of = {form.root: i for i, form in enumerate(self.forms)}
        self.blocks = [t for t in sel.xpath("//script[not(@src)]/text()").getall() if t.strip()]
        self.inline = "\n".join(self.blocks)
        self.scripts = [s.strip() for s in sel.xpath("//script/@src").getall()]
        # Case-blind patterns are slow: run them only where a plain test on
        # the lower-cased text says they can match.
        self.inline_lower = self.inline.lower()
        if any(host in self.inline_lower for host in _WIDGET_HOSTS):
            self.scripts += [m.group(0) for m in _SCRIPT_URL_IN_CODE.finditer(self.inline)]
        self.providers = {
            name
            for name, rx in _PROVIDER_SCRIPTS.items()
            if any(rx.search(s) for s in self.scripts)
        }
        recaptcha = [
            (m.group(1).lower(), s) for s in self.scripts if (m := _RECAPTCHA_SCRIPT.search(s))
        ]
        self.enterprise = any(name == "enterprise" for name, _ in recaptcha) or (
            "grecaptcha.enterprise" in self.inline
        )
        self.render_keys = frozenset(
            key
            for _, src in recaptcha
            if (key := normalise_sitekey(parse_qs(urlsplit(src).query).get("render", [""])[0]))
            and key not in ("explicit", "onload")
        )
        self.execute_actions: dict[str, str | None] = {}
        for call in _EXECUTE_CALL.finditer(self.inline):
            raw = call["key"] or self.resolve(call["name"])
            if not raw:
                continue
            key = normalise_sitekey(raw)
            action = option(call["options"] or "", "action", literal=True)
            if action or key not in self.execute_actions:
                self.execute_actions[key] = action
        self.execute_keys = frozenset(self.execute_actions)
        compat_off = any(
            "recaptchacompat=off" in src.lower()
            for src in self.scripts
            if _PROVIDER_SCRIPTS["hcaptcha"].search(src)
        )
        # Told to leave reCAPTCHA's field alone, hCaptcha writes only its own.
        self._hcaptcha_fields = ("h-captcha-response",) if compat_off else TOKEN_FIELDS["hcaptcha"]

    def token_fields(self, kind: str) -> tuple[str, ...]:
        """The fields a widget of ``kind`` writes its token into on this page."""
        return self._hcaptcha_fields if kind == "hcaptcha" else TOKEN_FIELDS[kind]

    def resolve(self, name: str | None) -> str | None:
        """The string a page script assigns to a variable or property
        ``name`` (``siteKey = '...'``, ``{siteKey: '...'}``), when it assigns
        exactly one key-shaped string to it."""
        if not name:
            return None
        last = name.rsplit(".", 1)[-1]
        assigned = {
            m.group("v")
            for m in re.finditer(
                rf"""(?<![\w$])['"]?{re.escape(last)}['"]?\s*[:=]\s*(['"])(?P<v>[^'"]*)\1""",
                self.inline,
            )
        }
        if len(assigned) != 1:
            return None
        (value,) = assigned
        return value if _KEY_SHAPE.match(value.strip()) else None

    def form_index(self, node: Selector | None) -> int | None:
        if node is None:
            return None
        # lxml walks up the tree faster than an XPath query per element.
        for element in (node.root, *node.root.iterancestors("form")):
            if element.tag == "form":
                return self._form_of.get(element)
        return None

    def form_with_field(self, names: tuple[str, ...]) -> int | None:
        # A widget laid out outside the form (challenge pages do this) still
        # belongs to the one form that carries its response field.
        holding = [i for i, f in enumerate(self.forms) if f.xpath(".//*[@name=$n]", n=names[0])]
        return holding[0] if len(holding) == 1 else None

    def only_form(self) -> int | None:
        return 0 if len(self.forms) == 1 else None

    def target(self, expression: str) -> Selector | None:
        """The element a render call's first argument names, when it is
        written out: an id or selector string, or a DOM lookup of one."""
        expression = expression.strip()
        match = _QUOTED.match(expression) or _LOOKUP.match(expression)
        if match is None:
            return None
        selector = match.group("s").strip()
        if match.groupdict().get("dom") == "getElementById":
            selector = "#" + selector
        elif not selector.startswith((".", "#", "[")):
            selector = "#" + selector  # render('id', ...) takes a bare id
        try:
            nodes = self.sel.css(selector)
        except Exception:  # not a selector parsel can read: leave the widget unplaced
            return None
        return nodes[0] if nodes else None

    def token_writing(self) -> TokenWriting:
        """What the page's reCAPTCHA scripts do with a token: the ids and
        names they look up, and the fields they create for it."""
        looked_up: set[str] = set()
        created: list[str] = []
        for block in self.blocks:
            if "grecaptcha" not in block:
                continue
            for match in _SCRIPT_TARGETS.finditer(block):
                text = match.group("s").strip()
                named = _TARGET_NAMES.findall(text)
                if named:
                    looked_up.update(a or b for a, b in named)
                elif re.fullmatch(r"[\w-]+", text):
                    looked_up.add(text)  # getElementById('x'), getElementsByName('x')
            created += [
                name
                for name in _CREATED_FIELD.findall(block)
                if "captcha" in name.lower() or "token" in name.lower()
            ]
        return TokenWriting(frozenset(looked_up), tuple(dict.fromkeys(created)))


@dataclass(frozen=True)
class TokenWriting:
    looked_up: frozenset[str]
    created: tuple[str, ...]


def option(options: str, name: str, *, literal: bool = False) -> str | None:
    """A render option's value. ``literal`` takes only a string written out;
    otherwise a name is taken too (a callback's, or a variable's for the
    caller to resolve), never a function written in place."""
    word = "" if literal else r"|(?P<w>[A-Za-z_$][\w.$]*)"
    match = re.search(
        rf"['\"]?\b{re.escape(name)}['\"]?\s*:\s*(?:(['\"`])(?P<s>[^'\"`]*)\1{word})",
        options,
    )
    if match is None:
        return None
    if match.group("s") is not None:
        # a template literal that interpolates is worked out at run time
        return None if "${" in match.group("s") else match.group("s")
    value = match.group("w")
    return None if value in _NOT_NAMES else value

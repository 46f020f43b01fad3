"""Which reCAPTCHA a widget is, decided from what a page shows of it.

Pure rules (no I/O, no parsing) shared by the HTML detector
(:mod:`scrapy_vastcaptcha.detect`) and the in-browser detector: each side
gathers a :class:`RecaptchaEvidence` its own way and asks
:func:`recaptcha_verdict`.

reCAPTCHA v2 (checkbox or invisible) and v3 use the same ``api.js`` and the
same ``g-recaptcha`` class, and a site key does not say which kind it is. The
rules, first match wins:

1. **The key is a v3 key.** A key named by ``api.js?render=KEY`` (or
   ``enterprise.js?render=KEY``) or passed to ``grecaptcha[.enterprise].execute(KEY, ...)``
   is a score key: v3, certain, whatever element and field name carry it.
   django-recaptcha's v3 widget is ``<input type="hidden" class="g-recaptcha"
   data-sitekey="KEY">`` next to ``api.js?render=KEY``.
2. **An invisible-only parameter.** ``data-size="invisible"`` (or ``size:
   'invisible'`` in a render call) is a v2-only parameter: invisible v2, certain.
   So is a badge position (``data-badge`` or the render option ``badge``):
   only an invisible widget has a badge to place (Joomla's Convert Forms and
   CakePHP's invisible-reCAPTCHA plugin render such elements).
3. **A field, not a widget.** A ``g-recaptcha`` ``<input>`` that is not a
   submit control (typically a hidden input) cannot show a checkbox: it only
   holds a token, which is how v3 integrations look. v3, not certain; the
   alternative is an invisible v2.
4. **Bound to a submit control.** A ``<button>`` or a submit/button/image
   ``<input>`` carrying the key shows no checkbox: Google binds the challenge
   to the click. Google's invisible v2 snippet and its "bind v3 to a button"
   snippet have the same shape (``data-sitekey`` + ``data-callback``), the v3
   one adding ``data-action``. So: with ``data-action`` it is v3, without it
   invisible v2, neither certain; the alternative is the other kind. (With
   ``?render=KEY`` or ``execute(KEY)`` on the page rule 1 has already decided.)
5. **Anything else** (a ``<div>``, or a ``render()`` call into an element we
   cannot see): v2 checkbox, certain; invisible only by rule 2.

Enterprise is not part of the verdict: it is which script serves the widget
(``enterprise.js``, ``grecaptcha.enterprise``), read by each detector and
carried to the task on :attr:`scrapy_vastcaptcha.captcha.Captcha.enterprise`.

``invisible`` says the widget shows no checkbox: an explicit invisible size,
or an element that cannot hold one (a submit control, a token field). The v3
task ignores it; it is set on v3 verdicts too so that a v3 guess retried as
its v2 ``alternative`` is solved as the invisible v2 it would then be (the
flag is the same whichever of the two kinds is tried).

``alternative`` is what to try next when the site rejects a token solved as
``kind``: a wrong guess then costs one extra solve, not every attempt.
"""

from __future__ import annotations

from dataclasses import dataclass

V2 = "recaptcha-v2"
V3 = "recaptcha-v3"

# Inputs the browser treats as submit controls: clicking them submits the form.
_SUBMIT_INPUTS = frozenset({"submit", "button", "image"})


def normalise_sitekey(raw: str) -> str:
    """A site key as the provider knows it: pages leave stray whitespace
    (newlines in attributes, spaces inside render-call strings)."""
    return raw.strip()


@dataclass(frozen=True)
class RecaptchaEvidence:
    """What the page shows of one reCAPTCHA widget."""

    sitekey: str
    #: Lower-case tag of the widget element; "" when the key came from a
    #: ``render()``/``execute()`` call with no element we can see.
    tag: str = "div"
    #: ``type`` attribute when ``tag`` is ``input``.
    input_type: str | None = None
    #: ``data-size`` or the render option ``size``.
    size: str | None = None
    #: ``data-action`` or the render option ``action``.
    action: str | None = None
    #: ``data-badge`` or the render option ``badge`` (where the page placed one).
    badge: str | None = None
    #: Keys named by ``api.js``/``enterprise.js`` ``?render=KEY`` (not ``explicit``/``onload``).
    render_keys: frozenset[str] = frozenset()
    #: Keys passed to ``grecaptcha[.enterprise].execute(KEY, ...)``.
    execute_keys: frozenset[str] = frozenset()


@dataclass(frozen=True)
class RecaptchaVerdict:
    """The kind to solve a widget as, and what to try if that is refused."""

    kind: str
    invisible: bool
    #: False when the page cannot tell v2 from v3.
    certain: bool
    #: The other kind to try if the site rejects the token (None when certain);
    #: ``invisible`` holds for it too.
    alternative: str | None
    #: Which rule decided, for logs and debugging.
    reason: str = ""


def recaptcha_verdict(evidence: RecaptchaEvidence) -> RecaptchaVerdict:
    """Apply the module's rules to one widget's evidence."""
    key = normalise_sitekey(evidence.sitekey)
    tag = evidence.tag.lower()
    input_type = (evidence.input_type or "text").strip().lower()
    field = tag == "input" and input_type not in _SUBMIT_INPUTS
    bound = tag == "button" or (tag == "input" and input_type in _SUBMIT_INPUTS)
    if key in evidence.render_keys or key in evidence.execute_keys:
        return RecaptchaVerdict(
            V3, field or bound, True, None, reason="v3 key (render= or execute)"
        )
    if (evidence.size or "").strip().lower() == "invisible":
        return RecaptchaVerdict(V2, True, True, None, reason="data-size invisible")
    if (evidence.badge or "").strip():
        return RecaptchaVerdict(V2, True, True, None, reason="badge (invisible widgets only)")
    if field:
        return RecaptchaVerdict(V3, True, False, V2, reason="token field, not a widget")
    if bound:
        if evidence.action:
            return RecaptchaVerdict(V3, True, False, V2, reason="button with data-action")
        return RecaptchaVerdict(V2, True, False, V3, reason="bound to a button")
    return RecaptchaVerdict(V2, False, True, None, reason="checkbox widget")

"""``request.meta["vastcaptcha"]``: what users may put there, checked.

* ``False``: leave this request alone.
* a dict with ``kind``: this page has that captcha (described by the other
  keys); solve it even if the HTML shows no widget (e.g. one added by script).
* a dict without ``kind``: detect as usual, with these options.

Everything stays plain data, so requests survive JOBDIR and scrapy-redis.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from scrapy_vastcaptcha.api.errors import InvalidTaskError
from scrapy_vastcaptcha.api.tasks import KINDS
from scrapy_vastcaptcha.captcha import Captcha

META_KEY = "vastcaptcha"

#: key -> (accepted types, meaning); the README's meta table lists the same keys.
SPEC_KEYS: dict[str, tuple[tuple[type, ...], str]] = {
    "kind": ((str,), "captcha kind: " + ", ".join(KINDS)),
    "sitekey": ((str,), "the widget's site key (token captchas)"),
    "action": ((str,), "reCAPTCHA v3/Enterprise action, Turnstile data-action"),
    "cdata": ((str,), "Turnstile data-cdata"),
    "page_data": ((str,), "Turnstile chlPageData / FunCaptcha blob"),
    "invisible": ((bool,), "invisible widget"),
    "enterprise": ((bool,), "reCAPTCHA / hCaptcha Enterprise"),
    "min_score": ((int, float), "reCAPTCHA v3 minimum score"),
    "rqdata": ((str,), "hCaptcha Enterprise rqdata"),
    "url": ((str,), "page URL to give the solver (default: the response URL)"),
    "form": ((str,), "CSS selector of the form to resubmit"),
    "field": ((str, list), "form field(s) for the token or the image text"),
    "image": ((str,), "CSS selector of the captcha <img> (image captchas)"),
    "extra": ((dict,), "additional task fields, sent as given"),
    "forward_proxy": ((bool,), "override VASTCAPTCHA_FORWARD_PROXY for this request"),
    "forward_user_agent": ((bool,), "override VASTCAPTCHA_FORWARD_USER_AGENT for this request"),
    "session_wide": (
        (bool,),
        "True: the captcha guards the whole session (solved once for every request waiting "
        "on it); False: solve it for this request only (overrides "
        "VASTCAPTCHA_SESSION_CHALLENGES)",
    ),
}


@dataclass(frozen=True)
class Spec:
    """A checked ``meta["vastcaptcha"]`` dict."""

    kind: str | None = None
    form: str | None = None
    image: str | None = None
    fields: tuple[str, ...] = ()
    url: str | None = None
    forward_proxy: bool | None = None
    forward_user_agent: bool | None = None
    session_wide: bool | None = None
    captcha_options: Mapping[str, Any] = field(default_factory=dict)

    def captcha(self, page_url: str) -> Captcha:
        """The captcha an explicit spec describes, on ``page_url``."""
        assert self.kind is not None
        return Captcha(
            kind=self.kind,
            page_url=self.url or page_url,
            fields=self.fields,
            **self.captcha_options,
        )


def parse_spec(value: Any) -> Spec | None:
    """``None`` for ``False``/absent; a :class:`Spec` for a dict; a clear
    :class:`InvalidTaskError` for anything else."""
    if value is None or value is True:
        return Spec()
    if value is False:
        return None
    if not isinstance(value, Mapping):
        raise InvalidTaskError(
            f'meta["vastcaptcha"] must be False or a dict, got {type(value).__name__}'
        )
    for key, item in value.items():
        if key not in SPEC_KEYS:
            raise InvalidTaskError(
                f'meta["vastcaptcha"] has unknown key {key!r}; known: {", ".join(SPEC_KEYS)}'
            )
        types, _ = SPEC_KEYS[key]
        if not isinstance(item, types) or (bool not in types and isinstance(item, bool)):
            raise InvalidTaskError(
                f'meta["vastcaptcha"][{key!r}] must be {" or ".join(t.__name__ for t in types)}'
            )
    kind = value.get("kind")
    if kind is not None and kind not in KINDS:
        raise InvalidTaskError(f'meta["vastcaptcha"]["kind"] {kind!r} is not one of {KINDS}')
    if kind == "image" and not value.get("image"):
        raise InvalidTaskError(
            'an image captcha needs meta["vastcaptcha"]["image"], a CSS selector'
        )
    if kind not in (None, "image") and not value.get("sitekey"):
        raise InvalidTaskError(f'a {kind} captcha needs meta["vastcaptcha"]["sitekey"]')
    raw_fields = value.get("field", ())
    fields = (raw_fields,) if isinstance(raw_fields, str) else tuple(raw_fields)
    if kind == "image" and not fields:
        raise InvalidTaskError('an image captcha needs meta["vastcaptcha"]["field"]')
    options = {
        k: value[k]
        for k in (
            "sitekey",
            "action",
            "cdata",
            "page_data",
            "invisible",
            "enterprise",
            "min_score",
            "rqdata",
            "extra",
        )
        if k in value
    }
    return Spec(
        kind=kind,
        form=value.get("form"),
        image=value.get("image"),
        fields=fields,
        url=value.get("url"),
        forward_proxy=value.get("forward_proxy"),
        forward_user_agent=value.get("forward_user_agent"),
        session_wide=value.get("session_wide"),
        captcha_options=options,
    )

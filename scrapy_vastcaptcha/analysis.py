"""One pure question about a response: what must be solved here, and which
form takes the token?

:func:`analyse` answers it as data (a :class:`PagePlan`): no stats, no
signals, no I/O. The middleware makes this one call and acts on the plan.
"""

from __future__ import annotations

import enum
from collections.abc import Collection
from dataclasses import dataclass, replace

from scrapy.http import HtmlResponse, Response

from scrapy_vastcaptcha.api.errors import VastCaptchaError, error_code
from scrapy_vastcaptcha.captcha import Captcha
from scrapy_vastcaptcha.detect import Detection, detect, form_index, might_have_captcha
from scrapy_vastcaptcha.meta import Spec
from scrapy_vastcaptcha.resubmit import FormPlan, plan_form
from scrapy_vastcaptcha.state import SolveState

#: Real forms hold one or two widgets; a page with dozens is broken or hostile,
#: and solving them all would spend money for nothing.
MAX_CAPTCHAS_PER_PAGE = 10


class Verdict(enum.Enum):
    CLEAR = "clear"  # nothing to solve: the response goes to the callback
    SOLVE = "solve"  # solve ``captchas`` and resubmit ``form``
    NO_FORM = "no_form"  # widgets in no form: passed to the callback unsolved
    REFUSED = "refused"  # cannot be handled: ``code`` and ``message`` go to the errback


@dataclass(frozen=True)
class PagePlan:
    verdict: Verdict
    captchas: tuple[Captcha, ...] = ()
    form: FormPlan | None = None
    image_url: str | None = None
    code: str = ""
    message: str = ""


@dataclass(frozen=True)
class AnalysisConfig:
    """The settings page analysis depends on."""

    detect: Collection[str]
    v3_min_score: float | None


def analyse(
    response: Response, spec: Spec, state: SolveState | None, config: AnalysisConfig
) -> PagePlan:
    """What to do with ``response`` for a request with ``spec`` and ``state``."""
    if spec.kind is not None and not isinstance(response, HtmlResponse):
        return _refused("NOT_HTML", f"{response.url} is not an HTML page: no form to fill")
    if not isinstance(response, HtmlResponse):
        return PagePlan(Verdict.CLEAR)
    try:
        found = _find(response, spec, config, first=state is None or not state.answered)
        if not found:
            return PagePlan(Verdict.CLEAR)
        if spec.kind is None and spec.form is None:
            in_forms = [d for d in found if d.form is not None]
            if not in_forms:
                return PagePlan(
                    Verdict.NO_FORM,
                    tuple(d.captcha for d in found),
                    message=f"{response.url} shows a {found[0].captcha.kind} widget in no form",
                )
            # The first form holding a widget is the one to resubmit.
            found = [d for d in in_forms if d.form == in_forms[0].form]
        if len(found) > MAX_CAPTCHAS_PER_PAGE:
            return _refused(
                "TOO_MANY_CAPTCHAS",
                f"{response.url} shows {len(found)} captcha widgets; solving more than "
                f"{MAX_CAPTCHAS_PER_PAGE} for one page is refused (describe the right one in "
                'meta["vastcaptcha"])',
            )
        rejected = state.rejected if state else ()
        captchas = tuple(_prepared(d.captcha, config, rejected) for d in found)
        form = plan_form(response, captchas, found[0].form, spec.form)
        image_url = None
        if spec.kind == "image":
            assert spec.image is not None
            src = response.css(spec.image).attrib.get("src")
            if not src:
                return _refused(
                    "NO_IMAGE", f"no <img src> matches {spec.image!r} on {response.url}"
                )
            image_url = response.urljoin(src)
        return PagePlan(Verdict.SOLVE, captchas, form, image_url)
    except VastCaptchaError as exc:
        return _refused(error_code(exc), str(exc))


def _refused(code: str, message: str) -> PagePlan:
    return PagePlan(Verdict.REFUSED, code=code, message=message)


def _find(
    response: HtmlResponse, spec: Spec, config: AnalysisConfig, first: bool
) -> list[Detection]:
    if spec.kind is not None:
        # An explicit captcha is assumed on the first response (it may be
        # added by script); after a resubmission it counts only if still shown.
        present = first or (
            bool(response.css(spec.image))
            if spec.image
            else spec.captcha_options.get("sitekey", "") in response.text
        )
        if not present:
            return []
        form = None if spec.form else _form_of(response, spec)
        return [Detection(spec.captcha(response.url), form)]
    if not might_have_captcha(response.body):
        return []
    found = detect(response.selector, response.url, config.detect)
    if spec.fields:
        found = [Detection(replace(d.captcha, fields=spec.fields), d.form) for d in found]
    return found


def _prepared(
    captcha: Captcha, config: AnalysisConfig, rejected: tuple[tuple[str, str], ...]
) -> Captcha:
    """``captcha`` with the crawl's defaults, and with its other possible kind
    when the site rejected a token of the detected one."""
    if (
        captcha.alternative
        and (captcha.sitekey, captcha.kind) in rejected
        and (captcha.sitekey, captcha.alternative) not in rejected
    ):
        captcha = replace(captcha, kind=captcha.alternative, alternative=captcha.kind)
    if captcha.kind == "recaptcha-v3" and captcha.min_score is None:
        # Without one the solver may return any score, and sites commonly
        # refuse below 0.5.
        captcha = replace(captcha, min_score=config.v3_min_score)
    return captcha


def _form_of(response: HtmlResponse, spec: Spec) -> int | None:
    """For an explicit captcha without a form selector: the form holding the
    image or a field of that captcha, else the page's only form."""
    anchors = [*(response.css(spec.image) if spec.image else [])]
    for name in spec.fields:
        anchors += response.xpath("//form//*[@name=$n]", n=name)
    for anchor in anchors[:1]:
        return form_index(response.selector, anchor)
    return 0 if len(response.xpath("//form")) == 1 else None

"""Pure translation between the browser and the solver, shared by both APIs.

Turns the raw records of ``js/detect.js`` into :class:`FoundCaptcha` values,
plans each captcha's task, and assembles :class:`CaptchaResult` values from
the solve outcome and the reports of ``js/inject.js`` and ``js/fire.js``. No
I/O and no Playwright calls here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any, TypeVar

from scrapy_vastcaptcha.api.client import SolveResult
from scrapy_vastcaptcha.api.errors import InjectionError, WidgetNotReadyError
from scrapy_vastcaptcha.api.tasks import FunCaptchaTask, Task
from scrapy_vastcaptcha.captcha import TOKEN_LIFETIMES, Captcha, build_task
from scrapy_vastcaptcha.evidence import (
    RecaptchaEvidence,
    normalise_sitekey,
    recaptcha_verdict,
)
from scrapy_vastcaptcha.playwright.results import (
    CallbackInfo,
    CaptchaResult,
    FoundCaptcha,
    FrameInfo,
)

F = TypeVar("F")


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def recaptcha_evidence(
    record: Mapping[str, Any], page: Mapping[str, Any] | None = None
) -> RecaptchaEvidence:
    """The :class:`RecaptchaEvidence` of one reCAPTCHA record of ``detect.js``;
    ``page`` is the frame's ``recaptcha`` report (render and execute keys).

    Only what the page itself said counts as the widget's size for an element
    that is a button or an input: the library renders those invisibly for v2
    and v3 alike, so its badge and size option tell nothing there.
    """
    raw = record.get("evidence") or {}
    page = page or {}
    sitekey = normalise_sitekey(_text(record.get("sitekey")) or "")
    tag = _text(raw.get("tag")) or ""
    size = _text(raw.get("dataSize")) or _text(raw.get("renderSize"))
    if size is None and tag not in ("button", "input"):
        size = (
            _text(raw.get("clientSize"))
            or _text(raw.get("anchorSize"))
            or ("invisible" if raw.get("badge") else None)
        )
    render_keys = _keys(page.get("renderKeys"))
    if raw.get("isolated") and sitekey:
        # only api.js?render=KEY (or execute(KEY)) makes an isolated client
        render_keys |= {sitekey}
    return RecaptchaEvidence(
        sitekey=sitekey,
        tag=tag,
        input_type=_text(raw.get("inputType")),
        size=size,
        action=_action(raw),
        render_keys=render_keys,
        execute_keys=_keys(page.get("executeKeys")),
    )


def _keys(values: Any) -> frozenset[str]:
    return frozenset(normalise_sitekey(v) for v in values or () if isinstance(v, str) and v.strip())


def _action(raw: Mapping[str, Any]) -> str | None:
    """The widget's action: the page's own (attribute, render option), then
    what the library and the anchor frame carry, then an execute call's."""
    for source in ("dataAction", "renderAction", "clientAction", "anchorAction", "executeAction"):
        value = _text(raw.get(source))
        if value is not None:
            return value
    return None


def captcha_from_record(
    record: Mapping[str, Any],
    page_url: str,
    *,
    min_score: float | None = None,
    action: str | None = None,
    page: Mapping[str, Any] | None = None,
) -> Captcha:
    """The :class:`Captcha` of one raw record found in the frame at ``page_url``.

    ``action`` is used for a reCAPTCHA v3 widget whose page does not reveal
    one; ``min_score`` applies to reCAPTCHA v3 only; ``page`` is the frame's
    ``recaptcha`` report.
    """
    provider = str(record.get("provider"))
    callback = record.get("callback")
    named = (
        _text(callback.get("name"))
        if isinstance(callback, Mapping) and callback.get("source") == "data-callback"
        else None
    )
    alternative = None
    if provider == "recaptcha":
        evidence = recaptcha_evidence(record, page)
        verdict = recaptcha_verdict(evidence)
        kind, invisible, sitekey = verdict.kind, verdict.invisible, evidence.sitekey
        own_action, alternative = evidence.action, verdict.alternative
    else:
        kind, invisible = provider, bool(record.get("invisible"))
        sitekey = normalise_sitekey(_text(record.get("sitekey")) or "")
        own_action = _text(record.get("action"))
    v3 = kind == "recaptcha-v3"
    return Captcha(
        kind=kind,
        sitekey=sitekey,
        page_url=page_url,
        action=own_action or (action if v3 else None),
        cdata=_text(record.get("cdata")),
        page_data=_text(record.get("pageData")),
        invisible=invisible and not v3,
        enterprise=bool(record.get("enterprise")),
        min_score=min_score if v3 else None,
        rqdata=_text(record.get("rqdata")),
        callback=named,
        fields=tuple(str(name) for name in record.get("fields") or () if name),
        alternative=alternative,
    )


def is_ready(record: Mapping[str, Any], captcha: Captcha) -> bool:
    """Whether a record's widget can take a token: rendered, or (v3) able to
    hand one out through ``grecaptcha.execute``."""
    if record.get("provider") != "recaptcha":
        return bool(record.get("ready"))
    if record.get("rendered"):
        return True
    return captcha.kind == "recaptcha-v3" and bool(record.get("executeReady"))


def found_in_frame(
    report: Mapping[str, Any],
    frame: F,
    info: FrameInfo,
    *,
    min_score: float | None = None,
    action: str | None = None,
) -> list[FoundCaptcha[F]]:
    """Every widget of one frame's ``detect.js`` report."""
    found = []
    page = report.get("recaptcha")
    document = _text(report.get("document"))
    for record in report.get("widgets") or ():
        callback = record.get("callback")
        captcha = captcha_from_record(
            record, info.url, min_score=min_score, action=action, page=page
        )
        found.append(
            FoundCaptcha(
                captcha=captcha,
                frame=frame,
                frame_info=info,
                ref=str(record["ref"]),
                ready=is_ready(record, captcha),
                widget_id=_text(record.get("widgetId")),
                callback=(
                    CallbackInfo(str(callback["name"]), str(callback["source"]))
                    if isinstance(callback, Mapping)
                    else None
                ),
                host=_text(record.get("host")),
                fields=tuple(str(name) for name in record.get("fields") or ()),
                document=document,
            )
        )
    return found


def settled(found: Sequence[FoundCaptcha[Any]]) -> bool:
    """Whether waiting can stop: something was found and every widget is rendered."""
    return bool(found) and all(item.ready for item in found)


def plan_task(
    found: FoundCaptcha[Any],
    *,
    image: str | None = None,
    user_agent: str | None = None,
    proxy: str | None = None,
    cookies: Mapping[str, str] | None = None,
) -> Task:
    """The task for one captcha. Raises :class:`~scrapy_vastcaptcha.api.errors.InvalidTaskError`
    when the page's data is unusable (a malformed site key, say), and
    :class:`WidgetNotReadyError` for a widget that never rendered.

    ``cookies`` only go where the task type takes them (FunCaptcha's
    ``custom_cookies``); no other VastCap task has a cookie field.
    """
    if not found.ready:
        raise WidgetNotReadyError(
            f"{found.kind} widget in {found.frame_info.url} was never rendered; not solved"
        )
    task = build_task(found.captcha, image=image, user_agent=user_agent, proxy=proxy)
    if cookies and isinstance(task, FunCaptchaTask):
        task = replace(task, cookies=dict(cookies))
    return task


def cookie_values(cookies: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """``{name: value}`` of Playwright cookie records."""
    return {str(c["name"]): str(c["value"]) for c in cookies if "name" in c and "value" in c}


def expires_at(
    kind: str, solved_at: float, lifetimes: Mapping[str, float] | None = None
) -> float | None:
    """When a token of ``kind`` solved at ``solved_at`` stops being accepted
    (``lifetimes`` overrides :data:`TOKEN_LIFETIMES` per kind)."""
    lifetime = {**TOKEN_LIFETIMES, **(lifetimes or {})}.get(kind)
    return None if lifetime is None else solved_at + lifetime


def failed(found: FoundCaptcha[Any], error: Exception) -> CaptchaResult:
    """The result of a captcha that was not solved or not injected."""
    return CaptchaResult(
        kind=found.kind,
        sitekey=found.captcha.sitekey,
        frame=found.frame_info,
        captcha=found.captcha,
        callback=found.callback,
        error=error,
    )


def injected(
    found: FoundCaptcha[Any],
    solved: SolveResult,
    report: Mapping[str, Any],
    fire: Mapping[str, Any] | None,
    lifetimes: Mapping[str, float] | None = None,
) -> CaptchaResult:
    """The result of a solved captcha from the reports of ``inject.js`` and
    ``fire.js`` (``fire`` is ``None`` when no callback was tried)."""
    error: Exception | None = None
    problem = report.get("error")
    written = tuple(str(name) for name in report.get("written") or ())
    read_back = bool(report.get("readBack")) and not problem
    if problem:
        error = InjectionError(f"{found.kind} in {found.frame_info.url}: {problem}")
    elif written and not read_back:
        error = InjectionError(
            f"{found.kind} in {found.frame_info.url}: a field did not keep the token"
        )
    return CaptchaResult(
        kind=found.kind,
        sitekey=found.captcha.sitekey,
        frame=found.frame_info,
        captcha=found.captcha,
        token=solved.token,
        fields=written,
        read_back=read_back,
        execute_overridden=bool(report.get("executeOverridden")),
        callback=found.callback,
        callback_fired=bool(fire and fire.get("fired")),
        callback_error=_text(fire.get("error")) if fire else None,
        task_id=solved.task_id,
        solved_at=solved.solved_at,
        expires_at=expires_at(found.kind, solved.solved_at, lifetimes),
        user_agent=solved.solution.user_agent,
        error=error,
    )

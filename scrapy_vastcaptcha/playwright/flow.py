"""What the helper does, once for both APIs: wait, detect, solve, inject, fire.

The flows are generators of :mod:`.steps`; :func:`.steps.run_async` and
:func:`.steps.run_sync` execute them. Pages are typed ``Any`` here because the
same code drives async and sync Playwright objects.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

try:
    from playwright.async_api import Error as PlaywrightError
except ModuleNotFoundError as exc:  # the only runtime import of Playwright in the helper
    if exc.name is None or exc.name.partition(".")[0] != "playwright":
        raise
    # an optional dependency: say how to get it, not just that it is missing
    raise ImportError(
        "scrapy_vastcaptcha.playwright needs Playwright: "
        'pip install "scrapy-vastcaptcha[playwright]"',
        name="playwright",
    ) from exc

from scrapy_vastcaptcha.api.errors import ImageCaptureError, InvalidTaskError, VastCaptchaError
from scrapy_vastcaptcha.api.tasks import KINDS
from scrapy_vastcaptcha.playwright import translate
from scrapy_vastcaptcha.playwright.results import CaptchaResult, FoundCaptcha, FrameInfo
from scrapy_vastcaptcha.playwright.scripts import script
from scrapy_vastcaptcha.playwright.steps import Call, Flow, Solve

# Longest single wait for a change before looking again anyway: a frame that
# navigates without the init hook installed reports nothing.
_MAX_WAIT_SLICE = 2.0
# A navigation started by a callback may tear down the evaluate that called it.
_NAVIGATED = "Execution context was destroyed"


@dataclass(frozen=True)
class Options:
    """Validated options of one helper call; ``deadline`` is on ``time.monotonic()``."""

    deadline: float
    wait: float
    kinds: frozenset[str] | None = None
    raise_on_error: bool = True
    forward_user_agent: bool = True
    proxy: str | None = None
    cookies: bool = False
    image_selector: str | None = None
    image_field: str | None = None
    min_score: float | None = None
    action: str | None = None
    #: per-kind overrides of :data:`~scrapy_vastcaptcha.captcha.TOKEN_LIFETIMES`
    lifetimes: Mapping[str, float] | None = None

    @classmethod
    def build(
        cls, *, timeout: float, wait: float, kinds: Collection[str] | None, **options: Any
    ) -> Options:
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout!r}")
        if wait < 0:
            raise ValueError(f"wait must not be negative, got {wait!r}")
        if kinds is not None:
            unknown = set(kinds) - set(KINDS)
            if unknown:
                raise ValueError(
                    f"unknown captcha kinds {sorted(unknown)}; known: {', '.join(KINDS)}"
                )
        if kinds is not None and "image" in kinds and not options.get("image_selector"):
            raise ValueError("image captchas need image_selector")
        return cls(
            deadline=time.monotonic() + timeout,
            wait=min(wait, timeout),
            kinds=frozenset(kinds) if kinds is not None else None,
            **options,
        )

    def left(self) -> float:
        """Seconds until the overall deadline."""
        return self.deadline - time.monotonic()


@dataclass(frozen=True)
class PageScan:
    """Every widget of a page, and the browser's user agent."""

    found: list[FoundCaptcha[Any]]
    user_agent: str | None


def find(page: Any, options: Options) -> Flow[PageScan]:
    """Detect widgets in every frame; wait (event-driven) up to ``options.wait``
    for one to appear and for declared ones to be rendered."""
    wait_until = min(time.monotonic() + options.wait, options.deadline)
    while True:
        since = yield from _page_state(page)
        detection = yield from scan(page, options)
        remaining = wait_until - time.monotonic()
        if translate.settled(detection.found) or remaining <= 0:
            return detection
        yield from _wait_for_change(page, since, min(remaining, _MAX_WAIT_SLICE))


def _page_state(page: Any) -> Flow[Any]:
    try:
        return (yield Call(page.main_frame, "evaluate", (script("watch"),)))
    except PlaywrightError:
        return None  # the top frame is navigating


def _wait_for_change(page: Any, since: Any, seconds: float) -> Flow[None]:
    timeout = max(seconds, 0.0) * 1000
    try:
        if since is None:
            yield Call(page, "wait_for_load_state", ("domcontentloaded",), {"timeout": timeout})
        else:
            yield Call(
                page.main_frame,
                "wait_for_function",
                (script("watch"),),
                {"arg": since, "timeout": timeout, "polling": "raf"},
            )
    except PlaywrightError:
        pass  # timed out, or navigated: look again either way


def scan(page: Any, options: Options) -> Flow[PageScan]:
    """Detect widgets in every frame once, without waiting."""
    found: list[FoundCaptcha[Any]] = []
    user_agent = None
    arg = {"imageSelector": options.image_selector, "imageField": options.image_field}
    for frame in page.frames:
        if frame.is_detached():
            continue
        try:
            report = yield Call(frame, "evaluate", (script("detect"), arg))
        except PlaywrightError:
            continue  # navigating or detached meanwhile; the next round sees it
        if frame is page.main_frame:
            user_agent = report.get("userAgent") or None
        info = FrameInfo(url=frame.url, name=frame.name)
        for item in translate.found_in_frame(
            report, frame, info, min_score=options.min_score, action=options.action
        ):
            if options.kinds is None or item.kind in options.kinds:
                found.append(item)
    return PageScan(found, user_agent)


def solve(page: Any, options: Options) -> Flow[list[CaptchaResult]]:
    """Find, solve in parallel, inject every token, then fire the callbacks."""
    detection = yield from find(page, options)
    return (yield from solve_found(page, detection, options))


def solve_found(
    page: Any, detection: PageScan, options: Options, *, fire: bool = True
) -> Flow[list[CaptchaResult]]:
    """Solve the widgets of ``detection`` in parallel, inject every token, then
    fire the callbacks (unless ``fire`` is false); one result per widget, in order."""
    results: dict[int, CaptchaResult] = {}
    planned = []
    user_agent = detection.user_agent if options.forward_user_agent else None
    for index, item in enumerate(detection.found):
        try:
            image = (yield from _image(item, options)) if item.kind == "image" else None
            cookies = (
                (yield from _cookies(page, item))
                if options.cookies and item.kind == "funcaptcha"
                else None
            )
            task = translate.plan_task(
                item, image=image, user_agent=user_agent, proxy=options.proxy, cookies=cookies
            )
        except VastCaptchaError as exc:
            results[index] = translate.failed(item, exc)
            continue
        planned.append((index, item, task))

    outcomes = (
        (yield Solve(tuple(task for _, _, task in planned), options.left())) if planned else []
    )
    solved = []
    for (index, item, _), outcome in zip(planned, outcomes, strict=True):
        if isinstance(outcome, Exception):
            results[index] = translate.failed(item, outcome)
        else:
            solved.append((index, item, outcome))

    # every token goes in before any callback runs: a callback may submit the
    # form, which must then carry all of them
    reports = {}
    for index, item, outcome in solved:
        reports[index] = yield from _inject(item, outcome.token)
    for index, item, outcome in solved:
        fired = None
        if fire and item.callback is not None and not reports[index].get("error"):
            fired = yield from _fire(item)
        results[index] = translate.injected(item, outcome, reports[index], fired, options.lifetimes)

    ordered = [results[index] for index in sorted(results)]
    if options.raise_on_error:
        for result in ordered:
            if result.error is not None:
                raise result.error
    return ordered


def _image(item: FoundCaptcha[Any], options: Options) -> Flow[str]:
    try:
        data = yield Call(item.frame, "evaluate", (script("image"), {"ref": item.ref}))
        if isinstance(data, str) and data.startswith("data:"):
            return data
        locator = item.frame.locator(options.image_selector).first
        shot = yield Call(locator, "screenshot", (), {"timeout": max(options.left(), 0.1) * 1000})
    except PlaywrightError as exc:
        raise ImageCaptureError(f"could not read the captcha image: {exc.message}") from exc
    return base64.b64encode(shot).decode("ascii")


def _cookies(page: Any, item: FoundCaptcha[Any]) -> Flow[dict[str, str]]:
    try:
        cookies = yield Call(page.context, "cookies", ([item.frame_info.url],))
    except PlaywrightError as exc:
        raise InvalidTaskError(f"could not read the browser's cookies: {exc.message}") from exc
    return translate.cookie_values(cookies)


def _inject(item: FoundCaptcha[Any], token: str) -> Flow[dict[str, Any]]:
    try:
        report = yield Call(
            item.frame, "evaluate", (script("inject"), {"ref": item.ref, "token": token})
        )
    except PlaywrightError as exc:
        return {"error": exc.message}
    return dict(report)


def present(item: FoundCaptcha[Any]) -> Flow[bool]:
    """Whether the widget is still in its frame's document (not navigated away, not removed)."""
    if item.frame.is_detached():
        return False
    try:
        return bool(
            (
                yield Call(
                    item.frame,
                    "evaluate",
                    (script("present"), {"ref": item.ref, "document": item.document}),
                )
            )
        )
    except PlaywrightError:
        return False  # navigating or detached


def _fire(item: FoundCaptcha[Any]) -> Flow[dict[str, Any]]:
    try:
        report = yield Call(item.frame, "evaluate", (script("fire"), {"ref": item.ref}))
    except PlaywrightError as exc:
        if _NAVIGATED in exc.message:
            return {"fired": True, "error": None}
        return {"fired": False, "error": exc.message}
    return dict(report)

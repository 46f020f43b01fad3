"""The Playwright helper on widget scripts that are not the demo kit's, in real Chromium.

The stand-ins of ``tests/standins`` keep the providers' public globals and DOM
contract but hold their widgets differently inside (``___grecaptcha_cfg``
client trees of several shapes, closed shadow roots, ids on other elements,
``getResponse`` answering from the widget's own state). Each page behaves as
a site does: its form posts the token, its callback receives it, its own
checks call the library. Tokens are checked at the emulator's ``/siteverify``
as the site's back end would. The evidence rules are unit-tested at the end.
"""

from __future__ import annotations

import asyncio
import json
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs

import pytest
import pytest_twisted
from playwright.async_api import Browser, Page, Route

from scrapy_vastcaptcha.evidence import RecaptchaEvidence
from scrapy_vastcaptcha.playwright import (
    CaptchaResult,
    find_captchas,
    install_hooks,
    solve_captchas,
)
from scrapy_vastcaptcha.playwright.translate import (
    captcha_from_record,
    is_ready,
    recaptcha_evidence,
)
from scrapy_vastcaptcha.testing import EmulatorHandle
from tests.browsing import aio
from tests.standins import route_variants
from tests.standins.pages import (
    CHECKBOX_KEY,
    PAGE_URL,
    RECAPTCHA_SHAPES,
    SUBMIT_URL,
    V3_KEY,
    Case,
    all_cases,
    hcaptcha_explicit,
    recaptcha_button,
    turnstile_explicit,
    two_buttons,
    v2_pair_and_v3,
)
from tests.user_scripts import run_script

pytestmark = pytest.mark.browser

T = TypeVar("T")
ROOT = Path(__file__).resolve().parent.parent
HTML = "text/html; charset=utf-8"
TASK_TYPES = {
    "recaptcha-v2": "RecaptchaV2Task",
    "recaptcha-v3": "RecaptchaV3Task",
    "hcaptcha": "HCaptchaTask",
    "turnstile": "TurnstileTask",
}
CASES = all_cases()


def siteverify(emulator: EmulatorHandle, token: str, case: Case) -> dict[str, Any]:
    """What the site's back end asks the emulator about a posted token."""
    body = {"response": token, "sitekey": case.sitekey, "kind": case.verify_kind, "url": PAGE_URL}
    request = urllib.request.Request(
        emulator.url + "/siteverify",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with direct.open(request, timeout=10) as response:
        answer: dict[str, Any] = json.load(response)
    return answer


@dataclass
class Visit:
    results: list[CaptchaResult]
    posted: dict[str, list[str]]
    callbacks: list[str]


async def open_page(browser: Browser, case: Case, *, hooks: bool = True) -> tuple[Page, Any]:
    """The case's page in a fresh context; returns it and a future of the posted form."""
    context = await browser.new_context()
    await route_variants(context)
    if hooks:
        await install_hooks(context)
    page = await context.new_page()
    posted: asyncio.Future[dict[str, list[str]]] = asyncio.get_running_loop().create_future()

    async def on_submit(route: Route) -> None:
        if not posted.done():
            posted.set_result(parse_qs(route.request.post_data or ""))
        await route.fulfill(body="<p>thanks</p>", content_type=HTML)

    async def serve(route: Route) -> None:
        await route.fulfill(body=case.html, content_type=HTML)

    await page.route(PAGE_URL, serve)
    await page.route(SUBMIT_URL, on_submit)
    return page, posted


async def visit(browser: Browser, emulator: EmulatorHandle, case: Case) -> Visit:
    page, posted = await open_page(browser, case)
    callbacks: list[str] = []
    try:

        def record(token: str) -> None:
            callbacks.append(token)

        await page.expose_function("pageCallback", record)
        await page.goto(PAGE_URL)
        if case.ready:
            await page.wait_for_function(case.ready, timeout=10_000)
        results = await solve_captchas(
            page, api_key=emulator.api_key, api_url=emulator.api_url, poll_interval=0.2
        )
        if not case.submits_itself:
            await page.click("button[type=submit]")
        form = await asyncio.wait_for(posted, 10)
        return Visit(results, form, callbacks)
    finally:
        await page.context.close()


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
@pytest_twisted.ensureDeferred
async def test_variant_is_solved_and_the_site_accepts_the_token(
    browser: Browser, vastcaptcha_emulator: EmulatorHandle, case: Case
) -> None:
    seen = await aio(visit(browser, vastcaptcha_emulator, case))

    (result,) = seen.results  # one widget, one result
    assert result.ok, result.error
    assert (result.kind, result.sitekey) == (case.kind, case.sitekey)
    assert result.captcha.invisible == case.invisible
    assert seen.posted[case.field] == [result.token]
    if case.callback:
        assert result.callback_fired
        assert result.token in seen.callbacks
    (task,) = vastcaptcha_emulator.tasks()
    assert task["type"] == TASK_TYPES[case.kind]
    # the API spells the flag differently per type
    invisible_flag = {"recaptcha-v2": "isInvisible", "hcaptcha": "invisible"}.get(case.kind)
    if invisible_flag:
        assert task["fields"].get(invisible_flag, False) == case.invisible

    answer = siteverify(vastcaptcha_emulator, str(result.token), case)
    assert answer["success"], answer
    assert answer["action"] == case.action
    if case.kind == "recaptcha-v3":
        assert answer["score"] is not None


async def find_once(browser: Browser, case: Case, *, hooks: bool) -> list[Any]:
    page, _ = await open_page(browser, case, hooks=hooks)
    try:
        await page.goto(PAGE_URL)
        return await find_captchas(page)
    finally:
        await page.context.close()


@pytest_twisted.ensureDeferred
async def test_widgets_found_without_the_init_hook(browser: Browser) -> None:
    # no hook: an explicitly rendered hCaptcha is found by its iframe, a bound
    # button by the client of its key; only function callbacks stay unknown
    (hcaptcha,) = await aio(find_once(browser, hcaptcha_explicit(), hooks=False))
    assert hcaptcha.ready
    assert hcaptcha.captcha.sitekey == hcaptcha_explicit().sitekey
    assert hcaptcha.fields == ("g-recaptcha-response", "h-captcha-response")
    assert hcaptcha.callback is None
    (button,) = await aio(find_once(browser, recaptcha_button("inner"), hooks=False))
    assert (button.ready, button.kind, button.captcha.invisible) == (True, "recaptcha-v2", True)
    assert button.callback is not None
    assert button.callback.name == "onSubmit"


async def find_on(browser: Browser, html: str, *, hooks: bool) -> list[Any]:
    case = Case("inline", html, "", "", "", "")
    return await find_once(browser, case, hooks=hooks)


@pytest.mark.parametrize("shape", RECAPTCHA_SHAPES)
@pytest_twisted.ensureDeferred
async def test_one_record_per_widget_when_a_key_has_several(browser: Browser, shape: str) -> None:
    buttons = await aio(find_on(browser, two_buttons(shape), hooks=False))
    assert [(f.kind, f.captcha.invisible, f.ready) for f in buttons] == [
        ("recaptcha-v2", True, True)
    ] * 2
    assert [f.callback.name for f in buttons if f.callback] == ["send1", "send2"]
    assert len({f.widget_id for f in buttons}) == 2
    for hooks in (True, False):
        found = await aio(find_on(browser, v2_pair_and_v3(shape), hooks=hooks))
        assert sorted((f.kind, f.captcha.sitekey) for f in found) == [
            ("recaptcha-v2", CHECKBOX_KEY),
            ("recaptcha-v2", CHECKBOX_KEY),
            ("recaptcha-v3", V3_KEY),
        ]
        assert all(f.ready for f in found)
        assert len({f.widget_id for f in found}) == 3


SYNC_SCRIPT = """
    import functools, json, sys
    from urllib.parse import parse_qs
    from playwright.sync_api import sync_playwright
    from scrapy_vastcaptcha.testing.browser import chromium_launch_options
    from scrapy_vastcaptcha.playwright.sync_api import install_hooks, solve_captchas
    from tests.standins import route_variants_sync
    from tests.standins.pages import PAGE_URL, SUBMIT_URL, recaptcha_button, turnstile_explicit

    api_url, api_key = sys.argv[1:3]
    out = []

    def serve(html, route):
        route.fulfill(body=html, content_type="text/html")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(**chromium_launch_options())
        for case in (recaptcha_button("deep"), turnstile_explicit()):
            context = browser.new_context()
            route_variants_sync(context)
            install_hooks(context)
            page = context.new_page()
            page.route(PAGE_URL, functools.partial(serve, case.html))
            page.route(SUBMIT_URL, lambda route: route.fulfill(body="thanks"))
            callbacks = []
            page.expose_function("pageCallback", lambda token: callbacks.append(token))
            page.goto(PAGE_URL)
            with page.expect_request(SUBMIT_URL) as posted:
                (result,) = solve_captchas(
                    page, api_key=api_key, api_url=api_url, poll_interval=0.2)
                if not case.submits_itself:
                    page.click("button[type=submit]")
            form = parse_qs(posted.value.post_data or "")
            out.append([case.name, result.kind, result.callback_fired, result.token,
                        form[case.field], callbacks])
            context.close()
        browser.close()
    print(json.dumps(out))
"""


def test_sync_api_on_variants(vastcaptcha_emulator: EmulatorHandle) -> None:
    out = run_script(
        SYNC_SCRIPT, vastcaptcha_emulator.api_url, vastcaptcha_emulator.api_key, cwd=ROOT
    )
    cases = {case.name: case for case in (recaptcha_button("deep"), turnstile_explicit())}
    assert [row[:3] for row in out] == [
        ["button-deep", "recaptcha-v2", True],
        ["turnstile-explicit", "turnstile", True],
    ]
    for name, _, _, token, posted, callbacks in out:
        assert posted == [token]
        assert token in callbacks
        assert siteverify(vastcaptcha_emulator, token, cases[name])["success"]


# -- the evidence a browser record gives the shared rules (no browser) --------


def evidence(tag: str, **raw: Any) -> RecaptchaEvidence:
    record = {"provider": "recaptcha", "sitekey": " K ", "evidence": {"tag": tag, **raw}}
    return recaptcha_evidence(record, {"renderKeys": [], "executeKeys": []})


def test_the_librarys_own_size_counts_only_where_the_page_could_not_say_it() -> None:
    # a div: the badge or the client's size option say invisible
    assert evidence("div", badge=True).size == "invisible"
    assert evidence("div", clientSize="invisible").size == "invisible"
    assert evidence("", anchorSize="invisible").size == "invisible"
    # a button or input is rendered invisibly for v2 and v3 alike: only the
    # page's own data-size or render option counts there
    assert evidence("button", badge=True, clientSize="invisible").size is None
    assert evidence("button", dataSize="invisible").size == "invisible"
    assert evidence("input", renderSize="invisible").size == "invisible"


def test_keys_are_normalised_and_an_isolated_client_names_a_v3_key() -> None:
    plain = evidence("div")
    assert plain.sitekey == "K"
    assert plain.render_keys == frozenset()
    assert evidence("", isolated=True).render_keys == {"K"}
    record = {"provider": "recaptcha", "sitekey": "K", "evidence": {"tag": "div"}}
    page = {"renderKeys": [" K\n"], "executeKeys": ["L "]}
    assert recaptcha_evidence(record, page).render_keys == {"K"}
    assert recaptcha_evidence(record, page).execute_keys == {"L"}


def test_the_pages_own_action_comes_first() -> None:
    assert evidence("button", anchorAction="a", dataAction="b").action == "b"
    assert evidence("div", clientAction="c", executeAction="e").action == "c"
    assert evidence("", executeAction="e").action == "e"


def test_a_record_becomes_a_captcha_by_the_verdict() -> None:
    page = {"renderKeys": ["V3"], "executeKeys": []}
    button = {
        "provider": "recaptcha",
        "sitekey": "B",
        "rendered": True,
        "callback": {"name": "onSubmit", "source": "data-callback"},
        "evidence": {"tag": "button", "badge": True},
    }
    captcha = captcha_from_record(button, PAGE_URL, page=page)
    assert (captcha.kind, captcha.invisible, captcha.alternative) == (
        "recaptcha-v2",
        True,
        "recaptcha-v3",
    )
    assert captcha.callback == "onSubmit"
    v3 = {"provider": "recaptcha", "sitekey": "V3", "rendered": False, "executeReady": True}
    captcha = captcha_from_record(v3, PAGE_URL, page=page, min_score=0.7, action="login")
    assert (captcha.kind, captcha.action, captcha.min_score) == ("recaptcha-v3", "login", 0.7)
    assert is_ready(v3, captcha)
    # a v2 widget is ready only once rendered, whatever execute can do
    declared = {**v3, "sitekey": "B", "evidence": {"tag": "div"}}
    assert not is_ready(declared, captcha_from_record(declared, PAGE_URL, page=page))

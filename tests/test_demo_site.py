"""The demo shop over plain HTTP, with tokens obtained from the emulator by hand."""

from __future__ import annotations

import base64
import dataclasses
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from email.message import Message
from html.parser import HTMLParser
from http.cookiejar import CookieJar
from typing import Any

import pytest
import pytest_twisted
import treq

from scrapy_vastcaptcha.demo import PAGES, SITEKEYS, products, start_demo_site
from scrapy_vastcaptcha.demo.captcha_image import captcha_png
from scrapy_vastcaptcha.emulator.tokens import image_answer
from scrapy_vastcaptcha.testing import DemoSiteHandle, EmulatorHandle

INTERSTITIAL = "/turnstile-interstitial/catalog"


# -- helpers -------------------------------------------------------------------


@dataclasses.dataclass
class Reply:
    status: int
    headers: Message
    text: str


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class Client:
    """A cookie-keeping HTTP client that reports redirects instead of following them."""

    def __init__(self) -> None:
        self.cookies = CookieJar()
        self._opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}),
            urllib.request.HTTPCookieProcessor(self.cookies),
            _NoRedirect(),
        )

    def open(self, request: urllib.request.Request) -> Reply:
        try:
            with self._opener.open(request, timeout=20) as response:
                return Reply(response.status, response.headers, response.read().decode())
        except urllib.error.HTTPError as exc:
            with exc:
                return Reply(exc.code, exc.headers, exc.read().decode())

    def get(self, url: str) -> Reply:
        return self.open(urllib.request.Request(url))

    def get_bytes(self, url: str) -> bytes:
        with self._opener.open(urllib.request.Request(url), timeout=20) as response:
            data: bytes = response.read()
            return data

    def post(self, url: str, fields: dict[str, str]) -> Reply:
        body = urllib.parse.urlencode(fields).encode()
        return self.open(urllib.request.Request(url, data=body, method="POST"))


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.action = ""
        self.fields: dict[str, str] = {}
        self.products: list[tuple[str, str, str]] = []
        self.errors: list[str] = []
        self._in_form = False
        self._capture: str | None = None
        self._sku = ""
        self._name = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {key: value or "" for key, value in attrs}
        if tag == "form" and not self.action:
            self.action, self._in_form = attributes.get("action", ""), True
        elif tag == "input" and self._in_form and "name" in attributes:
            self.fields[attributes["name"]] = attributes.get("value", "")
        elif tag == "div" and "product" in attributes.get("class", "").split():
            self._sku = attributes["data-sku"]
        elif tag == "h2" and attributes.get("class") == "name":
            self._capture = "name"
        elif tag == "span" and attributes.get("class") == "price":
            self._capture = "price"
        elif tag == "p" and attributes.get("class") == "error":
            self._capture = "error"

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._in_form = False
        self._capture = None

    def handle_data(self, data: str) -> None:
        if self._capture == "name":
            self._name = data
        elif self._capture == "price":
            self.products.append((self._sku, self._name, data))
        elif self._capture == "error":
            self.errors.append(data)


def parse(html: str) -> _FormParser:
    parser = _FormParser()
    parser.feed(html)
    return parser


def token(emulator: EmulatorHandle, task_type: str, url: str, sitekey: str, **extra: Any) -> str:
    task = {"type": task_type, "websiteURL": url, "websiteKey": sitekey, **extra}
    solution = emulator.solve(task)
    value: str = solution.get("gRecaptchaResponse") or solution["token"]
    return value


@dataclasses.dataclass(frozen=True)
class Widget:
    field: str
    task_type: str
    sitekey: str
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)


# kind -> (form path, widgets of its form)
FORMS: dict[str, tuple[str, tuple[Widget, ...]]] = {
    "recaptcha-v2": (
        "/recaptcha-v2",
        (Widget("g-recaptcha-response", "RecaptchaV2Task", SITEKEYS["recaptcha-v2"]),),
    ),
    "recaptcha-v2-invisible": (
        "/recaptcha-v2-invisible",
        (
            Widget(
                "g-recaptcha-response",
                "RecaptchaV2Task",
                SITEKEYS["recaptcha-v2-invisible"],
                {"isInvisible": True},
            ),
        ),
    ),
    "recaptcha-v2-explicit": (
        "/recaptcha-v2-explicit",
        (Widget("g-recaptcha-response", "RecaptchaV2Task", SITEKEYS["recaptcha-v2-explicit"]),),
    ),
    "recaptcha-v3": (
        "/recaptcha-v3",
        (
            Widget(
                "g-recaptcha-response",
                "RecaptchaV3Task",
                SITEKEYS["recaptcha-v3"],
                {"pageAction": "checkout", "minScore": 0.7},
            ),
        ),
    ),
    "recaptcha-enterprise": (
        "/recaptcha-enterprise",
        (
            Widget(
                "g-recaptcha-response",
                "RecaptchaV2Task",
                SITEKEYS["recaptcha-enterprise"],
                {"isEnterprise": True},
            ),
        ),
    ),
    "hcaptcha": (
        "/hcaptcha",
        (Widget("h-captcha-response", "HCaptchaTask", SITEKEYS["hcaptcha"]),),
    ),
    "turnstile": (
        "/turnstile",
        (
            Widget(
                "cf-turnstile-response",
                "TurnstileTask",
                SITEKEYS["turnstile"],
                {"action": "search", "cData": "sess-42"},
            ),
        ),
    ),
    "two-captchas": (
        "/two-captchas",
        (
            Widget("g-recaptcha-response", "RecaptchaV2Task", SITEKEYS["two-captchas-recaptcha"]),
            Widget("cf-turnstile-response", "TurnstileTask", SITEKEYS["two-captchas-turnstile"]),
        ),
    ),
    "iframe": (
        "/iframe/inner",
        (Widget("g-recaptcha-response", "RecaptchaV2Task", SITEKEYS["iframe"]),),
    ),
}


@pytest.fixture
def emulator(vastcaptcha_emulator: EmulatorHandle) -> EmulatorHandle:
    vastcaptcha_emulator.configure(solve_time=[0.0, 0.0])
    return vastcaptcha_emulator


@pytest.fixture
def site(vastcaptcha_demo_site: DemoSiteHandle) -> str:
    return vastcaptcha_demo_site.url


def open_form(client: Client, site: str, path: str, page: int) -> tuple[str, dict[str, str]]:
    """GET a form page; returns the absolute URL it posts to and its own fields."""
    reply = client.get(f"{site}{path}?page={page}")
    assert reply.status == 200, reply.text
    form = parse(reply.text)
    assert form.action == f"{path}?page={page}"
    assert form.fields["csrf"]
    return site + form.action, form.fields


def tokens_for(
    emulator: EmulatorHandle, url: str, widgets: tuple[Widget, ...], **override: Any
) -> dict[str, str]:
    return {
        widget.field: token(
            emulator,
            widget.task_type,
            url,
            override.get("sitekey", widget.sitekey),
            **{**widget.extra, **override.get("extra", {})},
        )
        for widget in widgets
    }


def expected_products(kind: str, page: int) -> list[tuple[str, str, str]]:
    return [(item.sku, item.name, item.price) for item in products(kind, page)]


def assert_rejected(reply: Reply, *codes: str) -> None:
    assert reply.status == 403, reply.text
    page = parse(reply.text)
    assert page.products == []
    assert page.errors, reply.text
    for code in codes:
        assert code in page.errors[0]
    assert page.fields["csrf"], "the form must come back for another try"


# -- token pages ----------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(FORMS))
def test_valid_token_passes_once(emulator: EmulatorHandle, site: str, kind: str) -> None:
    path, widgets = FORMS[kind]
    client = Client()
    action, fields = open_form(client, site, path, 3)
    fields.update(tokens_for(emulator, action, widgets))

    reply = client.post(action, fields)
    assert reply.status == 200, reply.text
    assert parse(reply.text).products == expected_products(kind, 3)

    assert_rejected(client.post(action, fields), "timeout-or-duplicate")


@pytest.mark.parametrize("kind", sorted(FORMS))
def test_wrong_sitekey_fails(emulator: EmulatorHandle, site: str, kind: str) -> None:
    path, widgets = FORMS[kind]
    client = Client()
    action, fields = open_form(client, site, path, 1)
    other_key = "0x4AAAAAAAnotTheRightKey00" if "turnstile" in kind else "6LcWrongKey"
    fields.update(tokens_for(emulator, action, widgets, sitekey=other_key))
    assert_rejected(client.post(action, fields), "sitekey-mismatch")


@pytest.mark.parametrize("kind", sorted(FORMS))
def test_missing_token_fails(emulator: EmulatorHandle, site: str, kind: str) -> None:
    path, _ = FORMS[kind]
    client = Client()
    action, fields = open_form(client, site, path, 1)
    assert_rejected(client.post(action, fields), "missing-input-response")


def test_token_for_another_page_fails(emulator: EmulatorHandle, site: str) -> None:
    path, widgets = FORMS["recaptcha-v2"]
    client = Client()
    action, fields = open_form(client, site, path, 1)
    fields.update(tokens_for(emulator, f"{site}/hcaptcha", widgets))
    assert_rejected(client.post(action, fields), "url-mismatch")


def test_expired_token_fails(emulator: EmulatorHandle, site: str) -> None:
    emulator.configure(token_ttl=0.0)
    path, widgets = FORMS["recaptcha-v2"]
    client = Client()
    action, fields = open_form(client, site, path, 1)
    fields.update(tokens_for(emulator, action, widgets))
    assert_rejected(client.post(action, fields), "timeout-or-duplicate")


def test_turnstile_checks_action_and_cdata(emulator: EmulatorHandle, site: str) -> None:
    path, widgets = FORMS["turnstile"]
    client = Client()
    action, fields = open_form(client, site, path, 1)
    fields.update(
        tokens_for(emulator, action, widgets, extra={"action": "login", "cData": "other"})
    )
    assert_rejected(client.post(action, fields), "action-mismatch", "cdata-mismatch")


def test_recaptcha_v3_checks_action(emulator: EmulatorHandle, site: str) -> None:
    path, widgets = FORMS["recaptcha-v3"]
    client = Client()
    action, fields = open_form(client, site, path, 1)
    fields.update(tokens_for(emulator, action, widgets, extra={"pageAction": "login"}))
    assert_rejected(client.post(action, fields), "action-mismatch")


def test_enterprise_needs_an_enterprise_token(emulator: EmulatorHandle, site: str) -> None:
    path, widgets = FORMS["recaptcha-enterprise"]
    client = Client()
    action, fields = open_form(client, site, path, 1)
    fields.update(tokens_for(emulator, action, widgets, extra={"isEnterprise": False}))
    assert_rejected(client.post(action, fields), "kind-mismatch")


@pytest.mark.parametrize("solved", ["g-recaptcha-response", "cf-turnstile-response"])
def test_two_captchas_need_both(emulator: EmulatorHandle, site: str, solved: str) -> None:
    path, widgets = FORMS["two-captchas"]
    client = Client()
    action, fields = open_form(client, site, path, 1)
    fields.update(tokens_for(emulator, action, tuple(w for w in widgets if w.field == solved)))
    missing = "turnstile" if solved == "g-recaptcha-response" else "recaptcha"
    assert_rejected(client.post(action, fields), f"{missing}:missing-input-response")


def test_csrf_is_checked(emulator: EmulatorHandle, site: str) -> None:
    path, widgets = FORMS["recaptcha-v2"]
    client = Client()
    action, fields = open_form(client, site, path, 2)
    fields.update(tokens_for(emulator, action, widgets))
    assert_rejected(client.post(action, {**fields, "csrf": "0" * 32}), "csrf-mismatch")
    # the page number is part of what the csrf value signs
    other_page = action.replace("page=2", "page=3")
    assert_rejected(client.post(other_page, fields), "csrf-mismatch")
    # a rejected csrf does not spend the token
    assert client.post(action, fields).status == 200


# -- image captcha ---------------------------------------------------------------


def _image_form(client: Client, site: str, page: int) -> tuple[str, dict[str, str], bytes]:
    reply = client.get(f"{site}/image?page={page}")
    form = parse(reply.text)
    image_src = re.search(r'<img id="captcha-image" src="([^"]+)"', reply.text)
    assert image_src is not None
    assert image_src.group(1) == f"/image/captcha.png?c={form.fields['challenge']}"
    return site + form.action, form.fields, client.get_bytes(site + image_src.group(1))


def test_image_captcha(emulator: EmulatorHandle, site: str) -> None:
    client = Client()
    action, fields, png = _image_form(client, site, 4)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert png == captcha_png(fields["challenge"])
    assert client.get_bytes(f"{site}/image/captcha.png?c={fields['challenge']}") == png

    solution = emulator.solve({"type": "ImageToTextTask", "body": base64.b64encode(png).decode()})
    assert solution["text"] == image_answer(png)
    fields["captcha"] = solution["text"]
    reply = client.post(action, fields)
    assert reply.status == 200, reply.text
    assert parse(reply.text).products == expected_products("image", 4)

    assert_rejected(client.post(action, fields), "timeout-or-duplicate")


def test_image_captcha_rejects_wrong_answers(site: str) -> None:
    client = Client()
    action, fields, _ = _image_form(client, site, 1)
    assert_rejected(client.post(action, {**fields, "captcha": "NOPE42"}), "wrong-answer")
    forged = {**fields, "challenge": "f" * 32, "captcha": image_answer(captcha_png("f" * 32))}
    assert_rejected(client.post(action, forged), "invalid-challenge")
    assert client.get(f"{site}/image/captcha.png?c={'f' * 32}").status == 404


# -- Cloudflare-like interstitial ------------------------------------------------------


def test_interstitial_sets_clearance_and_redirects(emulator: EmulatorHandle, site: str) -> None:
    client = Client()
    protected = f"{site}{INTERSTITIAL}?page=5"
    challenge = client.get(protected)
    assert challenge.status == 403
    assert challenge.headers["cf-mitigated"] == "challenge"
    assert "<title>Just a moment...</title>" in challenge.text
    assert 'class="cf-turnstile"' not in challenge.text  # options live in the render call only
    ray = re.search(r'cData: "([0-9a-f]+)"', challenge.text)
    sitekey = re.search(r'sitekey: "([^"]+)"', challenge.text)
    assert ray is not None
    assert sitekey is not None
    assert sitekey.group(1) == SITEKEYS["turnstile-interstitial"]
    form = parse(challenge.text)
    assert form.fields["return"] == f"{INTERSTITIAL}?page=5"

    form.fields["cf-turnstile-response"] = token(
        emulator,
        "TurnstileTask",
        protected,
        sitekey.group(1),
        action="managed",
        cData=ray.group(1),
    )
    passed = client.post(site + form.action, form.fields)
    assert passed.status == 302, passed.text
    assert passed.headers["location"] == f"{INTERSTITIAL}?page=5"
    assert [cookie.name for cookie in client.cookies] == ["cf_clearance"]

    reply = client.get(protected)
    assert reply.status == 200
    assert parse(reply.text).products == expected_products("turnstile-interstitial", 5)
    # the clearance covers the whole protected area, and nobody else has it
    assert client.get(f"{site}{INTERSTITIAL}?page=6").status == 200
    assert Client().get(protected).status == 403


def test_interstitial_rejects_bad_tokens(emulator: EmulatorHandle, site: str) -> None:
    client = Client()
    protected = f"{site}{INTERSTITIAL}?page=1"
    form = parse(client.get(protected).text)
    form.fields["cf-turnstile-response"] = token(
        emulator, "TurnstileTask", protected, SITEKEYS["turnstile-interstitial"], action="managed"
    )
    reply = client.post(site + form.action, form.fields)
    assert reply.status == 403
    assert "cdata-mismatch" in parse(reply.text).errors[0]
    assert list(client.cookies) == []

    offsite = client.post(site + form.action, {**form.fields, "return": "https://evil.example/"})
    assert offsite.status == 400


def test_forged_clearance_cookie_is_refused(site: str) -> None:
    forged = f"cf_clearance={int(time.time()) + 999}-{'0' * 32}"
    request = urllib.request.Request(f"{site}{INTERSTITIAL}", headers={"Cookie": forged})
    assert Client().open(request).status == 403


# -- navigation and plumbing --------------------------------------------------------------


def test_index_links_every_page(site: str) -> None:
    client = Client()
    index = client.get(site + "/")
    assert index.status == 200
    links = re.findall(r'<a href="([^"]+)"', index.text)
    assert links == [info.path for info in PAGES]
    for link in links:
        expected = 403 if link == INTERSTITIAL else 200
        assert client.get(site + link).status == expected, link


def test_pages_show_distinct_products() -> None:
    seen = [item.name for info in PAGES for page in (1, 2, 3) for item in products(info.kind, page)]
    assert len(seen) == len(set(seen))


def test_iframe_page_embeds_the_form(site: str) -> None:
    outer = Client().get(f"{site}/iframe?page=7")
    assert '<iframe id="shop-frame" title="Checkout" src="/iframe/inner?page=7"' in outer.text


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/recaptcha-v2?page=0", 400),
        ("/recaptcha-v2?page=x", 400),
        ("/recaptcha-v2?page=%C2%B2", 400),
        (f"/recaptcha-v2?page={'9' * 5000}", 400),
        ("/nowhere", 404),
    ],
)
def test_bad_requests(site: str, path: str, status: int) -> None:
    assert Client().get(site + path).status == status


def test_wrong_method_is_refused(site: str) -> None:
    reply = Client().get(f"{site}/cdn-cgi/challenge-platform/verify")
    assert reply.status == 405
    assert reply.headers["allow"] == "POST"


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_command_exits_cleanly(stop_signal: signal.Signals) -> None:
    argv = [sys.executable, "-m", "scrapy_vastcaptcha", "demo-site", "--port", "0"]
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
        assert process.stdout is not None
        first = process.stdout.readline().decode()
        assert re.fullmatch(r"VastCap demo site serving on http://127\.0\.0\.1:\d+\n", first)
        process.send_signal(stop_signal)
        _, stderr = process.communicate(timeout=20)
    assert process.returncode == 0, stderr.decode()


@pytest_twisted.ensureDeferred
async def test_start_demo_site_in_process(vastcaptcha_emulator: EmulatorHandle) -> None:
    running = start_demo_site(vastcaptcha_emulator.url)
    try:
        response = await treq.get(running.url + "/recaptcha-v2", persistent=False)
        body = await response.text()
        assert response.code == 200
        assert f'data-sitekey="{SITEKEYS["recaptcha-v2"]}"' in body
        posted = await treq.post(running.url + "/recaptcha-v2", data={}, persistent=False)
        assert posted.code == 403
        await posted.content()
    finally:
        await running.stop()

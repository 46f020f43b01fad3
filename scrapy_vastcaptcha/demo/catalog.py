"""Fixed data of the demo shop: site keys, the protected pages and their products.

Everything here is deterministic, so a test or a crawler can predict what a
page shows after its captcha is solved.
"""

from __future__ import annotations

import dataclasses
import hashlib

# One distinct key per widget, shaped like the real providers' keys so that
# format checks in client code pass.
SITEKEYS: dict[str, str] = {
    "recaptcha-v2": "6LdVastDemoRecaptchaV2CheckboxKey0000001",
    "recaptcha-v2-invisible": "6LdVastDemoRecaptchaV2InvisibleKey000002",
    "recaptcha-v2-explicit": "6LdVastDemoRecaptchaV2ExplicitKey0000003",
    "recaptcha-v3": "6LdVastDemoRecaptchaV3ScoreKey0000000004",
    "recaptcha-enterprise": "6LdVastDemoRecaptchaEnterpriseKey0000005",
    "hcaptcha": "4c0d5e6f-0a1b-4c2d-8e3f-5a6b7c8d9e06",
    "turnstile": "0x4AAAAAAAVastDemoTurnstile07",
    "turnstile-interstitial": "0x4AAAAAAAVastDemoChallenge08",
    "two-captchas-recaptcha": "6LdVastDemoTwoCaptchasRecaptchaKey000009",
    "two-captchas-turnstile": "0x4AAAAAAAVastDemoTwoWidget10",
    "iframe": "6LdVastDemoIframeRecaptchaV2Key000000011",
}

RECAPTCHA_V3_ACTION = "checkout"
RECAPTCHA_V3_MIN_SCORE = 0.5
ENTERPRISE_ACTION = "login"
TURNSTILE_ACTION = "search"
TURNSTILE_CDATA = "sess-42"
INTERSTITIAL_ACTION = "managed"

MAX_PAGE = 100_000
PRODUCTS_PER_PAGE = 4


@dataclasses.dataclass(frozen=True)
class PageInfo:
    """One kind of protected page, as listed on the index."""

    kind: str
    path: str
    title: str
    description: str
    product_line: str


PAGES: tuple[PageInfo, ...] = (
    PageInfo(
        "recaptcha-v2",
        "/recaptcha-v2",
        "reCAPTCHA v2 checkbox",
        "The classic 'I'm not a robot' checkbox inside the form.",
        "Teapot",
    ),
    PageInfo(
        "recaptcha-v2-invisible",
        "/recaptcha-v2-invisible",
        "reCAPTCHA v2 invisible",
        "Invisible reCAPTCHA bound to the submit button; its callback submits the form.",
        "Kettle",
    ),
    PageInfo(
        "recaptcha-v2-explicit",
        "/recaptcha-v2-explicit",
        "reCAPTCHA v2 explicit render",
        "Rendered by grecaptcha.render() from an onload callback; the callback submits.",
        "Saucepan",
    ),
    PageInfo(
        "recaptcha-v3",
        "/recaptcha-v3",
        "reCAPTCHA v3",
        "Score-based: the submit handler asks grecaptcha.execute() for a token "
        "(action 'checkout', score at least 0.5).",
        "Whisk",
    ),
    PageInfo(
        "recaptcha-enterprise",
        "/recaptcha-enterprise",
        "reCAPTCHA Enterprise",
        "Enterprise checkbox loaded from enterprise.js with action 'login'.",
        "Skillet",
    ),
    PageInfo(
        "hcaptcha",
        "/hcaptcha",
        "hCaptcha",
        "The hCaptcha checkbox widget.",
        "Colander",
    ),
    PageInfo(
        "turnstile",
        "/turnstile",
        "Cloudflare Turnstile",
        "Turnstile widget with action 'search' and cData 'sess-42', both checked.",
        "Ladle",
    ),
    PageInfo(
        "turnstile-interstitial",
        "/turnstile-interstitial/catalog",
        "Cloudflare challenge page",
        "A protected area behind a 'Just a moment...' interstitial; passing it sets "
        "a cf_clearance cookie.",
        "Grater",
    ),
    PageInfo(
        "image",
        "/image",
        "Image captcha",
        "Type the characters shown in a picture.",
        "Mug",
    ),
    PageInfo(
        "two-captchas",
        "/two-captchas",
        "Two captchas in one form",
        "A reCAPTCHA v2 checkbox and a Turnstile widget; both must be solved.",
        "Spatula",
    ),
    PageInfo(
        "iframe",
        "/iframe",
        "Captcha inside an iframe",
        "The form and its reCAPTCHA v2 live in an embedded document.",
        "Tray",
    ),
)

PAGES_BY_KIND: dict[str, PageInfo] = {info.kind: info for info in PAGES}

_FINISHES = (
    "Amber",
    "Cobalt",
    "Copper",
    "Ivory",
    "Jade",
    "Onyx",
    "Pewter",
    "Saffron",
    "Slate",
    "Walnut",
)


@dataclasses.dataclass(frozen=True)
class Product:
    """One item shown on a success page."""

    sku: str
    name: str
    price_cents: int

    @property
    def price(self) -> str:
        """The price as displayed, e.g. ``$12.50``."""
        return f"${self.price_cents // 100}.{self.price_cents % 100:02d}"


def products(kind: str, page: int) -> list[Product]:
    """The products page ``page`` of ``kind`` reveals; distinct for every (kind, page)."""
    info = PAGES_BY_KIND[kind]
    items = []
    for index in range(PRODUCTS_PER_PAGE):
        number = (page - 1) * PRODUCTS_PER_PAGE + index + 1
        digest = hashlib.sha256(f"{kind}/{number}".encode()).digest()
        finish = _FINISHES[digest[0] % len(_FINISHES)]
        items.append(
            Product(
                sku=f"{kind.upper()}-{number:06d}",
                name=f"{finish} {info.product_line} No. {number}",
                price_cents=500 + int.from_bytes(digest[1:3], "big") % 9500,
            )
        )
    return items

"""Stand-in captcha widget scripts and frames, shipped as package data.

They replace the real provider scripts in test browsers (see
:func:`scrapy_vastcaptcha.testing.browser.route_widget_scripts`): same globals, hidden
fields, iframes and callbacks as reCAPTCHA, hCaptcha and Turnstile, but they can
never produce a valid token themselves.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

FILES: tuple[str, ...] = (
    "recaptcha.js",
    "hcaptcha.js",
    "turnstile.js",
    "recaptcha-anchor.html",
    "hcaptcha-checkbox.html",
    "turnstile-frame.html",
)

UNSOLVED_TOKEN = "stand-in-unsolved"


@cache
def read(name: str) -> bytes:
    """The bytes of the stand-in file ``name`` (one of :data:`FILES`)."""
    if name not in FILES:
        raise KeyError(name)
    return resources.files(__name__).joinpath(name).read_bytes()

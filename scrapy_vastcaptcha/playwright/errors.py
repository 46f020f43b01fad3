"""Errors of the Playwright helper, on top of :mod:`scrapy_vastcaptcha.api.errors`."""

from __future__ import annotations

from scrapy_vastcaptcha.api.errors import ConfigurationError, VastCaptchaError


class BrowserCaptchaError(VastCaptchaError):
    """A captcha in the browser could not be handled (not the solver's fault)."""

    code = "BROWSER_ERROR"


class WidgetNotReadyError(BrowserCaptchaError):
    """The widget was declared but its script never rendered it within ``wait``;
    nothing was spent on it."""

    code = "WIDGET_NOT_READY"


class InjectionError(BrowserCaptchaError):
    """The token was solved but could not be put into the widget (the frame
    navigated, the widget vanished, or its field did not keep the value)."""

    code = "INJECTION_FAILED"


class ImageCaptureError(BrowserCaptchaError):
    """The image of an image captcha could not be read from the page."""

    code = "IMAGE_CAPTURE_FAILED"


class ReactorMismatchError(ConfigurationError):
    """The installed Twisted reactor cannot run on the current asyncio loop."""

    code = "REACTOR_MISMATCH"


class TooManyCaptchasError(BrowserCaptchaError):
    """Auto mode met more widgets in one page than its cap allows; the rest
    were not solved (nothing was spent on them)."""

    code = "TOO_MANY_CAPTCHAS"

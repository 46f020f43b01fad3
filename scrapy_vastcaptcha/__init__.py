"""Solve captchas in Scrapy crawls and Playwright scripts with the VastCap service.

Layers, one folder each: ``api`` (the Scrapy-free VastCap client), the
Scrapy side at this level (add-on, middleware, detection, resubmission),
``playwright`` (the in-browser helper), ``testing`` (the offline kit: server
launchers, pytest fixtures, stand-in widgets), ``emulator`` and ``demo``
(the servers) and ``cli``. Names are imported lazily: ``import
scrapy_vastcaptcha`` stays cheap for the emulator and the CLI, and the
Scrapy parts load only when used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# The API client's public names (tasks, errors, the client itself) are
# re-exported here; ``scrapy_vastcaptcha.api`` imports Twisted only lazily.
from scrapy_vastcaptcha.api import __all__ as _API_NAMES

__version__ = "0.2.0"

_EXPORTS: dict[str, str] = {
    "Addon": "scrapy_vastcaptcha.addon",
    "VastCaptchaMiddleware": "scrapy_vastcaptcha.middleware",
    **dict.fromkeys(_API_NAMES, "scrapy_vastcaptcha.api"),
}

__all__ = ["Addon", "VastCaptchaMiddleware", *_API_NAMES]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


if TYPE_CHECKING:
    from scrapy_vastcaptcha.addon import Addon
    from scrapy_vastcaptcha.api import *  # noqa: F403
    from scrapy_vastcaptcha.middleware import VastCaptchaMiddleware

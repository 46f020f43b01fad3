"""Moved to :mod:`scrapy_vastcaptcha.testing.browser`; this path keeps existing imports working."""

from scrapy_vastcaptcha.testing.browser import *  # noqa: F403

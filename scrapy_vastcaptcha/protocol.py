"""Moved to :mod:`scrapy_vastcaptcha.api._protocol`; this path keeps existing imports working."""

from scrapy_vastcaptcha.api._protocol import *  # noqa: F403

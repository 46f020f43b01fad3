"""Moved to :mod:`scrapy_vastcaptcha.api.errors`; this path keeps existing imports working."""

from scrapy_vastcaptcha.api.errors import *  # noqa: F403

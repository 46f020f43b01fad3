"""Moved to :mod:`scrapy_vastcaptcha.api.credentials`; this path keeps existing imports working."""

from scrapy_vastcaptcha.api.credentials import *  # noqa: F403

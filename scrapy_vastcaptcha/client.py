"""Moved to :mod:`scrapy_vastcaptcha.api.client`; this path keeps existing imports working."""

from scrapy_vastcaptcha.api.client import *  # noqa: F403

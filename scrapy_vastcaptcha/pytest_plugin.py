"""Moved to :mod:`scrapy_vastcaptcha.testing.pytest_plugin`; kept for existing imports."""

from scrapy_vastcaptcha.testing.pytest_plugin import *  # noqa: F403

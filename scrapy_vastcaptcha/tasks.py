"""Moved to :mod:`scrapy_vastcaptcha.api.tasks`; this path keeps existing imports working."""

from scrapy_vastcaptcha.api.tasks import *  # noqa: F403

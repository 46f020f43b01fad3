"""Moved to :mod:`scrapy_vastcaptcha.api._schedule`; this path keeps existing imports working."""

from scrapy_vastcaptcha.api._schedule import *  # noqa: F403

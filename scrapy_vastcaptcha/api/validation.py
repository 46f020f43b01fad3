"""Checks of numeric options, shared by the client and the Scrapy settings.

Each raises :class:`~scrapy_vastcaptcha.api.errors.ConfigurationError` naming
the option, so ``VASTCAPTCHA_TIMEOUT = nan`` is refused when the crawl starts
instead of silently switching the deadline off (every comparison with NaN is
false) or polling 120 times in a fraction of a second.
"""

from __future__ import annotations

import math

from scrapy_vastcaptcha.api.errors import ConfigurationError


def check_positive_finite(name: str, value: object) -> float:
    """``value`` as a float if it is a number > 0 and finite (not NaN or infinity)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigurationError(f"{name} must be a number, got {value!r}")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number) or number <= 0:
        raise ConfigurationError(f"{name} must be a positive finite number, got {value!r}")
    return number


def check_positive_int(name: str, value: object) -> int:
    """``value`` if it is a whole number >= 1 (``3.0`` is accepted as 3)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigurationError(f"{name} must be a whole number, got {value!r}")
    if value < 1:
        raise ConfigurationError(f"{name} must be at least 1, got {value!r}")
    return value

"""The API key and API URL: where they come from, how they are shown, when they are refused."""

from __future__ import annotations

import ipaddress
import os
from urllib.parse import urlsplit

from scrapy_vastcaptcha.api.errors import ConfigurationError

ENV_API_KEY = "VASTCAPTCHA_API_KEY"
ENV_API_URL = "VASTCAPTCHA_API_URL"
DEFAULT_API_URL = "https://captcha.vast.sh/api/solver"

_PREFIX_LEN = 10


class ApiKey:
    """A secret that only ever shows a short prefix of itself.

    ``str()``, ``repr()`` and f-strings all give the redacted form, so the key
    cannot leak into logs or exception texts by accident; code that must send
    it calls :meth:`reveal`.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        value = value.strip()
        if not value:
            raise ConfigurationError("the VastCap API key is empty")
        self._value = value

    def reveal(self) -> str:
        return self._value

    @property
    def prefix(self) -> str:
        # A third of the key at most, so a short test key is not shown whole.
        return self._value[: min(_PREFIX_LEN, len(self._value) // 3)] + "…"

    def scrub_bytes(self, data: bytes) -> bytes:
        """``data`` with every occurrence of the key replaced by its prefix
        (servers sometimes echo the key in error descriptions)."""
        return data.replace(self._value.encode(), self.prefix.encode())

    def __repr__(self) -> str:
        return f"ApiKey({self.prefix!r})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ApiKey) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> str | tuple[object, ...]:
        # Pickling would write the secret to JOBDIR or Redis; refuse.
        raise TypeError("ApiKey objects cannot be pickled")


def resolve_api_key(api_key: str | ApiKey | None = None) -> ApiKey:
    """The key from the argument, else from ``VASTCAPTCHA_API_KEY``."""
    if isinstance(api_key, ApiKey):
        return api_key
    value = api_key if api_key is not None else os.environ.get(ENV_API_KEY, "")
    if not value.strip():
        raise ConfigurationError(
            f"no VastCap API key: pass api_key=... or set the {ENV_API_KEY} environment variable"
        )
    return ApiKey(value)


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a URL's hostname) names this machine."""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def resolve_api_url(api_url: str | None = None) -> str:
    """The API base URL from the argument, else ``VASTCAPTCHA_API_URL``, else
    the real service. Plain ``http`` is only accepted for loopback hosts (the
    emulator), because the key travels in every request body."""
    url = (api_url or os.environ.get(ENV_API_URL) or DEFAULT_API_URL).strip().rstrip("/")
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https") or not host:
        raise ConfigurationError(
            f"the VastCap API URL must be an absolute http(s) URL, got {url!r}"
        )
    if parts.scheme == "http" and not is_loopback(host):
        raise ConfigurationError(
            f"refusing plain-http VastCap API URL {url!r}: the API key would travel "
            "unencrypted; use https, or http only for a loopback host such as the emulator"
        )
    return url

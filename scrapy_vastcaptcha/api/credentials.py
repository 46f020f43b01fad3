"""The API key and API URL: where they come from, how they are shown, when they are refused."""

from __future__ import annotations

import ipaddress
import os
import re
from urllib.parse import unquote, urlsplit

import idna

from scrapy_vastcaptcha.api.errors import ConfigurationError

ENV_API_KEY = "VASTCAPTCHA_API_KEY"
ENV_API_URL = "VASTCAPTCHA_API_URL"
DEFAULT_API_URL = "https://captcha.vast.sh/api/solver"

_PREFIX_LEN = 10
_JSON_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")
#: The API methods, lower-cased: a base URL must not end with one.
_METHOD_NAMES = ("createtask", "gettaskresult", "getbalance")


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

    def scrub(self, text: str) -> str:
        """``text`` with every occurrence of the key replaced by its prefix,
        also where it hides behind JSON ``\\uXXXX`` escapes or %-encoding (the
        text is then shown decoded)."""
        text = text.replace(self._value, self.prefix)
        for decoded in (_JSON_ESCAPE.sub(lambda m: chr(int(m[1], 16)), text), unquote(text)):
            if self._value in decoded:
                text = decoded.replace(self._value, self.prefix)
        return text

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


def resolve_api_url(api_url: str | None = None, *, name: str = "api_url") -> str:
    """The API base URL from the argument, else ``VASTCAPTCHA_API_URL``, else
    the real service. Plain ``http`` is only accepted for loopback hosts (the
    emulator), because the key travels in every request body.

    A URL that cannot be the base URL is refused with a
    :class:`ConfigurationError` naming ``name`` (the argument or setting it
    came from): a method name at the end (``/createTask``), a query or
    fragment, credentials, a port outside 1-65535, an empty host, or a
    non-ASCII host that is not a valid IDNA name (a valid one is sent
    IDNA-encoded).
    """
    if not api_url and os.environ.get(ENV_API_URL):
        name = ENV_API_URL
    url = (api_url or os.environ.get(ENV_API_URL) or DEFAULT_API_URL).strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigurationError(f"{name} must be an absolute http(s) URL, got {url!r}")
    if "@" in parts.netloc:
        # Not shown: the part before "@" is a password.
        raise ConfigurationError(
            f"{name} must not hold user:password@ (the API key is sent in each request body)"
        )
    if "?" in url or "#" in url:
        raise ConfigurationError(
            f"{name} must be the API base URL without ?query or #fragment, got {url!r}"
        )
    try:
        port = parts.port
    except ValueError:
        port = -1
    if port is not None and not 1 <= port <= 65535:
        raise ConfigurationError(f"{name} needs a port number from 1 to 65535, got {url!r}")
    host = parts.hostname or ""
    if not host:
        raise ConfigurationError(f"{name} has an empty host: {url!r}")
    last = parts.path.rsplit("/", 1)[-1]
    if last.lower() in _METHOD_NAMES:
        raise ConfigurationError(
            f"{name} must be the API base URL, without the method name: drop '/{last}' "
            f"from {url!r} (the client appends /createTask, /getTaskResult, /getBalance)"
        )
    if not host.isascii():
        try:
            ascii_host = idna.encode(host, uts46=True).decode("ascii")
        except idna.IDNAError as exc:
            raise ConfigurationError(f"{name} has an invalid host name {host!r}: {exc}") from None
        netloc = ascii_host if port is None else f"{ascii_host}:{port}"
        url = parts._replace(netloc=netloc).geturl()
        host = ascii_host
    if parts.scheme == "http" and not is_loopback(host):
        raise ConfigurationError(
            f"refusing plain-http VastCap API URL {url!r} ({name}): the API key would travel "
            "unencrypted; use https, or http only for a loopback host such as the emulator"
        )
    return url

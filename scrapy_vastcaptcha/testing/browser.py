"""Chromium discovery and request routing for Playwright test browsers.

``route_widget_scripts`` (async) and ``route_widget_scripts_sync`` make a
browser context or page serve the stand-in captcha widgets instead of the real
provider scripts, and refuse every other request that would leave the machine,
so pages such as the demo shop can be exercised offline. Both share
:func:`decide_route`; only the thin Playwright registration differs.

Playwright itself is imported only for type checking: this module is cheap to
import without it.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from scrapy_vastcaptcha.api.credentials import is_loopback
from scrapy_vastcaptcha.testing import widgets

if TYPE_CHECKING:
    from playwright.async_api import BrowserContext as AsyncContext
    from playwright.async_api import Page as AsyncPage
    from playwright.async_api import Route as AsyncRoute
    from playwright.sync_api import BrowserContext as SyncContext
    from playwright.sync_api import Page as SyncPage
    from playwright.sync_api import Route as SyncRoute

CHROMIUM_ENV = "VASTCAPTCHA_CHROMIUM"
_SYSTEM_CHROMIUM = "/usr/bin/chromium"
_CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

# Flags that keep a headless Chromium quiet and offline; the sandbox stays on
# (see chromium_launch_options).
CHROMIUM_ARGS: tuple[str, ...] = (
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)

_JS = "application/javascript; charset=utf-8"
_HTML = "text/html; charset=utf-8"


def find_chromium() -> str | None:
    """Path of a Chromium to launch, or ``None`` for Playwright's own download.

    ``$VASTCAPTCHA_CHROMIUM`` wins when set; then Debian's ``/usr/bin/chromium``
    and the usual Chromium/Chrome names on ``PATH``. ``None`` means: use the
    browser installed by ``playwright install chromium``.
    """
    explicit = os.environ.get(CHROMIUM_ENV)
    if explicit:
        return explicit
    if os.access(_SYSTEM_CHROMIUM, os.X_OK):
        return _SYSTEM_CHROMIUM
    for name in _CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


# Files that container runtimes (Docker; Podman and others) create in the root.
CONTAINER_MARKERS: tuple[str, ...] = ("/.dockerenv", "/run/.containerenv")


def _sandbox_unavailable() -> bool:
    # Chromium refuses to start its sandbox as root, and containers usually deny
    # the user namespaces it needs.
    geteuid = getattr(os, "geteuid", None)  # not on Windows
    if geteuid is not None and geteuid() == 0:
        return True
    return any(os.path.exists(marker) for marker in CONTAINER_MARKERS)


def chromium_launch_options(**overrides: Any) -> dict[str, Any]:
    """Keyword arguments for ``playwright.chromium.launch(**...)``.

    Headless, with :data:`CHROMIUM_ARGS` and the ``executable_path`` of
    :func:`find_chromium` when one is found; ``overrides`` replace any key.

    Chromium's sandbox stays on, except where it cannot work: when the process
    runs as root (``os.geteuid() == 0``) or inside a container (a
    :data:`CONTAINER_MARKERS` file exists), ``--no-sandbox`` is added. Pages
    loaded there are then less isolated from the machine, so point such a
    browser only at sites you trust or at the offline stand-ins.
    """
    args = list(CHROMIUM_ARGS)
    if _sandbox_unavailable():
        args.append("--no-sandbox")
    options: dict[str, Any] = {"headless": True, "args": args}
    executable = find_chromium()
    if executable:
        options["executable_path"] = executable
    options.update(overrides)
    return options


@dataclasses.dataclass(frozen=True)
class RouteDecision:
    """What to do with one request: fulfil it with a stand-in, let it through, or abort."""

    action: Literal["fulfill", "continue", "abort"]
    status: int = 200
    content_type: str = ""
    body: bytes = b""


def _stand_in(name: str, content_type: str) -> RouteDecision:
    return RouteDecision("fulfill", 200, content_type, widgets.read(name))


_NOT_FOUND = RouteDecision("fulfill", 404, "text/plain; charset=utf-8", b"not found (stand-in)")
_EMPTY_JS = RouteDecision("fulfill", 200, _JS, b"/* stand-in: nothing to load */\n")


def _recaptcha(path: str) -> RouteDecision:
    if path.endswith(("/api.js", "/enterprise.js")):
        return _stand_in("recaptcha.js", _JS)
    if path.endswith("/anchor"):
        return _stand_in("recaptcha-anchor.html", _HTML)
    return _NOT_FOUND


def _hcaptcha(host: str, path: str) -> RouteDecision:
    if host == "js.hcaptcha.com" and path.endswith("/api.js"):
        return _stand_in("hcaptcha.js", _JS)
    if path.endswith("/hcaptcha.html"):
        return _stand_in("hcaptcha-checkbox.html", _HTML)
    return _NOT_FOUND


def _turnstile(path: str) -> RouteDecision:
    if path.startswith("/turnstile/") and path.endswith("/api.js"):
        return _stand_in("turnstile.js", _JS)
    if path.startswith("/cdn-cgi/challenge-platform/"):
        return _stand_in("turnstile-frame.html", _HTML)
    return _NOT_FOUND


def decide_route(url: str) -> RouteDecision:
    """The routing rule shared by the sync and async helpers.

    Provider URLs get the stand-ins (script, or iframe document); loopback URLs
    go through; anything else is aborted, so a test never reaches the internet.
    """
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    path = parts.path
    if not host:
        return RouteDecision("continue")  # data:, blob:, about: never touch the network
    if host in ("www.google.com", "www.recaptcha.net") and path.startswith("/recaptcha/"):
        return _recaptcha(path)
    if host == "www.gstatic.com" and path.startswith("/recaptcha/"):
        return _EMPTY_JS
    if host == "hcaptcha.com" or host.endswith(".hcaptcha.com"):
        return _hcaptcha(host, path)
    if host == "challenges.cloudflare.com":
        return _turnstile(path)
    if is_loopback(host):
        return RouteDecision("continue")
    return RouteDecision("abort")


def _fulfil_kwargs(decision: RouteDecision) -> dict[str, Any]:
    return {
        "status": decision.status,
        "content_type": decision.content_type,
        "body": decision.body,
        "headers": {"access-control-allow-origin": "*", "cache-control": "no-store"},
    }


def _every_url(url: str) -> bool:
    return True


async def route_widget_scripts(target: AsyncContext | AsyncPage) -> None:
    """Serve stand-in widgets and block the internet on an async context or page."""

    async def handle(route: AsyncRoute) -> None:
        decision = decide_route(route.request.url)
        if decision.action == "fulfill":
            await route.fulfill(**_fulfil_kwargs(decision))
        elif decision.action == "continue":
            await route.fallback()
        else:
            await route.abort("blockedbyclient")

    await target.route(_every_url, handle)


def route_widget_scripts_sync(target: SyncContext | SyncPage) -> None:
    """Sync twin of :func:`route_widget_scripts`."""

    def handle(route: SyncRoute) -> None:
        decision = decide_route(route.request.url)
        if decision.action == "fulfill":
            route.fulfill(**_fulfil_kwargs(decision))
        elif decision.action == "continue":
            route.fallback()
        else:
            route.abort("blockedbyclient")

    target.route(_every_url, handle)

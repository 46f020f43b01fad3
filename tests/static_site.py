"""A tiny in-process HTTP server for tests that need pages the demo shop does not have."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from twisted.web.resource import Resource
from twisted.web.server import Request, Site


@dataclass
class Page:
    body: bytes
    status: int = 200
    content_type: bytes = b"text/html; charset=utf-8"


@dataclass
class Hit:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class StaticSite:
    """Serves ``pages`` by path (query ignored) and records every request."""

    pages: dict[str, Page] = field(default_factory=dict)
    hits: list[Hit] = field(default_factory=list)
    url: str = ""


class _Root(Resource):
    isLeaf = True

    def __init__(self, site: StaticSite) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.site = site

    def render(self, request: Request) -> bytes:
        path = (request.path or b"/").decode()
        assert request.content is not None
        self.site.hits.append(
            Hit(
                method=(request.method or b"").decode(),
                path=path,
                headers={
                    k.decode(): b",".join(v).decode("latin-1")
                    for k, v in request.requestHeaders.getAllRawHeaders()
                },
                body=request.content.read(),
            )
        )
        page = self.site.pages.get(path) or Page(b"<html><body>posted</body></html>")
        request.setResponseCode(page.status)
        request.setHeader(b"Content-Type", page.content_type)
        return page.body


def serve(host: str = "127.0.0.1") -> Iterator[StaticSite]:
    """Generator for a fixture: yields a :class:`StaticSite` listening on ``host``."""
    # Imported here: importing the reactor at collection time would install
    # the default one before pytest-twisted installs the asyncio reactor.
    from twisted.internet import reactor

    site = StaticSite()
    running: Any = reactor  # the global reactor has no usable static type
    port = running.listenTCP(0, Site(_Root(site)), interface=host)
    site.url = f"http://{host}:{port.getHost().port}"
    yield site
    port.stopListening()

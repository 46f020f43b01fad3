"""What the client's own connections have read off the wire, for tests that
must act (cancel, reset) only once part of an answer has really arrived at
the client, not merely left the server: waited on with a deadline."""

from __future__ import annotations

from typing import Any

import pytest
from twisted.internet import defer

from scrapy_vastcaptcha.api import _http


class Arrivals:
    def __init__(self) -> None:
        self.data = b""
        self._waiters: list[tuple[bytes, defer.Deferred[None]]] = []

    def received(self, data: bytes) -> None:
        self.data += data
        for item in list(self._waiters):
            if item[0] in self.data:
                self._waiters.remove(item)
                item[1].callback(None)

    def wait_for(self, piece: bytes, timeout: float = 5.0) -> defer.Deferred[None]:
        """Fires once the client has read ``piece`` (and handled it)."""
        from twisted.internet import reactor

        d: defer.Deferred[None] = defer.Deferred()
        if piece in self.data:
            d.callback(None)
            return d
        self._waiters.append((piece, d))
        return d.addTimeout(timeout, reactor)


def watch(monkeypatch: pytest.MonkeyPatch) -> Arrivals:
    """Record every byte the client's keep-alive connections read."""
    arrivals = Arrivals()
    read = _http._Connection.dataReceived

    def reading(self: Any, data: bytes) -> None:
        read(self, data)
        arrivals.received(data)

    monkeypatch.setattr(_http._Connection, "dataReceived", reading)
    return arrivals

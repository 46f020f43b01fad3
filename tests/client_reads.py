"""What the client's own connections have read off the wire, for tests that
must act (cancel, reset) only once part of an answer has really arrived at
the client, not merely left the server: waited on with a deadline."""

from __future__ import annotations

from typing import Any

import pytest
from twisted.internet import defer

from scrapy_vastcaptcha.api import _http
from tests.waiting import Watched


class Arrivals(Watched):
    """The bytes the client has read so far."""

    def __init__(self) -> None:
        super().__init__()
        self.data = b""

    def received(self, data: bytes) -> None:
        self.data += data
        self.changed()

    def wait_for(self, piece: bytes, timeout: float = 5.0) -> defer.Deferred[None]:
        """Fires once the client has read ``piece`` (and handled it)."""
        return self.wait(lambda: piece in self.data, timeout)


def watch(monkeypatch: pytest.MonkeyPatch) -> Arrivals:
    """Record every byte the client's keep-alive connections read."""
    arrivals = Arrivals()
    read = _http._Connection.dataReceived

    def reading(self: Any, data: bytes) -> None:
        read(self, data)
        arrivals.received(data)

    monkeypatch.setattr(_http._Connection, "dataReceived", reading)
    return arrivals

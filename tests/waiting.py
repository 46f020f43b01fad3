"""Waiting on a test server's record with a deadline, never by sleeping."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from twisted.internet import defer


@dataclass
class Watched:
    """Base of a test server: :meth:`wait` on its record, which the server
    reports to by calling :meth:`changed` after each event."""

    _waiters: list[tuple[Callable[[], bool], defer.Deferred[None]]] = field(
        default_factory=list, repr=False
    )

    def wait(self, condition: Callable[[], bool], timeout: float = 10.0) -> defer.Deferred[None]:
        """Fires once ``condition()`` holds (checked after each event); fails
        after ``timeout`` seconds."""
        from twisted.internet import reactor

        d: defer.Deferred[None] = defer.Deferred()
        if condition():
            d.callback(None)
            return d
        self._waiters.append((condition, d))
        return d.addTimeout(timeout, reactor)

    def changed(self) -> None:
        for item in list(self._waiters):
            condition, d = item
            if d.called:
                self._waiters.remove(item)
            elif condition():
                self._waiters.remove(item)
                d.callback(None)

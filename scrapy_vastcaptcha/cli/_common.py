"""Shared plumbing of the client sub-commands (``balance``, ``solve``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from twisted.internet import defer
from twisted.python.failure import Failure

from scrapy_vastcaptcha.api.errors import VastCaptchaError, error_code


def add_api_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--api-key", help="VastCap API key (default: $VASTCAPTCHA_API_KEY)", default=None
    )
    parser.add_argument(
        "--api-url",
        help="API base URL, e.g. the emulator's "
        "(default: $VASTCAPTCHA_API_URL or the real service)",
        default=None,
    )


def run_reactor(main: Callable[[Any], Coroutine[Any, Any, int]]) -> int:
    """Run ``main(reactor)`` on the reactor and return its exit status.

    Errors of this package are printed as ``error: CODE: message`` and give
    status 1; anything else propagates (a bug should show its traceback).
    """
    from twisted.internet import reactor as global_reactor

    reactor: Any = global_reactor

    outcome: list[Any] = []

    def start() -> None:
        d = defer.Deferred.fromCoroutine(main(reactor))
        d.addBoth(outcome.append)
        d.addBoth(lambda _: reactor.stop())

    reactor.callWhenRunning(start)
    reactor.run()
    (result,) = outcome
    if isinstance(result, Failure):
        exc = result.value
        if isinstance(exc, VastCaptchaError):
            code = error_code(exc)
            message = str(exc)
            prefix = "" if message.startswith(code) or code in message else f"{code}: "
            print(f"error: {prefix}{message}", file=sys.stderr)
            return 1
        result.raiseException()
    return int(result)

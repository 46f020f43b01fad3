"""``vastcaptcha emulator``: serve the offline VastCap API until SIGINT/SIGTERM.

The first stdout line announces the URL once the port is bound, so launchers
(:mod:`scrapy_vastcaptcha.testing`) can wait for it instead of sleeping.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any, Protocol, cast

from scrapy_vastcaptcha.emulator.config import FAULT_NAMES, ConfigError, EmulatorConfig

DEFAULT_PORT = 8765


class _Reactor(Protocol):
    """The reactor methods used here (mypy cannot check zope interfaces without a plugin)."""

    def callWhenRunning(self, fn: Callable[[], None]) -> object: ...
    def addSystemEventTrigger(self, phase: str, event: str, fn: Callable[[], object]) -> object: ...
    def run(self) -> None: ...
    def stop(self) -> None: ...


def _solve_time(text: str) -> list[float]:
    low, _, high = text.partition(":")
    try:
        return [float(low), float(high or low)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected MIN[:MAX] seconds, got {text!r}") from None


def _fault(text: str) -> tuple[str, float]:
    name, sep, rate = text.partition("=")
    if not sep or name not in FAULT_NAMES:
        raise argparse.ArgumentTypeError(
            f"expected NAME=RATE with NAME one of {', '.join(FAULT_NAMES)}, got {text!r}"
        )
    try:
        return name, float(rate)
    except ValueError:
        raise argparse.ArgumentTypeError(f"rate must be a number 0..1, got {rate!r}") from None


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the emulator's options to its sub-command parser."""
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (%(default)s)")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="port, 0 for a free one (%(default)s)"
    )
    parser.add_argument(
        "--solve-time", type=_solve_time, metavar="MIN[:MAX]", help="seconds per solve (5:30)"
    )
    parser.add_argument(
        "--fault",
        type=_fault,
        action="append",
        default=[],
        metavar="NAME=RATE",
        help=f"inject a fault with probability RATE; NAME is one of {', '.join(FAULT_NAMES)}",
    )
    parser.add_argument("--capacity", type=int, help="tasks processed at once")
    parser.add_argument("--seed", type=int, help="seed for every random choice")
    parser.add_argument("--default-balance", type=float, help="balance of new accounts (10.0)")


def build_config(args: argparse.Namespace) -> EmulatorConfig:
    """The :class:`EmulatorConfig` described by parsed command-line ``args``."""
    updates: dict[str, Any] = {}
    if args.solve_time is not None:
        updates["solve_time"] = args.solve_time
    if args.fault:
        updates["faults"] = dict(args.fault)
    if args.capacity is not None:
        updates["capacity"] = args.capacity
    if args.seed is not None:
        updates["seed"] = args.seed
    if args.default_balance is not None:
        updates["default_balance"] = args.default_balance
    return EmulatorConfig().merged(updates)


def _log_warnings_to_stderr() -> None:
    from twisted.logger import (
        FilteringLogObserver,
        ILogFilterPredicate,
        ILogObserver,
        LogLevel,
        LogLevelFilterPredicate,
        globalLogBeginner,
        textFileLogObserver,
    )

    # warnings and errors only: the access log of every request would drown stderr
    observer = FilteringLogObserver(
        cast(ILogObserver, textFileLogObserver(sys.stderr)),
        [cast(ILogFilterPredicate, LogLevelFilterPredicate(LogLevel.warn))],
    )
    globalLogBeginner.beginLoggingTo([cast(ILogObserver, observer)], redirectStandardIO=False)


def run(args: argparse.Namespace) -> int:
    """Serve until the process is told to stop; 0 on a clean stop, 1 if the port is unusable."""
    try:
        config = build_config(args)
    except ConfigError as exc:
        print(f"vastcaptcha emulator: {exc}", file=sys.stderr)
        return 2

    from twisted.internet import reactor as installed
    from twisted.internet.error import CannotListenError

    from scrapy_vastcaptcha.emulator.server import start_emulator

    reactor = cast(_Reactor, installed)
    _log_warnings_to_stderr()
    exit_code = 0

    def start() -> None:
        nonlocal exit_code
        try:
            emulator = start_emulator(config, host=args.host, port=args.port)
        except CannotListenError as exc:
            print(f"vastcaptcha emulator: cannot listen: {exc}", file=sys.stderr)
            exit_code = 1
            reactor.stop()
            return
        reactor.addSystemEventTrigger("before", "shutdown", emulator.stop)
        print(
            f"VastCap emulator serving on {emulator.url} (API URL: {emulator.api_url})",
            flush=True,
        )

    reactor.callWhenRunning(start)
    reactor.run()
    return exit_code

"""``vastcaptcha demo-site``: serve the demo shop until interrupted."""

from __future__ import annotations

import argparse
import signal
import sys
from typing import Any

DEFAULT_PORT = 8766
DEFAULT_EMULATOR_URL = "http://127.0.0.1:8765"


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the demo-site options to ``parser``."""
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="port to listen on; 0 picks a free one"
    )
    parser.add_argument(
        "--emulator-url",
        default=DEFAULT_EMULATOR_URL,
        help="root URL of the VastCap emulator whose /siteverify checks the tokens",
    )


def run(args: argparse.Namespace) -> int:
    """Listen, print the URL on the first line, and serve until SIGINT or SIGTERM."""
    from twisted.internet import reactor as installed
    from twisted.internet.error import CannotListenError

    from scrapy_vastcaptcha.demo.site import start_demo_site

    reactor: Any = installed  # the global reactor object carries no usable static type

    try:
        site = start_demo_site(args.emulator_url, host=args.host, port=args.port)
    except CannotListenError as exc:
        print(f"vastcaptcha demo-site: cannot listen: {exc}", file=sys.stderr)
        return 1
    # A shell starting us in the background ignores SIGINT, and Twisted only
    # takes over a default SIGINT handler; restore it so SIGINT always stops.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    # Announce only once running: by then Twisted's SIGINT/SIGTERM handlers,
    # which stop the reactor cleanly, are in place.
    reactor.callWhenRunning(print, f"VastCap demo site serving on {site.url}", flush=True)
    reactor.run()
    return 0

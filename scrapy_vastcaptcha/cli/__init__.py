"""The ``vastcaptcha`` command line: one sub-command per module, imported lazily.

Each sub-command module exposes ``configure(parser)`` and ``run(args) -> int``;
importing them lazily keeps ``vastcaptcha --help`` fast and keeps Twisted's
reactor untouched until a command really needs it.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from scrapy_vastcaptcha import __version__

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "balance": ("scrapy_vastcaptcha.cli.balance", "print the account balance"),
    "solve": ("scrapy_vastcaptcha.cli.solve", "solve one captcha and print the token"),
    "budget": (
        "scrapy_vastcaptcha.cli.budget",
        "show (or reset) a fleet's spending counters in Redis",
    ),
    "demo": ("scrapy_vastcaptcha.cli.demo", "run the demo: every captcha kind, offline"),
    "emulator": ("scrapy_vastcaptcha.cli.emulator", "run the offline VastCap API emulator"),
    "demo-site": ("scrapy_vastcaptcha.cli.demo_site", "run the demo shop with captcha widgets"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vastcaptcha", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        module = importlib.import_module(module_name)
        module.configure(sub.add_parser(name, help=help_text, description=help_text))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    module = importlib.import_module(COMMANDS[args.command][0])
    result: int = module.run(args)
    sys.stdout.flush()
    return result

"""``vastcaptcha balance``: print the account balance."""

from __future__ import annotations

import argparse
from typing import Any

from scrapy_vastcaptcha.cli._common import add_api_arguments, run_reactor


def configure(parser: argparse.ArgumentParser) -> None:
    add_api_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from scrapy_vastcaptcha.api.client import VastCaptchaClient

    async def main(reactor: Any) -> int:
        client = VastCaptchaClient(args.api_key, args.api_url, reactor=reactor)
        try:
            balance = await client.get_balance()
        finally:
            await client.close()
        print(f"{balance:.4f}")
        return 0

    return run_reactor(main)

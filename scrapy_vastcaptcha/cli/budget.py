"""``vastcaptcha budget``: show a fleet's shared budget counters in Redis, or reset them."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from scrapy_vastcaptcha.api.errors import ConfigurationError
from scrapy_vastcaptcha.budget import safe_url


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("VASTCAPTCHA_REDIS_URL"),
        help="the fleet's Redis (default: $VASTCAPTCHA_REDIS_URL)",
    )
    parser.add_argument(
        "--crawl",
        required=True,
        help="the crawl name: VASTCAPTCHA_CRAWL_NAME, or else the spider name",
    )
    parser.add_argument(
        "--reset",
        action="store_true",
        help="delete the counters, leases, spend and stop reason: "
        "the next crawl with this name starts a fresh budget",
    )


def run(args: argparse.Namespace) -> int:
    if not args.redis_url:
        print("error: no Redis URL: pass --redis-url or set VASTCAPTCHA_REDIS_URL", file=sys.stderr)
        return 2
    return asyncio.run(_main(args.redis_url, args.crawl, args.reset))


async def _main(url: str, crawl: str, reset: bool) -> int:
    from scrapy_vastcaptcha.budget_redis import connect, fleet_state, reset_fleet

    try:
        client = connect(url)
    except ConfigurationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    from redis.exceptions import RedisError

    try:
        state = await fleet_state(client, crawl)
        print(f"fleet {crawl!r} on {safe_url(url)}")
        print(f"tasks:   {state.tasks} ({state.finished} finished)")
        print(f"leases:  {state.leases} live")
        if state.start is not None and state.balance is not None:
            print(f"spent:   {state.spent:.4f} (balance {state.start:.4f} -> {state.balance:.4f})")
        print(f"state:   {'stopped: ' + state.stop if state.stop else 'running'}")
        if reset:
            await reset_fleet(client, crawl)
            print("reset:   counters, leases, spend and stop reason deleted")
    except (RedisError, OSError) as exc:
        print(f"error: cannot reach Redis at {safe_url(url)}: {exc}", file=sys.stderr)
        return 1
    finally:
        await client.aclose()
    return 0

"""One fleet worker of the Redis budget tests, run as its own OS process:

    python -m tests.budget_worker REDIS_URL CRAWL MODE [SETTING=VALUE ...]

It opens a :class:`BudgetGuard` (an account with a fixed balance stands in
for VastCap), prints ``ready`` and waits for a line on stdin, so that every
worker starts at the same moment. Then, by MODE:

* ``drain``: create and finish tasks until refused; print ``created N REASON``.
* ``hold``: take one lease, print ``held LEASE`` and wait to be killed, as a
  worker that dies with a solve pending.
"""

from __future__ import annotations

import sys

from twisted.internet import asyncioreactor

asyncioreactor.install()

from scrapy.settings import Settings  # noqa: E402
from twisted.internet import defer, task, threads  # noqa: E402

from scrapy_vastcaptcha.api.errors import BudgetExhaustedError  # noqa: E402
from scrapy_vastcaptcha.budget import BudgetConfig, BudgetGuard  # noqa: E402


async def main(reactor: object, url: str, crawl: str, mode: str, *pairs: str) -> None:
    settings = Settings(dict(pair.split("=", 1) for pair in pairs))
    settings.set("VASTCAPTCHA_REDIS_URL", url)
    guard = BudgetGuard.from_config(
        BudgetConfig.from_settings(settings, crawl), lambda: defer.succeed(10.0)
    )
    await guard.open()
    print("ready", flush=True)
    await threads.deferToThread(sys.stdin.readline)
    if mode == "hold":
        lease = await guard.acquire(None)
        print(f"held {lease}", flush=True)
        await defer.Deferred()  # until killed
    created = 0
    try:
        while True:
            lease = await guard.acquire(None)
            guard.created(lease, f"task-{created}")
            created += 1
            guard.release(lease)
    except BudgetExhaustedError as exc:
        print(f"created {created} {exc.reason}", flush=True)
    await guard.close()


if __name__ == "__main__":
    task.react(lambda reactor: defer.ensureDeferred(main(reactor, *sys.argv[1:])))

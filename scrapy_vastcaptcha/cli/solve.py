"""``vastcaptcha solve``: solve one captcha and print the token (or text).

Progress goes to stderr so that ``TOKEN=$(vastcaptcha solve ...)`` works.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from scrapy_vastcaptcha.api.errors import InvalidTaskError
from scrapy_vastcaptcha.api.tasks import KINDS, Task
from scrapy_vastcaptcha.cli._common import add_api_arguments, run_reactor


def configure(parser: argparse.ArgumentParser) -> None:
    add_api_arguments(parser)
    parser.add_argument("--type", required=True, choices=KINDS, dest="kind", help="captcha kind")
    parser.add_argument("--url", help="page URL the captcha is on (token captchas)")
    parser.add_argument("--sitekey", help="the widget's site key (token captchas)")
    parser.add_argument("--image", type=Path, help="image file (image captchas)")
    parser.add_argument("--invisible", action="store_true", help="invisible widget")
    parser.add_argument("--enterprise", action="store_true", help="reCAPTCHA/hCaptcha Enterprise")
    parser.add_argument("--action", help="reCAPTCHA v3 pageAction / Turnstile action")
    parser.add_argument("--min-score", type=float, help="reCAPTCHA v3 minimum score")
    parser.add_argument("--cdata", help="Turnstile cData")
    parser.add_argument("--rqdata", help="hCaptcha Enterprise rqdata")
    parser.add_argument("--blob", help="FunCaptcha data blob")
    parser.add_argument("--proxy", help="proxy for the solver: login:password@host:port")
    parser.add_argument("--user-agent", help="user agent the solver should use")
    parser.add_argument(
        "--extra",
        action="append",
        default=[],
        metavar="FIELD=JSON",
        help="additional task field, value as JSON (or a plain string); repeatable",
    )
    parser.add_argument("--timeout", type=float, default=180.0, help="overall deadline (s)")
    parser.add_argument("--poll-interval", type=float, help="seconds between polls")
    parser.add_argument("--json", action="store_true", help="print the whole result as JSON")


def _extra(pairs: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise InvalidTaskError(f"--extra expects FIELD=VALUE, got {pair!r}")
        try:
            out[name] = json.loads(value)
        except ValueError:
            out[name] = value
    return out


def build_task(args: argparse.Namespace) -> Task:
    """The task the command line describes, built as the middleware and the
    Playwright helper build theirs (:func:`scrapy_vastcaptcha.captcha.build_task`)."""
    from scrapy_vastcaptcha.captcha import Captcha
    from scrapy_vastcaptcha.captcha import build_task as task_for

    if args.kind == "image" and args.image is None:
        raise InvalidTaskError("--image is required for --type image")
    if args.kind != "image":
        for flag in ("url", "sitekey"):
            if not getattr(args, flag):
                raise InvalidTaskError(f"--{flag} is required for --type {args.kind}")
    captcha = Captcha(
        kind=args.kind,
        sitekey=args.sitekey or "",
        page_url=args.url or "",
        action=args.action,
        cdata=args.cdata,
        page_data=args.blob,
        invisible=args.invisible,
        enterprise=args.enterprise,
        min_score=args.min_score,
        rqdata=args.rqdata,
        extra=_extra(args.extra),
    )
    image = args.image.read_bytes() if args.kind == "image" else None
    return task_for(captcha, image=image, user_agent=args.user_agent, proxy=args.proxy)


def run(args: argparse.Namespace) -> int:
    from scrapy_vastcaptcha.api.client import SolveEvent, VastCaptchaClient

    def progress(event: SolveEvent) -> None:
        if event.name == "created":
            print(f"task {event.task_id} created", file=sys.stderr)
        elif event.name == "polled":
            print(f"  {event.status} ({event.elapsed:.1f} s)", file=sys.stderr)
        elif event.name in ("retrying", "new_task"):
            print(f"  {event.name}: {event.error}", file=sys.stderr)

    async def main(reactor: Any) -> int:
        task = build_task(args)
        client = VastCaptchaClient(
            args.api_key,
            args.api_url,
            solve_timeout=args.timeout,
            poll_interval=args.poll_interval,
            on_event=progress,
            reactor=reactor,
        )
        try:
            result = await client.solve(task)
        finally:
            await client.close()
        print(f"solved in {result.elapsed:.1f} s, {result.polls} polls", file=sys.stderr)
        if args.json:
            print(
                json.dumps(
                    {
                        "task_id": result.task_id,
                        "token": result.token,
                        "score": result.solution.score,
                        "user_agent": result.solution.user_agent,
                        "elapsed": round(result.elapsed, 3),
                        "polls": result.polls,
                        "attempts": result.attempts,
                    }
                )
            )
        else:
            print(result.token)
        return 0

    return run_reactor(main)

"""``python -m benchmarks``: start the emulator and the demo site, run the scenarios,
print the table and write ``benchmarks/results/`` (see benchmarks/README.md)."""

from __future__ import annotations

import argparse
import datetime
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks import report, runtime
from benchmarks.measure import cpu_pressure_total, machine
from benchmarks.scenarios import SCENARIOS, SDK_POLLING, Context
from scrapy_vastcaptcha.api._schedule import TOKEN_SCHEDULE
from scrapy_vastcaptcha.testing import DemoSiteHandle, EmulatorHandle

RESULTS = Path(__file__).resolve().parent / "results"


def _sizes(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(",") if part.strip())


def _commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parent,
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip() or None


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


async def run_all(args: argparse.Namespace, ctx: Context) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for key in args.scenarios:
        started = time.monotonic()
        results[key] = await SCENARIOS[key](ctx)
        results[key]["seconds"] = round(time.monotonic() - started, 1)
        log(f"scenario {key} done in {results[key]['seconds']:.0f} s")
    return results


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument(
        "--scenarios",
        default=",".join(SCENARIOS),
        help="comma-separated scenario numbers (%(default)s)",
    )
    parser.add_argument(
        "--merge",
        action="store_true",
        help="with a subset: also put its figures into results/latest.* (replacing those "
        "scenarios, each marked with the run it comes from)",
    )
    parser.add_argument(
        "--scale", type=float, default=10.0, help="divide every time by this (%(default)g)"
    )
    parser.add_argument(
        "--solve-time", type=float, default=30.0, help="scenario 1's L, real seconds (%(default)g)"
    )
    parser.add_argument(
        "--sizes", type=_sizes, default=(10, 50, 200), help="scenario 1's N values (10,50,200)"
    )
    parser.add_argument(
        "--blocking-sizes",
        type=_sizes,
        default=(10,),
        help="N values run with the blocking baseline; the others are extrapolated (10)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="results folder (%(default)s)")
    args = parser.parse_args()
    args.scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = [s for s in args.scenarios if s not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s) {unknown}; known: {', '.join(SCENARIOS)}")
    args.out.mkdir(parents=True, exist_ok=True)

    info = machine()
    started_at = datetime.datetime.now(datetime.timezone.utc)
    started = time.monotonic()
    pressure0 = cpu_pressure_total()
    log("starting the emulator and the demo site")
    with (
        EmulatorHandle.launch("--seed", "1") as emulator,
        DemoSiteHandle.launch(emulator.url) as site,
    ):
        ctx = Context(
            emulator,
            site,
            scale=args.scale,
            solve_time=args.solve_time,
            sizes=args.sizes,
            blocking_sizes=args.blocking_sizes,
            log=log,
        )
        scenarios = runtime.run(lambda: run_all(args, ctx))
    duration = time.monotonic() - started
    pressure1 = cpu_pressure_total()
    pressure = (
        None
        if pressure0 is None or pressure1 is None
        else round(100 * (pressure1 - pressure0) / 1e6 / duration, 1)
    )
    results: dict[str, Any] = {
        "date": started_at.isoformat(timespec="seconds"),
        "commit": _commit(),
        "duration_s": round(duration, 1),
        "machine": info,
        "cpu_pressure_percent": pressure,
        "scale": args.scale,
        "poll_interval_s": TOKEN_SCHEDULE.interval / args.scale,
        "sdk_polling_s": SDK_POLLING / args.scale,
        "scenarios_run": args.scenarios,
        "scenarios": scenarios,
    }
    text = report.table(results)
    print(text)
    full = args.scenarios == list(SCENARIOS)
    name = "latest" if full else "partial"
    report.write_json(results, args.out / f"{name}.json")
    (args.out / f"{name}.txt").write_text(text)
    latest = args.out / "latest.json"
    if args.merge and not full and latest.exists():
        merged = report.merge(json.loads(latest.read_text()), results)
        report.write_json(merged, latest)
        (args.out / "latest.txt").write_text(report.table(merged))
        log(f"scenario(s) {', '.join(args.scenarios)} merged into {latest}")
    if "1" in scenarios:
        why_not = report.chart(results, args.out / ("scenario1.png" if full else "partial.png"))
        if why_not:
            log(f"no chart: {why_not}")
    log(f"results in {args.out}/{name}.json ({duration:.0f} s in all)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

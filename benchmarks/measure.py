"""Measuring helpers: process CPU and memory from /proc, machine facts, small statistics."""

from __future__ import annotations

import os
import platform
import resource
import statistics
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

_TICK = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def self_rss() -> int:
    """Resident set size of this process, bytes."""
    return int(Path("/proc/self/statm").read_text().split()[1]) * _PAGE


def server_pids() -> dict[str, int]:
    """PIDs of this process's emulator and demo-site children (by command line)."""
    found: dict[str, int] = {}
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
        if ppid != me:
            continue
        for name, marker in (("emulator", b"emulator"), ("demo_site", b"demo-site")):
            if marker in argv:
                found[name] = int(entry.name)
    return found


class CpuMeter:
    """CPU seconds used by this process and the two servers between start and stop."""

    def __init__(self) -> None:
        self.pids = server_pids()
        self._start: dict[str, float] = {}

    def _read(self) -> dict[str, float]:
        values = {"crawler": self_cpu()}
        for name, pid in self.pids.items():
            try:
                values[name] = process_cpu(pid)
            except OSError:
                values[name] = 0.0
        return values

    def start(self) -> None:
        self._start = self._read()

    def stop(self) -> dict[str, float]:
        end = self._read()
        return {name: round(end[name] - self._start.get(name, 0.0), 3) for name in end}


def cpu_pressure_total() -> float | None:
    """Microseconds some runnable task waited for a CPU (Linux PSI), or None."""
    try:
        line = Path("/proc/pressure/cpu").read_text().splitlines()[0]
    except (OSError, IndexError):
        return None
    parts = dict(part.split("=") for part in line.split()[1:])
    return float(parts["total"])


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass

    def version(name: str) -> str | None:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    return {
        "cores": os.cpu_count(),
        "cpu_model": model or platform.processor(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "packages": {
            name: version(name)
            for name in ("scrapy-vastcaptcha", "scrapy", "twisted", "treq", "vastcap", "aiohttp")
        },
    }


@dataclass(frozen=True)
class Summary:
    count: int
    mean: float
    median: float
    p90: float
    max: float

    def to_json(self, digits: int = 4) -> dict[str, float | int]:
        return {
            "count": self.count,
            "mean": round(self.mean, digits),
            "median": round(self.median, digits),
            "p90": round(self.p90, digits),
            "max": round(self.max, digits),
        }


def summarize(values: Iterable[float]) -> Summary:
    data: Sequence[float] = sorted(values)
    if not data:
        return Summary(0, float("nan"), float("nan"), float("nan"), float("nan"))
    p90 = data[min(len(data) - 1, round(0.9 * (len(data) - 1)))]
    return Summary(len(data), statistics.fmean(data), statistics.median(data), p90, data[-1])

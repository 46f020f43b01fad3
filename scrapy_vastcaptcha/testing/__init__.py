"""Run the emulator and the demo site as subprocesses, and drive them from tests.

Standard library only, and synchronous: the servers live in other processes,
so blocking calls here never stall their event loops. Used by the pytest
fixtures in :mod:`scrapy_vastcaptcha.testing.pytest_plugin` and usable on its own::

    with EmulatorHandle.launch("--solve-time", "0.2:0.5") as emulator:
        emulator.configure(faults={"http_5xx": 0.2})
        ...  # point a client at emulator.api_url with emulator.api_key
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import IO, Any, TypeVar

#: Talks to the local servers directly, whatever HTTP_PROXY says.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))

_URL = re.compile(r"http://[^\s()]+")

DEFAULT_START_TIMEOUT = 20.0
DEFAULT_STOP_TIMEOUT = 10.0
TEST_API_KEY = "vastCap_test_0123456789"


def quiet_offline() -> None:
    """Keep offline runs (the demo, the tests, the fixtures) from reaching for the network.

    Scrapy's cookie middleware asks tldextract for the public suffix list; on
    first use tldextract tries to download it, and offline it prints a page of
    tracebacks before falling back to the copy it ships with, which a
    newcomer reads as a crash. With no download URL it uses that copy at once.
    A value the user set is kept.
    """
    os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")


class ServerStartError(RuntimeError):
    """A server process exited or stayed silent instead of announcing its URL."""


class ServerProcess:
    """One ``python -m scrapy_vastcaptcha <command>`` server in a subprocess.

    The command must print its root URL (``http://...``) in its first stdout
    line once it is listening; ``--host 127.0.0.1 --port 0`` is always passed.
    """

    def __init__(
        self,
        command: str,
        args: Sequence[str] = (),
        *,
        start_timeout: float = DEFAULT_START_TIMEOUT,
    ) -> None:
        self.argv = [
            sys.executable, "-m", "scrapy_vastcaptcha", command,
            "--host", "127.0.0.1", "--port", "0", *args,
        ]  # fmt: skip
        self.start_timeout = start_timeout
        self.url = ""
        self.first_line = ""
        self._process: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self._drain: threading.Thread | None = None

    def start(self) -> str:
        """Start the process and return its URL once it announced it."""
        if self._process is not None:
            raise RuntimeError("server process already started")
        # a file, not a pipe: nobody reads stderr while the server runs, and a
        # full pipe would block the server
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the process
        self._process = subprocess.Popen(
            self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._stderr
        )
        lines: list[bytes] = []
        announced = threading.Event()
        self._drain = threading.Thread(
            target=self._read_stdout, args=(self._process.stdout, lines, announced), daemon=True
        )
        self._drain.start()
        if not announced.wait(self.start_timeout):
            raise self._failure(f"did not print its URL within {self.start_timeout:g} s")
        if not lines:
            raise self._failure("exited without printing its URL")
        self.first_line = lines[0].decode(errors="replace").strip()
        match = _URL.search(self.first_line)
        if match is None:
            raise self._failure(f"printed no http:// URL in its first line: {self.first_line!r}")
        self.url = match.group(0).rstrip("/.,;")
        return self.url

    @staticmethod
    def _read_stdout(stdout: IO[bytes], lines: list[bytes], announced: threading.Event) -> None:
        with stdout:
            first = stdout.readline()
            if first:
                lines.append(first)
            announced.set()
            # keep reading so that later output can never fill the pipe
            for _ in stdout:
                pass

    def _stderr_text(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")

    def _failure(self, reason: str) -> ServerStartError:
        """Stop the process and describe why it is unusable, with its stderr."""
        details = self._stderr_text().strip() or "(empty)"
        self.stop()
        return ServerStartError(f"{' '.join(self.argv)} {reason}\n--- stderr ---\n{details}")

    @property
    def returncode(self) -> int | None:
        """The exit status, or None while running (or before start)."""
        return self._process.poll() if self._process is not None else None

    def stop(self, timeout: float = DEFAULT_STOP_TIMEOUT, sig: int = signal.SIGTERM) -> int | None:
        """Send ``sig``, wait up to ``timeout`` seconds, then kill; returns the exit status."""
        process = self._process
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(sig)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._drain is not None:
            self._drain.join(timeout)
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        return process.returncode

    def __enter__(self) -> ServerProcess:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


_H = TypeVar("_H", bound="_Handle")


class _Handle:
    """A running server, optionally owning its process."""

    def __init__(self, url: str, process: ServerProcess | None = None) -> None:
        self.url = url.rstrip("/")
        self.process = process

    def close(self) -> None:
        """Stop the process if this handle started it."""
        if self.process is not None:
            self.process.stop()

    def __enter__(self: _H) -> _H:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class ControlError(RuntimeError):
    """The emulator's control API refused a request; the message is its answer."""


class EmulatorHandle(_Handle):
    """A running emulator: its URLs, a valid API key, and its control API.

    ``url`` is the root (``http://127.0.0.1:PORT``); give ``api_url`` and
    ``api_key`` to the client under test.
    """

    api_key = TEST_API_KEY

    @classmethod
    def launch(cls, *args: str, start_timeout: float = DEFAULT_START_TIMEOUT) -> EmulatorHandle:
        """Start ``vastcaptcha emulator`` with extra command-line ``args``."""
        process = ServerProcess("emulator", args, start_timeout=start_timeout)
        return cls(process.start(), process)

    @property
    def api_url(self) -> str:
        """The API base URL, to which method names are appended."""
        return self.url + "/api/solver"

    def _request(self, path: str, payload: object = None, timeout: float = 30.0) -> Any:
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(
            self.url + path, data=data, headers={"Content-Type": "application/json"}
        )
        try:
            with _DIRECT.open(request, timeout=timeout) as response:
                return json.load(response)
        except urllib.error.HTTPError as exc:
            with exc:
                raise ControlError(f"{path}: HTTP {exc.code}: {exc.read().decode()}") from None

    def call(self, method: str, payload: dict[str, Any] | None = None) -> Any:
        """POST one API ``method`` (e.g. "getBalance"); ``clientKey`` defaults to ``api_key``."""
        body = {"clientKey": self.api_key, **(payload or {})}
        return self._request(f"/api/solver/{method}", body)

    def stats(self) -> dict[str, Any]:
        """Counters: calls, errors, faults, tasks, polls, charges and verifications."""
        result: dict[str, Any] = self._request("/_emulator/stats")
        return result

    def tasks(self) -> list[dict[str, Any]]:
        """Every task record since the last reset, oldest first."""
        result: list[dict[str, Any]] = self._request("/_emulator/tasks")
        return result

    def config(self) -> dict[str, Any]:
        """The settings in force."""
        result: dict[str, Any] = self._request("/_emulator/config")
        return result

    def configure(self, **settings: Any) -> dict[str, Any]:
        """Merge ``settings`` (e.g. ``solve_time=[0.1, 0.2]``); returns the new settings."""
        result: dict[str, Any] = self._request("/_emulator/config", settings)
        return result

    def reset(self) -> None:
        """Forget tasks, tokens, counters and accounts; restore the start-up settings."""
        self._request("/_emulator/reset", {})

    def set_account(self, key: str, **fields: Any) -> dict[str, Any]:
        """Set ``balance``, ``disabled``, ``ip_allowed`` or ``banned`` for ``key``."""
        result: dict[str, Any] = self._request("/_emulator/accounts", {"key": key, **fields})
        return result

    def solve(self, task: dict[str, Any], *, timeout: float = 10.0) -> dict[str, Any]:
        """Solve ``task`` (a ``createTask`` task object) by hand and return the
        solution: for tests that need a real token without going through the
        middleware or the client."""
        created = self.call("createTask", {"task": task})
        if "taskId" not in created:
            raise ControlError(f"createTask refused the task: {created}")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = self.call("getTaskResult", {"taskId": created["taskId"]})
            if result.get("status") == "ready":
                solution: dict[str, Any] = result["solution"]
                return solution
            if result.get("status") != "processing":
                raise ControlError(f"task {created['taskId']} failed: {result}")
            time.sleep(0.02)
        raise TimeoutError(f"task {created['taskId']} not ready within {timeout} s")

    def wait_for(
        self,
        predicate: Callable[[dict[str, Any]], bool],
        *,
        timeout: float = 10.0,
        interval: float = 0.05,
    ) -> dict[str, Any]:
        """Poll :meth:`stats` until ``predicate(stats)`` is true; returns those stats."""
        deadline = time.monotonic() + timeout
        while True:
            stats = self.stats()
            if predicate(stats):
                return stats
            if time.monotonic() >= deadline:
                raise TimeoutError(f"emulator stats did not reach the condition in {timeout} s")
            time.sleep(interval)


class DemoSiteHandle(_Handle):
    """A running demo site (``vastcaptcha demo-site``); ``url`` is its root."""

    @classmethod
    def launch(
        cls, emulator_url: str, *args: str, start_timeout: float = DEFAULT_START_TIMEOUT
    ) -> DemoSiteHandle:
        """Start the demo site checking tokens against the emulator at ``emulator_url``."""
        process = ServerProcess(
            "demo-site", ["--emulator-url", emulator_url, *args], start_timeout=start_timeout
        )
        return cls(process.start(), process)

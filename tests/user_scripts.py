"""Running a user's script in a fresh interpreter, as the tests of the helper do.

A subprocess is the realistic setting for a plain script (no reactor, no event
loop managed by the user) and keeps the helper's reactor thread away from the
test process's own reactor.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any


def run_script(source: str, *args: str, timeout: float = 180, cwd: Path | None = None) -> Any:
    """Run ``source`` (dedented) with ``args``; what it prints as JSON on its last line.

    The script must exit cleanly: its exit status and the end of its stderr are
    the assertion's message otherwise.
    """
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(source), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])

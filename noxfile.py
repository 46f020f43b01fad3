"""The support matrix: what pyproject.toml declares is what these sessions test.

    nox                              # everything below, one session after another
    nox -s tests                     # newest dependencies, every supported Python
    nox -s floors                    # oldest allowed versions (constraints-floors.txt)
    nox -s types                     # mypy for each supported Python's typeshed
    nox -s tests-3.12 -- -x -k client  # one session; pytest arguments after --

Each session installs the package (not editable) with the ``test`` dependency
group into its own virtualenv under .nox/; a Python that is not installed is
skipped. The README's test command (``bash ./scripts/test.sh``, which CI runs)
stays the fast check on one Python with the newest releases.
"""

from __future__ import annotations

from pathlib import Path

import nox

PYTHONS = ["3.10", "3.11", "3.12", "3.13"]
FLOORS = "constraints-floors.txt"

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.error_on_missing_interpreters = False

PYPROJECT = nox.project.load_toml("pyproject.toml")
TEST_GROUP = nox.project.dependency_groups(PYPROJECT, "test")


# The distributions whose versions the floors pin, logged by every session.
KEY_DISTRIBUTIONS = sorted(
    {
        line.split("==")[0]
        for line in Path(FLOORS).read_text().splitlines()
        if "==" in line and not line.startswith("#")
    }
)


def _versions(session: nox.Session) -> None:
    """Log the versions that decide compatibility, for the record of the run."""
    session.run(
        "python",
        "-c",
        "import sys; from importlib.metadata import version as v; print(sys.version); "
        f"print(', '.join(f'{{n}} {{v(n)}}' for n in {KEY_DISTRIBUTIONS!r}))",
        silent=False,
    )


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """The suite with the newest releases that the declared ranges allow."""
    session.install(".", *TEST_GROUP)
    _versions(session)
    session.run("pytest", *session.posargs)


# The floors differ on 3.13 (see pyproject.toml), so both ends are tested.
@nox.session(python=[PYTHONS[0], PYTHONS[-1]])
def floors(session: nox.Session) -> None:
    """The suite with the oldest declared version of every direct dependency."""
    session.install("-c", FLOORS, ".", *TEST_GROUP)
    _versions(session)
    session.run("pytest", *session.posargs)


@nox.session(python=PYTHONS[-1])
def types(session: nox.Session) -> None:
    """mypy as configured, once per supported Python version (its typeshed differs)."""
    session.install("-e", ".", *nox.project.dependency_groups(PYPROJECT, "dev"))
    for version in PYTHONS:
        session.run("mypy", "--python-version", version)

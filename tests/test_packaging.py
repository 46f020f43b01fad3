"""The installed distribution says what the package needs and which version it is."""

from __future__ import annotations

import ast
import re
import sys
from importlib import metadata
from pathlib import Path

import pytest

import scrapy_vastcaptcha

DISTRIBUTION = "scrapy-vastcaptcha"
PACKAGE = Path(scrapy_vastcaptcha.__file__).parent
# Imported only by pytest itself, through the pytest11 entry point.
IMPORTED_BY_ITS_HOST = {"pytest"}


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _third_party_imports() -> set[str]:
    names: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name.partition(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.partition(".")[0])
    return names - set(sys.stdlib_module_names) - {PACKAGE.name}


def _declared() -> set[str]:
    """Distributions named in Requires-Dist, extras included."""
    requirements = metadata.requires(DISTRIBUTION) or []
    return {
        _canonical(match.group())
        for requirement in requirements
        if (match := re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement))
    }


def test_every_imported_module_is_declared() -> None:
    providers = metadata.packages_distributions()
    declared = _declared()
    # A module of an extra that is not installed here goes by its own name.
    undeclared = {
        module
        for module in _third_party_imports() - IMPORTED_BY_ITS_HOST
        if not {_canonical(d) for d in providers.get(module, [module])} & declared
    }
    assert undeclared == set()


def test_the_metadata_version_is_the_package_version() -> None:
    assert metadata.version(DISTRIBUTION) == scrapy_vastcaptcha.__version__


def _pins(requirements: list[str], operator: str) -> set[tuple[str, str, str]]:
    """(name, version, marker) of each ``name<operator>version[; marker]``."""
    pins = set()
    for requirement in requirements:
        spec, _, marker = requirement.partition(";")
        match = re.fullmatch(rf"\s*([A-Za-z0-9._-]+)\s*{operator}\s*([0-9][^\s,]*)\s*", spec)
        if match:
            name, version = match.groups()
            # 2.13 and 2.13.0 are the same floor; quotes and spaces don't matter.
            version = re.sub(r"(\.0)+$", "", version)
            pins.add((_canonical(name), version, re.sub(r"[\s'\"]", "", marker)))
    return pins


def test_the_floors_session_pins_every_declared_floor() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    root = Path(__file__).parent.parent
    project = tomllib.loads((root / "pyproject.toml").read_text())
    declared = [
        *project["project"]["dependencies"],
        *(r for extra in project["project"]["optional-dependencies"].values() for r in extra),
        *project["dependency-groups"]["test"],
    ]
    constraints = (root / "constraints-floors.txt").read_text().splitlines()
    assert _pins(constraints, "==") == _pins(declared, ">=")

"""The installed distribution says what the package needs and which version it is."""

from __future__ import annotations

import ast
import re
import sys
from importlib import metadata
from pathlib import Path

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

"""The JavaScript that runs in the browser, read once from the package's ``js/`` files.

Every script is a function expression: values reach it only as the argument of
``evaluate`` / ``wait_for_function``, never by building source text.
"""

from __future__ import annotations

from functools import cache
from importlib import resources


@cache
def script(name: str) -> str:
    """The source of ``js/<name>.js``."""
    return resources.files(__package__).joinpath("js").joinpath(f"{name}.js").read_text("utf-8")


def hook_script() -> str:
    """The init script that records ``*.render(...)`` calls; see :func:`install_hooks`."""
    return script("hook")

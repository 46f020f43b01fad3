"""The README documents every setting, meta key and stat the code has."""

from __future__ import annotations

from pathlib import Path

import pytest

from scrapy_vastcaptcha.config import DEFAULTS
from scrapy_vastcaptcha.meta import SPEC_KEYS
from scrapy_vastcaptcha.middleware import STATS

README = (Path(__file__).parent.parent / "README.md").read_text()


@pytest.mark.parametrize("name", sorted(DEFAULTS))
def test_every_setting_is_in_the_settings_table(name: str) -> None:
    assert f"| `{name}` |" in README


@pytest.mark.parametrize("key", sorted(SPEC_KEYS))
def test_every_meta_key_is_in_the_meta_table(key: str) -> None:
    assert f"| `{key}` |" in README


@pytest.mark.parametrize("stat", sorted(STATS))
def test_every_stat_is_in_the_stats_table(stat: str) -> None:
    assert f"| `vastcaptcha/{stat}` |" in README


def test_first_screen_gives_the_two_commands() -> None:
    first_screen = "\n".join(README.splitlines()[:15])
    assert "bash ./scripts/demo.sh" in first_screen
    assert "bash ./scripts/test.sh" in first_screen


def test_ci_runs_the_readme_test_command() -> None:
    ci = (Path(__file__).parent.parent / ".ci" / "run").read_text()
    assert "bash ./scripts/test.sh" in ci


def test_python_examples_in_the_readme_compile() -> None:
    blocks = README.split("```python\n")[1:]
    assert len(blocks) >= 5
    for block in blocks:
        compile(block.split("```", 1)[0], "README.md", "exec")

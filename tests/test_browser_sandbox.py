"""Chromium keeps its sandbox unless the environment cannot give it one."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from scrapy_vastcaptcha.testing import browser


@pytest.fixture
def no_container(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(browser, "CONTAINER_MARKERS", (str(tmp_path / "no-such-file"),))


@pytest.mark.usefixtures("no_container")
def test_a_normal_user_outside_containers_keeps_the_sandbox(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert "--no-sandbox" not in browser.chromium_launch_options()["args"]


@pytest.mark.usefixtures("no_container")
def test_root_runs_without_the_sandbox(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert "--no-sandbox" in browser.chromium_launch_options()["args"]


def test_a_container_runs_without_the_sandbox(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    marker = tmp_path / ".dockerenv"
    marker.touch()
    monkeypatch.setattr(browser, "CONTAINER_MARKERS", (str(marker),))
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert "--no-sandbox" in browser.chromium_launch_options()["args"]


def test_every_other_flag_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    args = browser.chromium_launch_options()["args"]
    assert args[: len(browser.CHROMIUM_ARGS)] == list(browser.CHROMIUM_ARGS)

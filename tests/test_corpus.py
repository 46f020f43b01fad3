"""Detection on real pages nobody here wrote (tests/corpus/, see PROVENANCE.md).

Each page is compared with the truth in expected.json, read by hand from the
page: every widget's kind, site key, action, invisible flag, Enterprise flag
and form, and no extra widgets; where the truth names them, fields the token
must go into and fields it must stay out of.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from scrapy_vastcaptcha.detect import Detection, detect, might_have_captcha

CORPUS = Path(__file__).parent / "corpus"
TRUTH: dict[str, list[dict[str, Any]]] = json.loads(
    (CORPUS / "expected.json").read_text(encoding="utf-8")
)["pages"]
URL = "https://corpus.example/page"


def observed(found: list[Detection]) -> list[dict[str, Any]]:
    """What a page's truth records, taken from the detector's answer."""
    return [
        {
            "kind": d.captcha.kind,
            "sitekey": d.captcha.sitekey,
            "action": d.captcha.action,
            "invisible": d.captcha.invisible,
            "enterprise": d.captcha.enterprise,
            "form": d.form,
        }
        for d in found
    ]


def expected(truth: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "kind": w["kind"],
            "sitekey": w["sitekey"],
            "action": w["action"],
            "invisible": w["invisible"],
            "enterprise": w.get("enterprise", False),
            "form": w["form"],
        }
        for w in truth
    ]


def test_corpus_covers_every_kind_and_negatives() -> None:
    kinds = {w["kind"] for widgets in TRUTH.values() for w in widgets}
    assert kinds == {"recaptcha-v2", "recaptcha-v3", "hcaptcha", "turnstile"}
    assert len(TRUTH) >= 65
    assert sum(1 for widgets in TRUTH.values() if not widgets) >= 12
    assert {p.name for p in CORPUS.glob("*.html")} == set(TRUTH)


@pytest.mark.parametrize("page", sorted(TRUTH))
def test_page_detected_as_read_by_hand(page: str) -> None:
    html = (CORPUS / page).read_text(encoding="utf-8")
    found = detect(html, URL)
    key = lambda w: (w["form"] is None, w["form"] or 0, w["kind"], w["sitekey"])  # noqa: E731
    assert sorted(observed(found), key=key) == sorted(expected(TRUTH[page]), key=key)
    fields = {(d.captcha.kind, d.captcha.sitekey, d.form): d.captcha.fields for d in found}
    for widget in TRUTH[page]:
        got = fields[widget["kind"], widget["sitekey"], widget["form"]]
        for name in widget.get("fields_include", ()):
            assert name in got
        for name in widget.get("fields_exclude", ()):
            assert name not in got
    if TRUTH[page]:
        assert might_have_captcha(html.encode())


@pytest.mark.parametrize("page", sorted(TRUTH))
def test_every_page_provenance_comes_first(page: str) -> None:
    assert (CORPUS / page).read_text(encoding="utf-8").startswith("<!-- provenance: ")

"""Crawls that must survive faults, keep the key secret and shrug off hostile pages."""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
import scrapy

from scrapy_vastcaptcha import CaptchaError
from scrapy_vastcaptcha.api.credentials import ApiKey
from scrapy_vastcaptcha.demo.spider import ShopSpider, expected_skus
from scrapy_vastcaptcha.testing import DemoSiteHandle, EmulatorHandle
from tests import static_site
from tests.crawling import captcha_settings, crawl, crawl_requests, finish, items, start_crawl

ROOT = Path(__file__).parent.parent

#: Every fault crawl must end within this many seconds (they take a few).
FAULT_CRAWL_BOUND = 90.0


@pytest.mark.slow
@pytest.mark.parametrize(
    ("emulator_settings", "crawl_settings", "evidence"),
    [
        ({"faults": {"http_5xx": 0.3}}, {}, ("faults", "http_5xx")),
        ({"faults": {"malformed": 0.1}}, {}, ("faults", "malformed")),
        ({"faults": {"drop": 0.1}}, {}, ("faults", "drop")),
        (
            {"faults": {"slow": 0.1}, "slow_delay": 5},
            {"VASTCAPTCHA_HTTP_TIMEOUT": 0.5},
            ("faults", "slow"),
        ),
        ({"faults": {"unsolvable": 0.2}}, {}, ("errors", "ERROR_CAPTCHA_UNSOLVABLE")),
        ({"capacity": 3}, {}, ("errors", "ERROR_NO_SLOT_AVAILABLE")),
    ],
    ids=[
        "5xx-30pct",
        "malformed-10pct",
        "drop-10pct",
        "slow-10pct",
        "unsolvable-20pct",
        "capacity-3",
    ],
)
@pytest_twisted.ensureDeferred
async def test_every_item_is_scraped_once_despite_faults(
    vastcaptcha_emulator: EmulatorHandle,
    vastcaptcha_demo_site: DemoSiteHandle,
    emulator_settings: dict[str, Any],
    crawl_settings: dict[str, Any],
    evidence: tuple[str, str],
) -> None:
    vastcaptcha_emulator.configure(solve_time=[0.1, 0.4], seed=11, **emulator_settings)
    started = time.monotonic()
    result = await crawl(
        ShopSpider,
        captcha_settings(
            vastcaptcha_emulator, CLOSESPIDER_TIMEOUT=FAULT_CRAWL_BOUND, **crawl_settings
        ),
        site=vastcaptcha_demo_site.url,
        paths=["/recaptcha-v2"],
        pages=25,
    )
    elapsed = time.monotonic() - started
    spider = result.crawler.spider
    assert isinstance(spider, ShopSpider)
    assert [f.getErrorMessage() for f in spider.failures] == []
    assert result.reason == "finished"
    assert elapsed < FAULT_CRAWL_BOUND
    skus = Counter(item["sku"] for item in result.items)
    assert set(skus) == expected_skus(25, ["recaptcha-v2"])
    assert max(skus.values()) == 1
    group, name = evidence
    assert vastcaptcha_emulator.stats()[group].get(name, 0) > 0


def run_process_crawl(
    emulator: EmulatorHandle, site: DemoSiteHandle, key: str, workdir: Path
) -> str:
    """A DEBUG-level crawl in its own process; returns everything it printed and saved."""
    process = start_crawl(
        emulator,
        site,
        workdir,
        "crawl",
        "LOG_LEVEL=DEBUG",
        "STATS_DUMP=True",
        paths="/recaptcha-v2,/hcaptcha,/image",
        api_key=key,
    )
    stats = finish(process, workdir, "crawl")
    return (workdir / "crawl.log").read_text() + json.dumps(stats) + json.dumps(items(workdir))


@pytest.mark.slow
def test_the_key_never_appears_in_output(
    vastcaptcha_emulator: EmulatorHandle, vastcaptcha_demo_site: DemoSiteHandle, tmp_path: Path
) -> None:
    vastcaptcha_emulator.configure(solve_time=0.1, faults={"unsolvable": 0.3}, seed=5)
    good = "vastCap_GOODSECRET_0123456789"
    output = run_process_crawl(vastcaptcha_emulator, vastcaptcha_demo_site, good, tmp_path)
    assert "item_scraped_count" in output
    assert "Solved recaptcha-v2" in output
    assert "GOODSECRET" not in output
    assert ApiKey(good).prefix in output  # the prefix is how the key is shown

    bad = "vastCap_DEADSECRET_0123456789"
    vastcaptcha_emulator.set_account(bad, disabled=True)
    (tmp_path / "dead").mkdir()
    output = run_process_crawl(vastcaptcha_emulator, vastcaptcha_demo_site, bad, tmp_path / "dead")
    assert "ERROR_ACCOUNT_DISABLED" in output
    assert "vastcaptcha_account_disabled" in output
    assert "DEADSECRET" not in output


def requests(*urls: str) -> list[scrapy.Request]:
    return [scrapy.Request(url) for url in urls]


def page(html: str, status: int = 200) -> static_site.Page:
    return static_site.Page(html.encode(), status)


@pytest_twisted.ensureDeferred
async def test_form_posting_to_another_site_is_followed_without_the_key(
    vastcaptcha_emulator: EmulatorHandle,
    site: static_site.StaticSite,
    other_site: static_site.StaticSite,
) -> None:
    vastcaptcha_emulator.configure(solve_time=0.05)
    site.pages["/login"] = page(
        f'<form method="post" action="{other_site.url}/submit"><input name="user" value="u1">'
        '<div class="g-recaptcha" data-sitekey="6Lc-other-site-key"></div></form>',
        status=403,
    )
    spider = await crawl_requests(vastcaptcha_emulator, requests(f"{site.url}/login"))
    (response,) = spider.responses
    assert response.url == f"{other_site.url}/submit"
    (post,) = other_site.hits
    assert b"user=u1" in post.body
    assert b"g-recaptcha-response=03" in post.body
    for hit in site.hits + other_site.hits:
        assert vastcaptcha_emulator.api_key.encode() not in hit.body
        assert vastcaptcha_emulator.api_key not in str(hit.headers)


@pytest_twisted.ensureDeferred
async def test_malformed_html_still_works(
    vastcaptcha_emulator: EmulatorHandle, site: static_site.StaticSite
) -> None:
    vastcaptcha_emulator.configure(solve_time=0.05)
    site.pages["/broken"] = page(
        '<html><body><form method=post action=/done><table><tr><td><div class="g-recaptcha" '
        "data-sitekey=6Lc-broken-markup><p><b>unclosed <i>tags</form"
    )
    spider = await crawl_requests(vastcaptcha_emulator, requests(f"{site.url}/broken"))
    assert spider.errors == []
    (response,) = spider.responses
    assert response.url.endswith("/done")
    assert [h.path for h in site.hits] == ["/broken", "/done"]


@pytest_twisted.ensureDeferred
async def test_many_widgets_are_refused_without_spending(
    vastcaptcha_emulator: EmulatorHandle, site: static_site.StaticSite
) -> None:
    widgets = "".join(
        f'<div class="g-recaptcha" data-sitekey="6Lc-many-{n:03d}"></div>' for n in range(60)
    )
    site.pages["/many"] = page(f"<form>{widgets}</form>")
    spider = await crawl_requests(vastcaptcha_emulator, requests(f"{site.url}/many"))
    (failure,) = spider.errors
    assert isinstance(failure.value, CaptchaError)
    assert failure.value.code == "TOO_MANY_CAPTCHAS"
    assert vastcaptcha_emulator.stats()["calls"]["createTask"] == 0


@pytest_twisted.ensureDeferred
async def test_hostile_sitekey_is_refused_and_odd_action_sent_verbatim(
    vastcaptcha_emulator: EmulatorHandle, site: static_site.StaticSite
) -> None:
    vastcaptcha_emulator.configure(solve_time=0.05)
    site.pages["/hostile-key"] = page(
        '<form><div class="g-recaptcha" data-sitekey="6Lc\'&quot;&lt;/script&gt;ü"></div></form>'
    )
    action = 'it\'s "</script>" ü'
    site.pages["/odd-action"] = page(
        '<form method="post" action="/ok"><div class="cf-turnstile" data-sitekey="0x4AAAAAAAodd" '
        'data-action="it\'s &quot;&lt;/script&gt;&quot; ü"></div></form>'
    )
    spider = await crawl_requests(
        vastcaptcha_emulator, requests(f"{site.url}/hostile-key", f"{site.url}/odd-action")
    )
    (failure,) = spider.errors
    assert isinstance(failure.value, CaptchaError)
    assert failure.value.code == "INVALID_TASK"
    assert "website_key is malformed" in str(failure.value)
    (task,) = vastcaptcha_emulator.tasks()
    assert task["fields"]["action"] == action
    assert [r.url.rsplit("/", 1)[-1] for r in spider.responses] == ["ok"]


@pytest_twisted.ensureDeferred
async def test_binary_huge_and_non_html_responses_pass_through(
    vastcaptcha_emulator: EmulatorHandle, site: static_site.StaticSite
) -> None:
    noise = random.Random(1).randbytes(2_000_000)
    site.pages["/blob"] = static_site.Page(
        noise + b'class="g-recaptcha" data-sitekey="x"' + noise,
        content_type=b"application/octet-stream",
    )
    site.pages["/huge"] = page("<html><body>" + "<p>row</p>" * 1_000_000 + "</body></html>")
    site.pages["/json"] = static_site.Page(
        b'{"html": "<div class=\\"g-recaptcha\\" data-sitekey=\\"6Lc-in-json\\"></div>"}',
        content_type=b"application/json",
    )
    urls = [f"{site.url}/{name}" for name in ("blob", "huge", "json")]
    spider = await crawl_requests(vastcaptcha_emulator, requests(*urls))
    assert spider.errors == []
    assert sorted(r.url.rsplit("/", 1)[-1] for r in spider.responses) == ["blob", "huge", "json"]
    assert vastcaptcha_emulator.stats()["calls"]["createTask"] == 0

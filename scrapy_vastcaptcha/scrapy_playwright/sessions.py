"""Session-wide challenges met by several pages of one browser context."""

from __future__ import annotations

import asyncio

from scrapy import Request
from scrapy.http import HtmlResponse

from scrapy_vastcaptcha.analysis import AnalysisConfig, Verdict, analyse
from scrapy_vastcaptcha.captcha import Captcha
from scrapy_vastcaptcha.meta import Spec
from scrapy_vastcaptcha.sessions import (
    SharedChallenges,
    challenge_key,
    declared_or_evident,
    response_evidence,
)

__all__ = ["BrowserSessions"]


class BrowserSessions:
    """Session-wide challenges met by several pages of one browser context.

    The rules of :mod:`~scrapy_vastcaptcha.sessions`, with the browser
    context (``meta["playwright_context"]``) as the session: the first page
    solves the challenge, the others wait for it (costing nothing) and then
    reload, carrying the clearance cookie the context now holds. A page that
    met a session-wide challenge already passed (it was loaded just before the
    clearance came) reloads once before anything is solved for it.
    """

    def __init__(self, analysis: AnalysisConfig, policy: str) -> None:
        """``analysis``: the middleware's; ``policy``: VASTCAPTCHA_SESSION_CHALLENGES."""
        self._analysis = analysis
        self._policy = policy
        self._shared: SharedChallenges[asyncio.Future[str]] = SharedChallenges()
        #: Keys shown session-wide (by one page, or by pages waiting on it) ...
        self._session_wide: set[str] = set()
        #: ... and those of them a page has passed.
        self._passed: set[str] = set()

    def assess(
        self, request: Request, snapshot: HtmlResponse, spec: Spec, captchas: list[Captcha]
    ) -> tuple[str, bool | None]:
        """The challenge's key and whether the page shows it is session-wide."""
        plan = analyse(snapshot, spec, None, self._analysis)
        form = plan.form if plan.verdict is Verdict.SOLVE else None
        evidence = response_evidence(
            snapshot, jar=request.meta.get("playwright_context"), declared=spec.session_wide
        )
        evident = declared_or_evident(evidence, form, self._policy)
        key = challenge_key(evidence, captchas, form)
        if evident:
            self._session_wide.add(key)
        return key, evident

    def passed(self, key: str) -> bool:
        """Whether a page of the session has passed this session-wide challenge."""
        return key in self._passed

    def learn_per_request(self, key: str) -> bool:
        return self._shared.learn_per_request(key)

    def decide(self, key: str, url: str, evident: bool | None) -> str:
        """``"lead"``, ``"wait"`` or ``"own"``, as :meth:`SharedChallenges.decide`."""
        return self._shared.decide(key, url, evident)

    async def wait(self, key: str, seconds: float) -> str:
        """Wait for the leader: ``"released"`` (it passed), ``"promoted"`` (it
        failed: solve for the others) or ``"timeout"``."""
        woken: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._shared.wait(key, woken)
        try:
            return await asyncio.wait_for(asyncio.shield(woken), max(seconds, 0.0))
        except asyncio.TimeoutError:
            return "timeout"

    def settle(self, key: str, *, passed: bool) -> None:
        """The leader is done with the challenge."""
        if passed:
            waiters = self._shared.release(key)
            if waiters or key in self._session_wide:
                self._passed.add(key)
            for woken in waiters:
                if not woken.done():
                    woken.set_result("released")
            return
        while True:
            waiting = self._shared.promote(key)
            if waiting is None:
                return
            if not waiting.done():  # one that timed out solves on its own
                waiting.set_result("promoted")
                return

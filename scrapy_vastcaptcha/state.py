"""What the middleware remembers about one request across its solve rounds.

It travels in ``request.meta["_vastcaptcha"]`` as plain data (JOBDIR pickles
it, scrapy-redis serialises it), so :meth:`SolveState.to_meta` writes only
lists, dicts, strings and numbers, and :meth:`SolveState.from_meta` reads
both today's dicts and those written by 0.1 (same key names; keys added
since are optional), so queues written before an upgrade still resume.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from scrapy_vastcaptcha.captcha import Captcha
from scrapy_vastcaptcha.resubmit import FormPlan

STATE_KEY = "_vastcaptcha"


@dataclass(frozen=True)
class Failure:
    """Why the captcha of a request could not be handled; raised in
    ``process_request`` so that it reaches the request's errback."""

    code: str
    message: str


@dataclass(frozen=True)
class SolveState:
    #: ``meta["vastcaptcha"]`` as the user gave it (the resubmission's meta is ours).
    spec: Any = None
    #: Solve rounds started for this request.
    attempts: int = 0
    #: Tasks created for this request, over all rounds (the per-request task bound).
    tasks: int = 0
    #: Seconds spent solving, over all rounds (the per-request time bound).
    solve_seconds: float = 0.0
    #: The last round's captchas, form and page: enough to solve again when
    #: the token went stale in a queue.
    captchas: tuple[Captcha, ...] = ()
    plan: FormPlan | None = None
    referer: str | None = None
    image_url: str | None = None
    #: URL the tokens were sent to, and when they were issued.
    token_url: str | None = None
    solved_at: float | None = None
    #: What ``response.meta["vastcaptcha"]`` tells the callback.
    outcome: Mapping[str, Any] | None = None
    failure: Failure | None = None
    #: ``(sitekey, kind)`` pairs whose token the site rejected: the next
    #: round tries the widget's other possible kind (v2 vs v3).
    rejected: tuple[tuple[str, str], ...] = ()
    #: The session-wide challenge this request waited on, or solved for others.
    challenge: str | None = None
    waited: bool = False

    @property
    def answered(self) -> bool:
        """A token was sent for this request (a request handed back at
        close and resumed has state but was never answered)."""
        return self.token_url is not None

    def failed(self, code: str, message: str) -> SolveState:
        return replace(self, failure=Failure(code, message))

    def to_meta(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "spec": self.spec,
            "attempts": self.attempts,
            "tasks": self.tasks,
            "solve_seconds": self.solve_seconds,
        }
        if self.captchas:
            data["captchas"] = [c.to_dict() for c in self.captchas]
        optional: dict[str, Any] = {
            "plan": self.plan.to_dict() if self.plan else None,
            "referer": self.referer,
            "image_url": self.image_url,
            "token_url": self.token_url,
            "solved_at": self.solved_at,
            "outcome": dict(self.outcome) if self.outcome is not None else None,
            "failure": {"code": self.failure.code, "message": self.failure.message}
            if self.failure
            else None,
            "rejected": [list(pair) for pair in self.rejected] or None,
            "challenge": self.challenge,
            "waited": self.waited or None,
        }
        data.update({k: v for k, v in optional.items() if v is not None})
        return data

    @classmethod
    def from_meta(cls, meta: Mapping[str, Any]) -> SolveState | None:
        data = meta.get(STATE_KEY)
        if not isinstance(data, Mapping):
            return None
        failure = data.get("failure")
        plan = data.get("plan")
        return cls(
            spec=data.get("spec"),
            attempts=int(data.get("attempts", 0)),
            tasks=int(data.get("tasks", 0)),
            solve_seconds=float(data.get("solve_seconds", 0.0)),
            captchas=tuple(Captcha.from_dict(c) for c in data.get("captchas") or ()),
            plan=FormPlan.from_dict(plan) if plan else None,
            referer=data.get("referer"),
            image_url=data.get("image_url"),
            token_url=data.get("token_url"),
            solved_at=data.get("solved_at"),
            outcome=data.get("outcome"),
            failure=Failure(str(failure["code"]), str(failure["message"])) if failure else None,
            rejected=tuple((str(k), str(v)) for k, v in data.get("rejected") or ()),
            challenge=data.get("challenge"),
            waited=bool(data.get("waited", False)),
        )


def with_state(meta: Mapping[str, Any], state: SolveState | None, *drop: str) -> dict[str, Any]:
    """A copy of ``meta`` carrying ``state`` (or none), without the keys in ``drop``."""
    out = {k: v for k, v in meta.items() if k not in drop and k != STATE_KEY}
    if state is not None:
        out[STATE_KEY] = state.to_meta()
    return out

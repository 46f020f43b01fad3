"""The emulated service: accounts, tasks, counters and faults, without any I/O.

Time comes from an injectable ``clock`` and every behavioural random choice
(solve times, faults, scores) from one seeded ``random.Random``, so a seed
reproduces a run and tests can step time by hand. Task ids and tokens come from
a second generator that is never reseeded: after a reset they must not repeat,
or a client left over from an earlier test could hit a new test's task.
Task progress is computed lazily from the clock whenever someone looks.

How the service is emulated where its documentation is silent:

- Any ``clientKey`` starting with ``vastCap_`` (the SDK's examples) is an
  account with ``default_balance``; other keys exist only through
  :meth:`EmulatorState.set_account`. The key is read from the body only.
- Checks run in this order: the body is a JSON object (else
  ``ERROR_VALIDATION_FAILED``), the key and its account's standing, then the
  method's own fields; createTask then checks the balance (at least $0.001,
  as documented) and the capacity (``ERROR_NO_SLOT_AVAILABLE``).
- The balance is charged when a task is solved, never for a failed task.
- A task that fails answers ``status`` "failed" or "error" (both spellings
  are documented; each task keeps one), with the nested ``error`` object.
  Failures are drawn when the task is created: a proxy whose host is under
  the reserved ``.invalid`` domain, or the ``proxy_failure`` fault, gives
  ``ERROR_PROXY_CONNECTION_FAILED``; the ``unsolvable`` fault gives
  ``ERROR_CAPTCHA_UNSOLVABLE``.
- A task id is a UUID string, known only to the key that created it, for
  ``task_ttl`` seconds (~5 minutes); after that, ``ERROR_TASK_NOT_FOUND``.
  A non-string ``taskId`` is ``ERROR_VALIDATION_FAILED``.
- Polls are neither rate-limited nor capped per task (some peers refuse
  polls closer than 2 s or stop after ~120; VastCap only advises 3-5 s):
  tests and benchmarks poll fast, and the task records count every poll.
"""

from __future__ import annotations

import dataclasses
import heapq
import json
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from .config import API_METHODS, EmulatorConfig
from .protocol import ApiError, error_body, success_body, task_failure_body
from .tokens import TokenClaims, TokenRegistry, image_answer, mint_token
from .validation import TaskSpec, TaskValidationError, validate_task

Clock = Callable[[], float]

KEY_PREFIX = "vastCap_"
MIN_BALANCE = 0.001
V3_SCORES = (0.3, 0.5, 0.7, 0.9)
ACCOUNT_FIELDS = ("balance", "disabled", "ip_allowed", "banned")


@dataclasses.dataclass
class Account:
    """One API key's balance and standing."""

    balance: float
    disabled: bool = False
    ip_allowed: bool = True
    banned: bool = False


@dataclasses.dataclass(frozen=True)
class FaultPlan:
    """How the transport should misbehave for one call.

    ``kind`` is ``"drop"``, ``"http_5xx"``, ``"malformed"`` or ``None`` (answer
    normally); ``delay`` is the extra wait before answering (the ``slow`` fault).
    A call hit by ``kind`` is not processed at all.
    """

    kind: str | None = None
    http_status: int = 200
    delay: float = 0.0


@dataclasses.dataclass
class Task:
    """A created task; ``status`` moves from processing to ready or failed at ``ready_at``."""

    task_id: str
    spec: TaskSpec
    account: Account  # the owner, so the client key itself is never stored
    account_prefix: str
    created_at: float
    ready_at: float
    price: float
    failure: str | None  # the error code the task fails with when due; None if it succeeds
    failure_status: str
    status: str = "processing"
    solution: dict[str, Any] | None = None
    delivered_at: float | None = None
    polls: int = 0

    def to_json(self) -> dict[str, Any]:
        """The task record shown by the control API (never the client key)."""
        return {
            "task_id": self.task_id,
            "type": self.spec.type,
            "fields": self.spec.fields,
            "account": self.account_prefix,
            "created_at": self.created_at,
            "ready_at": self.ready_at,
            "delivered_at": self.delivered_at,
            "polls": self.polls,
            "status": self.status,
            "error_code": self.failure if self.status == "failed" else None,
            "invisible": self.spec.invisible,
        }


def _bool_field(fields: Mapping[str, Any], name: str) -> bool:
    return fields.get(name) is True


def _unreachable(host: str) -> bool:
    """A proxy host no resolver knows: the ``.invalid`` domain is reserved (RFC 2606)."""
    return host == "invalid" or host.endswith(".invalid")


class EmulatorState:
    """Everything the emulated VastCap service knows, driven by JSON bodies.

    ``clock`` returns the time in seconds (epoch-based, so records can be
    compared across processes); ``rng`` drives solve times, faults and scores
    and is reseeded from ``config.seed`` on reset; ``id_rng`` makes task ids
    and tokens.
    """

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        *,
        clock: Clock = time.time,
        rng: random.Random | None = None,
        id_rng: random.Random | None = None,
    ) -> None:
        self._initial_config = config or EmulatorConfig()
        self._clock = clock
        self._rng = rng or random.Random(self._initial_config.seed)
        self._id_rng = id_rng or random.SystemRandom()
        self.config = self._initial_config
        self._clear()

    def _clear(self) -> None:
        self._accounts: dict[str, Account] = {}
        self._tasks: dict[str, Task] = {}
        self._pending: list[tuple[float, int, str]] = []  # heap of (ready_at, seq, task_id)
        self._tokens = TokenRegistry()
        self._calls: Counter[str] = Counter()
        self._errors: dict[str, Counter[str]] = {method: Counter() for method in API_METHODS}
        self._faults: Counter[str] = Counter()
        self._verifications: list[dict[str, Any]] = []
        self._charged = 0.0

    # -- control -------------------------------------------------------------

    def reset(self) -> None:
        """Forget tasks, tokens, counters and accounts; restore the starting config."""
        self.config = self._initial_config
        if self.config.seed is not None:
            self._rng.seed(self.config.seed)
        self._clear()

    def configure(self, updates: Mapping[str, Any]) -> EmulatorConfig:
        """Merge ``updates`` into the config (see :meth:`EmulatorConfig.merged`)."""
        self.config = self.config.merged(updates)
        if "seed" in updates and self.config.seed is not None:
            self._rng.seed(self.config.seed)
        return self.config

    def set_account(self, key: str, **fields: Any) -> Account:
        """Create or change the account of ``key``; fields as in :class:`Account`."""
        unknown = sorted(set(fields) - set(ACCOUNT_FIELDS))
        if unknown:
            raise ValueError(f"unknown account field(s) {', '.join(unknown)}")
        account = self._accounts.setdefault(key, Account(self.config.default_balance))
        if "balance" in fields:
            balance = fields["balance"]
            if isinstance(balance, bool) or not isinstance(balance, int | float):
                raise ValueError(f"balance must be a number, got {balance!r}")
            account.balance = float(balance)
        for flag in ("disabled", "ip_allowed", "banned"):
            if flag in fields:
                if not isinstance(fields[flag], bool):
                    raise ValueError(f"{flag} must be a boolean, got {fields[flag]!r}")
                setattr(account, flag, fields[flag])
        return account

    # -- transport faults ----------------------------------------------------

    def _roll(self, rate: float) -> bool:
        # no draw at rate 0, so enabling no fault keeps seeded runs identical
        return rate > 0 and self._rng.random() < rate

    def begin_call(self, method: str) -> FaultPlan:
        """Count a call to API ``method`` and draw the transport faults that hit it."""
        if method not in API_METHODS:
            raise ValueError(f"unknown API method {method!r}")
        self._calls[method] += 1
        config = self.config
        if method not in config.fault_methods:
            return FaultPlan()
        delay = 0.0
        if self._roll(config.fault_rate("slow")):
            self._faults["slow"] += 1
            delay = config.slow_delay
        for kind in ("drop", "http_5xx", "malformed"):
            if self._roll(config.fault_rate(kind)):
                self._faults[kind] += 1
                status = self._rng.choice((502, 503)) if kind == "http_5xx" else 200
                return FaultPlan(kind, status, delay)
        return FaultPlan(delay=delay)

    # -- API methods ---------------------------------------------------------

    def handle(self, method: str, raw_body: bytes) -> dict[str, Any]:
        """Answer one API call given its raw request body; returns the JSON response body."""
        handlers = {
            "createTask": self._create_task,
            "getTaskResult": self._get_task_result,
            "getBalance": self._get_balance,
        }
        if method not in handlers:
            raise ValueError(f"unknown API method {method!r}")
        try:
            try:
                payload = json.loads(raw_body)
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise ApiError("ERROR_VALIDATION_FAILED", "request body is not JSON") from exc
            if not isinstance(payload, dict):
                raise ApiError("ERROR_VALIDATION_FAILED", "request body must be a JSON object")
            return handlers[method](payload, self._clock())
        except ApiError as error:
            self._errors[method][error.code] += 1
            return error_body(error, self.config.error_style)

    def _account(self, payload: Mapping[str, Any]) -> tuple[str, Account]:
        key = payload.get("clientKey")
        if not isinstance(key, str) or not key:
            raise ApiError("ERROR_KEY_DOES_NOT_EXIST", "clientKey is missing")
        account = self._accounts.get(key)
        if account is None:
            if not key.startswith(KEY_PREFIX):
                raise ApiError("ERROR_KEY_DOES_NOT_EXIST")
            account = self._accounts[key] = Account(self.config.default_balance)
        if account.disabled:
            raise ApiError("ERROR_ACCOUNT_DISABLED")
        if account.banned:
            raise ApiError("ERROR_IP_BANNED")
        if not account.ip_allowed:
            raise ApiError("ERROR_IP_NOT_ALLOWED")
        return key, account

    def _create_task(self, payload: Mapping[str, Any], now: float) -> dict[str, Any]:
        key, account = self._account(payload)
        try:
            spec = validate_task(payload.get("task"))
        except TaskValidationError as exc:
            raise ApiError("ERROR_VALIDATION_FAILED", str(exc)) from exc
        config = self.config
        price = config.image_price if spec.family is None else config.token_price
        # rounded: a balance charged down by float steps must not miss the boundary
        if round(account.balance, 9) < MIN_BALANCE:
            raise ApiError("ERROR_INSUFFICIENT_BALANCE")
        self._advance(now)
        if len(self._pending) >= config.capacity:
            raise ApiError("ERROR_NO_SLOT_AVAILABLE")
        task_uuid = uuid.UUID(int=self._id_rng.getrandbits(128), version=4)
        task = Task(
            task_id=str(task_uuid),
            spec=spec,
            account=account,
            account_prefix=key[:8],
            created_at=now,
            ready_at=now + self._rng.uniform(*config.solve_time),
            price=price,
            failure=self._draw_failure(spec),
            failure_status="failed" if task_uuid.int % 2 == 0 else "error",
        )
        self._tasks[task.task_id] = task
        heapq.heappush(self._pending, (task.ready_at, len(self._tasks), task.task_id))
        return success_body({"taskId": task.task_id}, config.error_style)

    def _draw_failure(self, spec: TaskSpec) -> str | None:
        # the unsolvable draw always comes first, so seeded runs without a
        # proxy fault draw the same numbers as before that fault existed
        unsolvable = self._roll(self.config.fault_rate("unsolvable"))
        if spec.proxy_host is not None and (
            _unreachable(spec.proxy_host) or self._roll(self.config.fault_rate("proxy_failure"))
        ):
            return "ERROR_PROXY_CONNECTION_FAILED"
        return "ERROR_CAPTCHA_UNSOLVABLE" if unsolvable else None

    def _get_task_result(self, payload: Mapping[str, Any], now: float) -> dict[str, Any]:
        _, account = self._account(payload)
        task_id = payload.get("taskId")
        if task_id is None:
            raise ApiError("ERROR_VALIDATION_FAILED", "taskId is missing")
        if not isinstance(task_id, str):
            raise ApiError("ERROR_VALIDATION_FAILED", "taskId must be a string")
        task = self._tasks.get(task_id)
        if (
            task is None
            or task.account is not account
            or now - task.created_at > self.config.task_ttl
        ):
            raise ApiError("ERROR_TASK_NOT_FOUND")
        self._advance(now)
        task.polls += 1
        style = self.config.error_style
        if task.status == "processing":
            return success_body({"status": "processing"}, style)
        if task.status == "failed":
            error = ApiError(task.failure or "ERROR_CAPTCHA_UNSOLVABLE")
            self._errors["getTaskResult"][error.code] += 1
            return task_failure_body(error, task.failure_status, style)
        if task.delivered_at is None:
            task.delivered_at = now
        return success_body({"status": "ready", "solution": task.solution}, style)

    def _get_balance(self, payload: Mapping[str, Any], now: float) -> dict[str, Any]:
        _, account = self._account(payload)
        self._advance(now)
        return success_body({"balance": round(account.balance, 6)}, self.config.error_style)

    # -- task progress -------------------------------------------------------

    def _advance(self, now: float) -> None:
        """Finish every task whose solve time has passed, in the order they finish."""
        while self._pending and self._pending[0][0] <= now:
            _, _, task_id = heapq.heappop(self._pending)
            self._finish(self._tasks[task_id])

    def _finish(self, task: Task) -> None:
        if task.failure is not None:
            task.status = "failed"
            return
        task.status = "ready"
        task.solution = self._solution(task)
        # charged on solve, as the service does; the balance never goes below zero
        task.account.balance = max(0.0, task.account.balance - task.price)
        self._charged += task.price

    def _solution(self, task: Task) -> dict[str, Any]:
        spec = task.spec
        fields = spec.fields
        solution: dict[str, Any]
        if spec.family is None:
            assert spec.image is not None  # validate_task decodes the body of image tasks
            solution = {"text": image_answer(spec.image)}
        else:
            token = mint_token(spec.family, self._id_rng)
            score = self._score(fields) if spec.type == "RecaptchaV3Task" else None
            self._tokens.issue(token, self._claims(task, spec.family, score))
            if spec.family == "recaptcha":
                solution = {"gRecaptchaResponse": token}
                if score is not None:
                    solution["score"] = score
            else:
                solution = {"token": token}
        if isinstance(fields.get("userAgent"), str):
            solution["userAgent"] = fields["userAgent"]
        return solution

    def _score(self, fields: Mapping[str, Any]) -> float:
        min_score = fields.get("minScore", V3_SCORES[0])
        return self._rng.choice([score for score in V3_SCORES if score >= min_score])

    def _claims(self, task: Task, family: str, score: float | None) -> TokenClaims:
        fields = task.spec.fields
        ttl = self.config.turnstile_token_ttl if family == "turnstile" else self.config.token_ttl
        enterprise_flag = "isEnterprise" if family == "recaptcha" else "enterprise"
        action = fields.get("pageAction", fields.get("action"))
        cdata = fields.get("cData")
        return TokenClaims(
            family=family,
            task_id=task.task_id,
            task_type=task.spec.type,
            website_key=fields["websiteKey"],
            website_url=fields["websiteURL"],
            enterprise=_bool_field(fields, enterprise_flag),
            action=action if isinstance(action, str) else None,
            cdata=cdata if isinstance(cdata, str) else None,
            score=score,
            issued_at=task.ready_at,
            expires_at=task.ready_at + ttl,
        )

    # -- site verification ---------------------------------------------------

    def siteverify(self, params: Mapping[str, str]) -> dict[str, Any]:
        """Check a token as a site's back end would; returns the siteverify body."""
        now = self._clock()
        self._advance(now)
        verification = self._tokens.verify(
            response=params.get("response"),
            sitekey=params.get("sitekey"),
            kind=params.get("kind"),
            url=params.get("url"),
            now=now,
        )
        claims = verification.claims
        self._verifications.append(
            {
                "time": now,
                "task_id": claims.task_id if claims else None,
                "success": verification.success,
                "error_codes": list(verification.error_codes),
                "ready_at": claims.issued_at if claims else None,
                "remoteip": params.get("remoteip"),
            }
        )
        return verification.to_json()

    # -- reporting -----------------------------------------------------------

    def tasks(self) -> list[dict[str, Any]]:
        """Every task created since the last reset, oldest first."""
        self._advance(self._clock())
        return [task.to_json() for task in self._tasks.values()]

    def stats(self) -> dict[str, Any]:
        """Counters for tests and benchmarks (see the control API docs)."""
        self._advance(self._clock())
        tasks = list(self._tasks.values())
        statuses = Counter(task.status for task in tasks)
        polls = [task.polls for task in tasks]
        errors: Counter[str] = Counter()
        for per_method in self._errors.values():
            errors.update(per_method)
        verified = [v for v in self._verifications if v["success"]]
        return {
            "calls": {method: self._calls[method] for method in API_METHODS},
            "errors": dict(errors),
            "errors_by_method": {m: dict(c) for m, c in self._errors.items()},
            "faults": dict(self._faults),
            "tasks": {
                "created": len(tasks),
                "processing": statuses["processing"],
                "solved": statuses["ready"],
                "failed": statuses["failed"],
                "delivered": sum(task.delivered_at is not None for task in tasks),
            },
            "polls": {
                "total": sum(polls),
                "max": max(polls, default=0),
                "mean": sum(polls) / len(polls) if polls else 0.0,
            },
            "charged": round(self._charged, 6),
            "verifications": {
                "total": len(self._verifications),
                "succeeded": len(verified),
                "failed": len(self._verifications) - len(verified),
                "records": list(self._verifications),
            },
        }

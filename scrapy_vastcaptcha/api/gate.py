"""The hook through which spending limits see (and may refuse) every task.

A :class:`TaskGate` given to :class:`~scrapy_vastcaptcha.api.client.VastCaptchaClient`
is asked before each task a solve creates (fresh tasks after unsolvable or
broken answers included), is told what the service answered, and is told
when the task is over. The client calls it as follows, for each task:

1. ``lease = await gate.acquire(task)`` before the ``createTask`` call (that
   call's transient retries are the same task and are not gated again). It
   may wait, for instance for a fleet-wide concurrency slot, and the wait
   counts against the solve's deadline; or it may raise a
   :class:`~scrapy_vastcaptcha.api.errors.VastCaptchaError` such as
   :class:`~scrapy_vastcaptcha.api.errors.BudgetExhaustedError`, which fails
   the solve with that error and creates nothing. ``acquire`` runs inside a
   Twisted coroutine: it may await Deferreds (wrap asyncio futures with
   ``Deferred.fromFuture``), and cancelling the solve cancels what it awaits.
2. ``gate.created(lease, task_id)`` once ``createTask`` got an answer that
   may have been billed: ``task_id`` is the id, or ``None`` when the service
   said HTTP 2xx but its answer was unusable (no id, malformed, too large).
   Not called when ``createTask`` failed with an API error or never got an
   answer (connection refused, retries exhausted, cancelled while in flight).
3. ``gate.unsent(lease)``, only if the gate has that method, when the
   ``createTask`` call never went out (the solve was cancelled, timed out or
   refused first): the task cannot exist, so a gate counting tasks may give
   it back. Called just before ``release``. A call that went out and got no
   answer is not "unsent": the service may have created the task.
4. ``gate.release(lease)`` exactly once per successful ``acquire``, when
   that task is over: solved, failed, abandoned for a fresh task, timed out,
   or cancelled (also when ``created`` was never called).

``created``, ``unsent`` and ``release`` must not block; an exception they
raise is logged and ignored (a gate's bug must not lose a token already paid
for). ``unsent`` is optional so that gates written before it keep working;
without it an unsent task simply stays counted.
"""

from __future__ import annotations

from typing import Protocol

from scrapy_vastcaptcha.api.tasks import Task


class TaskGate(Protocol):
    async def acquire(self, task: Task) -> object:
        """Wait for permission to create a task; return a lease."""
        ...

    def created(self, lease: object, task_id: str | None) -> None:
        """``createTask`` answered; ``task_id`` is ``None`` if the answer was
        unusable but may have been billed."""
        ...

    def release(self, lease: object) -> None:
        """The task of this lease is over."""
        ...

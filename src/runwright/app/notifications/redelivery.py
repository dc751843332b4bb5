"""Notifications a run still owes after it ended: listed, and sent by whoever runs next.

A run's own process gives its last messages ``FLUSH_GRACE`` and leaves the rest (and what
failed) in the delivery journal with the time of its next attempt. ``retry_due`` is how any
other runwright process takes them on: ``serve`` and workers every few seconds, and
``runwright deliveries --retry`` by hand or from cron. Each delivery is re-rendered from the
run's own runbook text and variables, with this process's secrets (nothing secret is kept in
the journal), and claimed with one conditional update, so it goes out once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from runwright.app.notifications.notifications import STALE_SENDING, Notifier
from runwright.app.runtime.runtime import Runtime
from runwright.engine.deliveries import Deliveries, Delivery
from runwright.errors import RunwrightError

log = logging.getLogger(__name__)
RETRY_EVERY = 5.0
"""Seconds between looks for due deliveries in ``serve`` and workers."""


@dataclass(frozen=True)
class Owed:
    """One delivery not (yet) sent, as ``runwright deliveries`` lists it."""

    delivery: Delivery

    def to_json(self) -> dict[str, Any]:
        d = self.delivery
        return {
            "run": d.run_id,
            "runbook": d.runbook,
            "environment": d.environment,
            "sink": d.sink,
            "event": d.event,
            "status": d.status.value,
            "attempts": d.attempts,
            "next_attempt": _iso(d.next_attempt_at),
            "updated": _iso(d.updated_at),
            "detail": d.detail,
        }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def owed(rt: Runtime, environments: frozenset[str] | None = None) -> list[Owed]:
    """Deliveries sending, failed (waiting for their next attempt) or given up, newest first;
    only of ``environments`` when given (a reader's scope)."""
    rows = Deliveries(rt.store).undelivered()
    return [Owed(d) for d in rows if environments is None or d.environment in environments]


async def retry_due(rt: Runtime) -> list[int]:
    """Try every delivery whose next attempt has come; returns the runs it touched."""
    due = Deliveries(rt.store).due(rt.clock.now(), stale=STALE_SENDING)
    touched = sorted({d.run_id for d in due})
    for run_id in touched:
        run = rt.store.run(run_id)
        try:
            book = rt.runbook_of(run)
            secrets = rt.secrets(book, required=False)
            env_name, variables = rt.run_variables(book, run, secrets)
        except RunwrightError as exc:
            log.warning("cannot retry the notifications of run %s: %s", run_id, exc)
            continue
        notifier = Notifier(
            rt.store, rt.clock, book, env_name, variables, rt.redactor(secrets), rt.settings.user
        )
        try:
            await notifier.retry_due(run_id)
        finally:
            await notifier.aclose()
    return touched


async def keep_retrying(rt: Runtime, every: float = RETRY_EVERY) -> None:
    """``retry_due`` every ``every`` seconds until cancelled (``serve``, workers)."""
    while True:
        await rt.clock.sleep(every)
        try:
            await retry_due(rt)
        except Exception:  # a bad row or receiver must not stop the server or worker
            log.exception("retrying notifications failed")


@contextlib.asynccontextmanager
async def retrying(rt: Runtime, every: float = RETRY_EVERY) -> Any:
    """Keep retrying due deliveries in the background while the block runs."""
    task = asyncio.create_task(keep_retrying(rt, every))
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

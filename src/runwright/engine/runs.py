"""Runs, their steps, and the (runbook, environment) locks they hold.

A run is created holding its environment's lock, in the same transaction as its first event,
so the lock is in the audit chain; the transaction that ends a run releases it (journal).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from runwright.engine import tables as t
from runwright.engine.chain import GENESIS
from runwright.engine.journal import Journal
from runwright.engine.rows import (
    Entry,
    NewStep,
    RunRow,
    StepRow,
    dumps,
    run_row,
    step_row,
    step_values,
    ts,
)
from runwright.engine.storebase import StoreError
from runwright.errors import LockedError, NotFoundError
from runwright.model.event_type import EventType
from runwright.model.status import TERMINAL, RunStatus

QUEUE_CHANNEL = "runwright_queue"


class Runs(Journal):
    """Creating runs (with their lock and steps) and reading runs, steps and locks."""

    def create_run(
        self,
        *,
        runbook: str,
        environment: str,
        version: str,
        initiator: str,
        file: str,
        text: str,
        digest: str,
        params: Mapping[str, Any],
        steps: Sequence[NewStep],
        now: datetime,
        kind: str = "deploy",
        created: Mapping[str, Any] | None = None,
        lease: tuple[str, float] | None = None,
        queued: bool = False,
    ) -> int:
        """Create a run holding the (runbook, environment) lock; LockedError if it is held.

        The run's first event (``run.created``, with ``created`` as its data) is written in the
        same transaction, so the lock it takes is in the audit chain; ``lease`` (owner, ttl)
        makes the creating process the run's driver at once, so nobody mistakes a run about to
        start for an abandoned one."""
        try:
            with self._tx() as conn:
                run_id = conn.execute(
                    sa.insert(t.runs)
                    .values(
                        runbook=runbook,
                        environment=environment,
                        version=version,
                        status=RunStatus.QUEUED if queued else RunStatus.PENDING,
                        initiator=initiator,
                        created_at=now,
                        updated_at=now,
                        runbook_file=file,
                        runbook_text=text,
                        runbook_digest=digest,
                        params=dumps(params),
                        event_count=0,
                        head_hash=GENESIS,
                        kind=kind,
                        legacy_until=0,
                        lease_owner=lease[0] if lease else None,
                        lease_expires=now + timedelta(seconds=lease[1]) if lease else None,
                    )
                    .returning(t.runs.c.id)
                ).scalar_one()
                if not queued:
                    conn.execute(
                        sa.insert(t.locks).values(
                            runbook=runbook,
                            environment=environment,
                            run_id=run_id,
                            holder=initiator,
                            acquired_at=now,
                        )
                    )
                if steps:
                    conn.execute(sa.insert(t.steps), [step_values(run_id, s) for s in steps])
                if created is not None:
                    status = RunStatus.QUEUED if queued else RunStatus.PENDING
                    entry = Entry(
                        initiator, EventType.RUN_CREATED, now, None, created, {"status": status}
                    )
                    self._append(conn, run_id, entry)
                if queued and conn.dialect.name == "postgresql":
                    conn.exec_driver_sql(f"NOTIFY {QUEUE_CHANNEL}")
                return int(run_id)
        except IntegrityError:
            holder = self.lock_holder(runbook, environment)
            if holder is None:
                raise StoreError("could not take the run lock; try again") from None
            message, hint = locked_message(self.run(holder))
            raise LockedError(message, hint=hint) from None

    def clear_dead_lock(self, runbook: str, environment: str) -> int | None:
        """Delete a lock whose run has ended or does not exist (a lock the chain cannot
        explain: locks are released in the transaction that ends their run); returns the run
        id it named, or None if the lock is fine or absent."""
        with self._tx() as conn:
            row = conn.execute(
                sa.select(t.locks.c.run_id, t.runs.c.status)
                .select_from(t.locks.outerjoin(t.runs, t.runs.c.id == t.locks.c.run_id))
                .where(t.locks.c.runbook == runbook, t.locks.c.environment == environment)
            ).first()
            if row is None or (row[1] is not None and row[1] not in TERMINAL):
                return None
            conn.execute(
                sa.delete(t.locks).where(
                    t.locks.c.runbook == runbook, t.locks.c.environment == environment
                )
            )
            return int(row[0])

    def lock_rows(self) -> list[tuple[str, str, int]]:
        with self._tx() as conn:
            rows = conn.execute(
                sa.select(t.locks.c.runbook, t.locks.c.environment, t.locks.c.run_id)
            ).all()
        return [(str(r[0]), str(r[1]), int(r[2])) for r in rows]

    def lock_holder(self, runbook: str, environment: str) -> int | None:
        with self._tx() as conn:
            row = conn.execute(
                sa.select(t.locks.c.run_id).where(
                    t.locks.c.runbook == runbook, t.locks.c.environment == environment
                )
            ).first()
        return int(row[0]) if row else None

    def run(self, run_id: int) -> RunRow:
        with self._tx() as conn:
            row = conn.execute(sa.select(t.runs).where(t.runs.c.id == run_id)).mappings().first()
        if row is None:
            raise NotFoundError(f"no run {run_id}", hint="list runs with: runwright history")
        return run_row(row)

    def runs(
        self,
        *,
        runbook: str | None = None,
        environment: str | None = None,
        active: bool = False,
        limit: int = 50,
    ) -> list[RunRow]:
        query = sa.select(t.runs).order_by(t.runs.c.id.desc()).limit(limit)
        if runbook:
            query = query.where(t.runs.c.runbook == runbook)
        if environment:
            query = query.where(t.runs.c.environment == environment)
        if active:
            query = query.where(t.runs.c.status.not_in(list(TERMINAL)))
        with self._tx() as conn:
            return [run_row(r) for r in conn.execute(query).mappings()]

    def steps(self, run_id: int) -> list[StepRow]:
        query = (
            sa.select(t.steps)
            .where(t.steps.c.run_id == run_id)
            .order_by(t.steps.c.section, t.steps.c.idx)
        )
        with self._tx() as conn:
            return [step_row(r) for r in conn.execute(query).mappings()]

    def step(self, run_id: int, section: str, idx: int) -> StepRow:
        query = sa.select(t.steps).where(
            t.steps.c.run_id == run_id, t.steps.c.section == section, t.steps.c.idx == idx
        )
        with self._tx() as conn:
            row = conn.execute(query).mappings().first()
        if row is None:
            raise NotFoundError(f"no step {section}/{idx} in run {run_id}")
        return step_row(row)

    def run_or_none(self, run_id: int) -> RunRow | None:
        with self._tx() as conn:
            row = conn.execute(sa.select(t.runs).where(t.runs.c.id == run_id)).mappings().first()
        return run_row(row) if row is not None else None


def locked_message(run: RunRow) -> tuple[str, str]:
    lease = ""
    if run.lease_owner and run.lease_expires:
        lease = f"; driven by {run.lease_owner}, lease until {ts(run.lease_expires)}"
    return (
        f"{run.runbook}/{run.environment} is locked by run {run.id} ({run.status}, version "
        f"{run.version}, started by {run.initiator} at {ts(run.created_at)}{lease})",
        f"see runwright status {run.id}; end it with runwright abort {run.id}, or if nobody "
        f"drives it: runwright unlock {run.runbook} {run.environment} --note '...' [--force]",
    )

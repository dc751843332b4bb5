"""Workers claiming runs from the store: the queue, takeovers and their fencing epochs.

PostgreSQL is the distributed engine: a claim selects one candidate ``FOR UPDATE SKIP
LOCKED`` (so concurrent workers never wait on, or both get, the same run) and, in the same
transaction, takes the environment's lock, sets the lease (owner, expiry) and raises the
run's fencing epoch, journaling ``run.claimed`` or ``run.taken_over``. On SQLite the
transaction is ``BEGIN IMMEDIATE`` (one writer at a time) and one worker runs.

Candidates, oldest first: a queued run whose (runbook, environment) is unlocked, or a run
being driven (pending, running, rolling back) whose lease expired: its worker died or was
cut off, and the taker resumes it from the journal under the usual rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from runwright.engine import tables as t
from runwright.engine.leases import DRIVEN
from runwright.engine.store import QUEUE_CHANNEL, Entry, Store
from runwright.model.event_type import EventType
from runwright.model.status import RunStatus

__all__ = ["QUEUE_CHANNEL", "Claim", "claim_next", "queued_count"]


@dataclass(frozen=True)
class Claim:
    run_id: int
    epoch: int
    takeover: bool
    previous: str | None


def _candidates(now: datetime) -> sa.Select[tuple[int, str, str | None, int]]:
    r = t.runs
    unlocked = ~sa.exists().where(
        t.locks.c.runbook == r.c.runbook, t.locks.c.environment == r.c.environment
    )
    expired = sa.or_(r.c.lease_expires.is_(None), r.c.lease_expires < now)
    return (
        sa.select(r.c.id, r.c.status, r.c.lease_owner, r.c.lease_epoch)
        .where(
            sa.or_(
                sa.and_(r.c.status == RunStatus.QUEUED, unlocked),
                sa.and_(r.c.status.in_([str(s) for s in DRIVEN]), expired),
            )
        )
        .order_by(r.c.id)
        .limit(1)
        .with_for_update(skip_locked=True, of=r)
    )


def claim_next(store: Store, owner: str, *, now: datetime, ttl: float) -> Claim | None:
    """Claim the oldest claimable run for ``owner``; None when there is none (or another
    worker took the same environment's lock in the same instant: try again)."""
    try:
        with store.transaction() as conn:
            row = conn.execute(_candidates(now)).first()
            if row is None:
                return None
            return _take(store, conn, row, owner, now, ttl)
    except IntegrityError:
        return None


def _take(store: Store, conn: Connection, row: Any, owner: str, now: datetime, ttl: float) -> Claim:
    run_id, status, previous, epoch = int(row[0]), str(row[1]), row[2], int(row[3] or 0) + 1
    takeover = status != RunStatus.QUEUED
    values: dict[str, object] = {
        "lease_owner": owner,
        "lease_expires": now + timedelta(seconds=ttl),
        "lease_epoch": epoch,
    }
    if takeover:
        kind = EventType.RUN_TAKEN_OVER
        data = {"worker": owner, "epoch": epoch, "previous": previous, "status": status}
    else:
        run = conn.execute(
            sa.select(t.runs.c.runbook, t.runs.c.environment, t.runs.c.initiator).where(
                t.runs.c.id == run_id
            )
        ).one()
        conn.execute(
            sa.insert(t.locks).values(
                runbook=run[0], environment=run[1], run_id=run_id, holder=run[2], acquired_at=now
            )
        )
        values["status"] = RunStatus.PENDING
        kind = EventType.RUN_CLAIMED
        data = {"worker": owner, "epoch": epoch}
    conn.execute(sa.update(t.runs).where(t.runs.c.id == run_id).values(**values))
    sealed = {"status": values["status"]} if "status" in values else None
    store.append_within(conn, run_id, Entry(owner, kind, now, None, data, sealed))
    return Claim(run_id, epoch, takeover, previous)


def queued_count(store: Store) -> int:
    with store.transaction() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count()).where(t.runs.c.status == RunStatus.QUEUED)
            ).scalar_one()
        )

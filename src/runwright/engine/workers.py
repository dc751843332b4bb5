"""The ``workers`` table: which ``runwright worker`` processes share the store, and are alive.

Each worker registers itself (id = its lease-owner name ``user@host:PID.START``), heartbeats
on the injected clock while it runs, and marks itself stopped when it leaves. A worker whose
heartbeat is older than its lease TTL is shown as silent; the runs it holds are the runs whose
lease names it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from runwright.engine import tables as t
from runwright.engine.store import Store, _utc
from runwright.model.status import TERMINAL


@dataclass(frozen=True)
class WorkerRow:
    id: str
    host: str
    pid: int
    started_at: datetime
    heartbeat_at: datetime
    stopped_at: datetime | None
    note: str | None
    runs: tuple[int, ...]


def register(store: Store, worker: str, *, host: str, pid: int, now: datetime) -> None:
    with store.transaction() as conn:
        conn.execute(sa.delete(t.workers).where(t.workers.c.id == worker))
        conn.execute(
            sa.insert(t.workers).values(
                id=worker, host=host, pid=pid, started_at=now, heartbeat_at=now
            )
        )


def heartbeat(store: Store, worker: str, *, now: datetime) -> None:
    with store.transaction() as conn:
        conn.execute(sa.update(t.workers).where(t.workers.c.id == worker).values(heartbeat_at=now))


def stopped(store: Store, worker: str, *, now: datetime, note: str) -> None:
    with store.transaction() as conn:
        conn.execute(
            sa.update(t.workers).where(t.workers.c.id == worker).values(stopped_at=now, note=note)
        )


def live_others(store: Store, worker: str, *, since: datetime) -> list[str]:
    """Other workers that have not stopped and heartbeat after ``since``."""
    with store.transaction() as conn:
        rows = conn.execute(
            sa.select(t.workers.c.id).where(
                t.workers.c.id != worker,
                t.workers.c.stopped_at.is_(None),
                t.workers.c.heartbeat_at > since,
            )
        ).all()
    return [str(r[0]) for r in rows]


def listing(store: Store) -> list[WorkerRow]:
    with store.transaction() as conn:
        held: dict[str, list[int]] = {}
        for run_id, owner in conn.execute(
            sa.select(t.runs.c.id, t.runs.c.lease_owner).where(
                t.runs.c.lease_owner.is_not(None),
                t.runs.c.status.not_in([str(s) for s in TERMINAL]),
            )
        ).all():
            held.setdefault(str(owner), []).append(int(run_id))
        rows = conn.execute(sa.select(t.workers).order_by(t.workers.c.started_at)).mappings()
        return [
            WorkerRow(
                id=r["id"],
                host=r["host"],
                pid=int(r["pid"]),
                started_at=_utc(r["started_at"]) or r["started_at"],
                heartbeat_at=_utc(r["heartbeat_at"]) or r["heartbeat_at"],
                stopped_at=_utc(r["stopped_at"]),
                note=r["note"],
                runs=tuple(sorted(held.get(r["id"], []))),
            )
            for r in rows
        ]

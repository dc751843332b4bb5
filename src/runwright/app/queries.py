"""Read models for lists: runs filtered and paged, and each environment's current state.

They select only the columns a list shows (never a run's stored runbook text), so a page of
runs stays fast with tens of thousands of runs in the store.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from runwright.app.runtime import Runtime
from runwright.engine import tables as t
from runwright.engine.store import RevisionRow
from runwright.model.status import TERMINAL

_COLUMNS = (
    t.runs.c.id,
    t.runs.c.runbook,
    t.runs.c.environment,
    t.runs.c.version,
    t.runs.c.status,
    t.runs.c.initiator,
    t.runs.c.kind,
    t.runs.c.created_at,
    t.runs.c.finished_at,
    t.runs.c.failure,
)


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


@dataclass(frozen=True)
class RunLine:
    id: int
    runbook: str
    environment: str
    version: str
    status: str
    initiator: str
    kind: str
    created_at: datetime
    finished_at: datetime | None
    failure: str | None

    @property
    def seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.created_at).total_seconds()

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "runbook": self.runbook,
            "environment": self.environment,
            "version": self.version,
            "status": self.status,
            "initiator": self.initiator,
            "kind": self.kind,
            "created_at": self.created_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "duration_seconds": self.seconds,
            "failure": self.failure,
        }


@dataclass(frozen=True)
class RunFilter:
    runbook: str | None = None
    environment: str | None = None
    status: str | None = None
    initiator: str | None = None
    active: bool = False


def list_runs(
    rt: Runtime, where: RunFilter, *, limit: int = 50, offset: int = 0
) -> tuple[list[RunLine], int]:
    """One page of runs, newest first, and how many match in all."""
    conds = []
    c = t.runs.c
    if where.runbook:
        conds.append(c.runbook == where.runbook)
    if where.environment:
        conds.append(c.environment == where.environment)
    if where.status:
        conds.append(c.status == where.status)
    if where.initiator:
        conds.append(c.initiator == where.initiator)
    if where.active:
        conds.append(c.status.not_in(list(TERMINAL)))
    page = sa.select(*_COLUMNS).where(*conds).order_by(c.id.desc()).limit(limit).offset(offset)
    count = sa.select(sa.func.count()).select_from(t.runs).where(*conds)
    with rt.store.engine.connect() as conn:
        rows = conn.execute(page).all()
        total = int(conn.execute(count).scalar_one())
    lines = [
        RunLine(r[0], r[1], r[2], r[3], r[4], r[5], r[6], _utc(r[7]) or r[7], _utc(r[8]), r[9])
        for r in rows
    ]
    return lines, total


@dataclass(frozen=True)
class EnvState:
    runbook: str
    environment: str
    current: RevisionRow | None
    locked_by: int | None


def env_state(rt: Runtime, runbook: str, environment: str) -> EnvState:
    revisions = rt.store.revisions(runbook, environment)
    return EnvState(
        runbook,
        environment,
        revisions[0] if revisions else None,
        rt.store.lock_holder(runbook, environment),
    )

"""Who holds a run, and whether that holder can still act: leases that end.

A run is driven by one process at a time under a lease (owner ``user@host:PID.START``, expiry
renewed by heartbeat); the environment's lock belongs to the run. A run blocked on a person
holds its lock with no lease, legitimately. A run whose driver died (same host and its process
is gone or is another process now), whose lease expired, or that was left ``running`` with no
driver at all is abandoned: ``resume`` may take it over, ``deploy`` and ``unlock`` may end it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from enum import StrEnum

from runwright.engine.processes import ProcessMark
from runwright.engine.store import RunRow, StepRow
from runwright.model.status import RunStatus, StepStatus

DRIVEN = frozenset({RunStatus.PENDING, RunStatus.RUNNING, RunStatus.ROLLING_BACK})


class Holder(StrEnum):
    LIVE = "live"
    DEAD = "dead"
    EXPIRED = "expired"
    IDLE = "idle"


def holder_of(run: RunRow, now: datetime, owner_dead: Callable[[str], bool]) -> Holder:
    if not run.lease_owner:
        return Holder.IDLE
    if owner_dead(run.lease_owner):
        return Holder.DEAD
    if run.lease_expires is None or run.lease_expires <= now:
        return Holder.EXPIRED
    return Holder.LIVE


def abandoned(run: RunRow, holder: Holder) -> bool:
    """Nobody drives this run and nobody is asked to: its lock may be taken over."""
    if run.terminal:
        return False
    if holder in (Holder.DEAD, Holder.EXPIRED):
        return True
    return holder == Holder.IDLE and run.status in DRIVEN


def describe(run: RunRow, holder: Holder) -> str:
    owner = run.lease_owner or "no process"
    return {
        Holder.LIVE: f"driven by {owner}",
        Holder.DEAD: f"its process {owner} is gone",
        Holder.EXPIRED: f"the lease of {owner} expired",
        Holder.IDLE: "no process drives it"
        if run.status in DRIVEN
        else f"it waits for a person ({run.status})",
    }[holder]


def orphans(rows: list[StepRow]) -> list[tuple[StepRow, ProcessMark]]:
    """In-flight steps (or undos) whose journaled process group is still running."""
    out = []
    for r in rows:
        for key, status in (("process", r.status), ("undo_process", r.undo_status)):
            mark = ProcessMark.from_data(r.data.get(key))
            if status == StepStatus.RUNNING and mark is not None and mark.alive():
                out.append((r, mark))
    return out

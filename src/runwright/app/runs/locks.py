"""Breaking a lock whose run nobody drives: ``runwright unlock`` and a deploy's takeover.

The lock's run ends ``aborted`` in the same transaction as the ``lock.broken`` event that
says who broke it, why and what the holder's state was; any process group the run left
running is stopped first, so nothing acts behind the next run's back.
"""

from __future__ import annotations

from runwright.app.runtime.identity import Identity
from runwright.app.runtime.runtime import Runtime
from runwright.engine.leases import Holder, abandoned, describe, holder_of, orphans
from runwright.engine.processes import owner_dead
from runwright.engine.store import RunRow
from runwright.errors import BlockedError, InputError, LockedError
from runwright.model.event_type import EventType
from runwright.model.status import RunStatus


def unlock(
    rt: Runtime,
    runbook: str,
    environment: str,
    *,
    note: str,
    force: bool,
    identity: Identity | None = None,
) -> str:
    dead = rt.store.clear_dead_lock(runbook, environment)
    if dead is not None:
        return f"{runbook}/{environment} unlocked: its lock named run {dead}, which is not active"
    holder_id = rt.store.lock_holder(runbook, environment)
    if holder_id is None:
        raise InputError(f"{runbook}/{environment} is not locked")
    run = rt.store.run(holder_id)
    holder = holder_of(run, rt.clock.now(), owner_dead)
    if holder == Holder.LIVE:
        raise LockedError(
            f"unlock refused: run {run.id} is {describe(run, holder)}, lease until "
            f"{run.lease_expires:%Y-%m-%d %H:%M:%S} UTC",
            hint=f"abort it with: runwright abort {run.id}",
        )
    if not abandoned(run, holder) and not force:
        raise BlockedError(
            f"run {run.id} holds {runbook}/{environment} and {describe(run, holder)}",
            hint=f"finish it (runwright status {run.id}), or pass --force to end it",
        )
    who = identity or rt.settings.identity
    stopped = break_lock(rt, run, who, note=note, why=describe(run, holder), by="unlock")
    return (
        f"{runbook}/{environment} unlocked: run {run.id} ({describe(run, holder)}) ended "
        f"aborted{stopped}"
    )


def break_lock(rt: Runtime, run: RunRow, who: Identity, *, note: str, why: str, by: str) -> str:
    """Stop the run's leftover processes, then end it aborted and free its lock."""
    killed = []
    for row, mark in orphans(rt.store.steps(run.id)):
        mark.kill()
        killed.append(f"'{row.name}' ({mark.describe()})")
    now = rt.clock.now()
    rt.store.append(
        run.id,
        actor=who.name,
        type=EventType.LOCK_BROKEN,
        at=now,
        data={
            "by": by,
            "note": note,
            "holder": run.lease_owner,
            "why": why,
            "stopped": killed,
            "via": str(who.via),
        },
        run_values={
            "status": RunStatus.ABORTED,
            "finished_at": now,
            "failure": f"abandoned ({why}); lock broken by {who} via {by}: {note}",
            "lease_owner": None,
            "lease_expires": None,
        },
    )
    return f"; stopped {', '.join(killed)}" if killed else ""

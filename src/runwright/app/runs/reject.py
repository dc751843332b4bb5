"""Rejecting an approval: the approver says no, with a note, and the run rolls back.

A rejection is journaled as its own event (who refused and why) before the abort, so the
audit trail and the report show a decision, not only an abort.
"""

from __future__ import annotations

from runwright.app import decisions
from runwright.app.decisions import Acted
from runwright.app.runtime import Runtime
from runwright.errors import InputError
from runwright.model.event_type import EventType
from runwright.model.status import RunStatus


async def reject(rt: Runtime, run_id: int, note: str) -> Acted:
    run = rt.store.run(run_id)
    if run.terminal:
        raise InputError(f"run {run_id} already ended ({run.status})")
    if run.status != RunStatus.AWAITING_APPROVAL:
        raise InputError(f"run {run_id} is not waiting for an approval (status {run.status})")
    user = rt.settings.user
    rt.store.append(
        run_id,
        actor=user,
        type=EventType.APPROVAL_REJECTED,
        at=rt.clock.now(),
        data={"note": note},
    )
    reason = f"approval rejected by {user}" + (f": {note}" if note else "")
    return await decisions.abort(rt, run_id, reason)

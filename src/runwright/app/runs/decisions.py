"""What people decide about a run: approve, reject, attest, settle, abort.

Each is a coroutine (the CLI and the web server call the same ones) returning an ``Acted``:
the run as it then stands, a sentence for the person, and the exit code their command ends
with. ``attest`` acts on the step the run will run next, in whichever phase: a manual step or
gate of the rollback is attested like one of the deploy, and the sentence names the phase.
``abort`` of a run whose rollback waits for a person says so, with exit 3, until the rollback
has ended.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from runwright.app.runs import runs
from runwright.app.runs.waiting import Phase, Waiting, next_step
from runwright.app.runtime.identity import AuthMethod, Identity
from runwright.app.runtime.identity import refusal as identity_refusal
from runwright.app.runtime.runtime import Runtime
from runwright.engine.machine import MAIN, in_flight, settle
from runwright.engine.processes import ProcessMark, owner_dead
from runwright.engine.scheduler import view_of
from runwright.engine.store import ApprovalRow, RunRow, StepRow, StepUpdate
from runwright.errors import BlockedError, InputError
from runwright.model.event_type import EventType
from runwright.model.status import UNFINISHED_STEP, RunStatus, Settlement, StepStatus
from runwright.steps.approval import ApprovalParams, refusal, valid_approvals
from runwright.steps.registry import params_as


@dataclass(frozen=True)
class Acted:
    run: RunRow
    message: str
    exit_code: int = 0


def _open_run(rt: Runtime, run_id: int) -> RunRow:
    run = rt.store.run(run_id)
    if run.terminal:
        raise InputError(f"run {run_id} already ended ({run.status})")
    return run


def _approval_step(rt: Runtime, run: RunRow) -> StepRow:
    rows = rt.store.steps(run.id)
    waiting = next_step(run, rows)
    if waiting is not None and waiting.step.kind == "approval" and not waiting.undo:
        return waiting.step
    for r in rows:
        if r.section == MAIN and r.kind == "approval" and r.status in UNFINISHED_STEP:
            return r
    raise InputError(f"run {run.id} has no approval step left to act on (status {run.status})")


def _identity_refusal(rt: Runtime, run: RunRow, identity: Identity) -> str | None:
    book = rt.load_text(run.runbook_text, run.runbook_file)
    _, environment = rt.environment(book, run.environment)
    return identity_refusal(identity, run.environment, environment.identity, rt.settings.os_user)


def _started_under_alias(rt: Runtime, run: RunRow, who: Identity, strict: bool) -> str | None:
    """The OS account that started a run under a declared name is still its initiator."""
    created = next((e for e in rt.store.events(run.id) if e.type == EventType.RUN_CREATED), None)
    account = created.data.get("os_user") if created is not None else None
    declared = created is not None and created.data.get("via") == AuthMethod.SELF_DECLARED
    if strict and declared and who.authenticated and who.name == account:
        return (
            f"{who.name} started this run (as '{run.initiator}') and cannot approve it "
            "(the policy requires approval by someone else)"
        )
    return None


def _refuse(rt: Runtime, run: RunRow, step: str, identity: Identity, what: str, why: str) -> None:
    rt.store.append(
        run.id,
        actor=identity.name,
        type=EventType(f"{what}.refused"),
        at=rt.clock.now(),
        step=step,
        data={"reason": why, "via": str(identity.via)},
    )


async def approve(rt: Runtime, run_id: int, note: str, identity: Identity | None = None) -> Acted:
    run = _open_run(rt, run_id)
    step = _approval_step(rt, run)
    params = params_as(step.spec, ApprovalParams)
    who = identity or rt.settings.identity
    user = who.name
    now = rt.clock.now()
    current = valid_approvals(params, rt.store.approvals(run_id, step.name), run.initiator, now)
    why = (
        _identity_refusal(rt, run, who)
        or _started_under_alias(rt, run, who, params.not_by_initiator)
        or refusal(params, user, run.initiator, current)
    )
    if why:
        _refuse(rt, run, step.name, who, "approval", why)
        raise InputError(
            f"approval refused: {why}",
            hint=f"ask another person to run: runwright approve {run_id} --note '...'",
        )
    count = len(current) + 1
    rt.store.append(
        run_id,
        actor=user,
        type=EventType.APPROVAL_GIVEN,
        at=now,
        step=step.name,
        data={
            "gate": step.name,
            "note": note,
            "count": count,
            "required": params.required,
            "via": str(who.via),
        },
        decisions=(ApprovalRow(run_id, step.name, "approval", None, user, note, now, who.via),),
    )
    message = f"approved by {who} ({count} of {params.required})"
    if count >= params.required:
        message += f"; continue with: runwright resume {run_id}"
    return Acted(rt.store.run(run_id), message)


def _attestation_target(rt: Runtime, run: RunRow) -> Waiting:
    """The gate or manual step the run waits on (or reaches next, in its deploy phase)."""
    rows = rt.store.steps(run.id)
    waiting = next_step(run, rows)
    if waiting is not None and waiting.attestable:
        return waiting
    if waiting is None or waiting.phase is Phase.DEPLOY:
        for r in rows:
            if r.section == MAIN and r.status == StepStatus.PENDING:
                ahead = Waiting(r, Phase.DEPLOY, False, None)
                if ahead.attestable:
                    return ahead
    where = f" ({waiting.describe()})" if waiting is not None else ""
    raise InputError(
        f"run {run.id} has no gate or manual step waiting for attestation{where}",
        hint=f"see runwright status {run.id}",
    )


async def attest(
    rt: Runtime, run_id: int, note: str, items: list[int] | None, identity: Identity | None = None
) -> Acted:
    run = _open_run(rt, run_id)
    target = _attestation_target(rt, run)
    who = identity or rt.settings.identity
    why = _identity_refusal(rt, run, who)
    if why:
        _refuse(rt, run, target.step.name, who, "attestation", why)
        raise InputError(f"attestation refused: {why}", hint="attest as yourself")
    now = rt.clock.now()
    targets: list[int | None] = list(items) if items else [None]
    rt.store.append(
        run_id,
        actor=who.name,
        type=EventType.GATE_ATTESTED,
        at=now,
        step=target.step.name,
        data={
            "gate": target.gate,
            "items": items or "all",
            "note": note,
            "phase": str(target.phase),
            "via": str(who.via),
        },
        decisions=tuple(
            ApprovalRow(run_id, target.gate, "attestation", i, who.name, note, now, who.via)
            for i in targets
        ),
    )
    what = "all items" if not items else "item(s) " + ", ".join(map(str, items))
    step = f"undo of '{target.step.name}'" if target.undo else f"'{target.step.name}'"
    return Acted(
        rt.store.run(run_id),
        f"{what} of {step} ({target.phase} phase) attested by {who}; "
        f"continue with: runwright resume {run_id}",
    )


def _orphan(rt: Runtime, run_id: int, row: StepRow, what: str, orphan: str | None) -> str:
    """Deal with the step's process group if a crashed runwright left it running."""
    mark = ProcessMark.from_data(row.data.get("undo_process" if what == "undo" else "process"))
    if mark is None or not mark.alive():
        return "" if mark is None else f"; its process ({mark.describe()}) had ended"
    if orphan is None:
        raise BlockedError(
            f"{what} '{row.name}' is still running ({mark.describe()}): what it does is not "
            "done yet",
            hint=f"runwright settle {run_id} '{row.name}' --wait (let it finish) or --kill "
            "(stop it), with --rerun, --done or --rollback",
        )
    if orphan == "wait":
        rt.observer.event(run_id, EventType.STEP_ORPHAN, row.name,
                          {"message": f"waiting for {mark.describe()} to finish"})  # fmt: skip
        mark.wait(timeout=float("inf"))
        result = f"; waited for {mark.describe()} to finish"
    else:
        stopped = mark.kill()
        result = f"; {'stopped' if stopped else 'could not stop'} {mark.describe()}"
    rt.store.append(
        run_id,
        actor=rt.settings.user,
        type=EventType.STEP_ORPHAN,
        at=rt.clock.now(),
        step=row.name,
        data={"what": what, "action": orphan, "pgid": mark.pgid, "message": result[2:]},
    )
    return result


async def settle_step(
    rt: Runtime, run_id: int, step_ref: str, chosen: str, *, orphan: str | None = None
) -> Acted:
    if chosen not in set(Settlement):
        raise InputError("choose one of --rerun, --done, --rollback")
    choice = Settlement(chosen)
    run = rt.store.run(run_id)
    rows = rt.store.steps(run_id)
    flights = in_flight(view_of(run, rows))
    if not flights:
        raise InputError(f"run {run_id} has no step in flight to settle (status {run.status})")
    match = [(v, what) for v, what in flights if v.name == step_ref or str(v.idx + 1) == step_ref]
    if not match:
        names = ", ".join(f"'{v.name}'" for v, _ in flights)
        raise InputError(f"step '{step_ref}' is not in flight; in flight: {names}")
    view, what = match[0]
    if what == "undo" and choice == Settlement.ROLLBACK:
        raise InputError("an undo in flight can be settled with --rerun or --done")
    row = next(r for r in rows if (r.section, r.idx) == (view.section, view.idx))
    ended = await asyncio.to_thread(_orphan, rt, run_id, row, what, orphan)
    forward = what == "step" and view.section == MAIN and choice != Settlement.ROLLBACK
    rt.store.append(
        run_id,
        actor=rt.settings.user,
        type=EventType.STEP_SETTLED,
        at=rt.clock.now(),
        step=view.name,
        data={"what": what, "choice": choice, "via": str(rt.settings.via)},
        run_values={"status": RunStatus.RUNNING if forward else RunStatus.ROLLING_BACK},
        step_update=StepUpdate(view.section, view.idx, settle(view, what, choice)),
    )
    return Acted(
        rt.store.run(run_id),
        f"{what} '{view.name}' settled as {choice}{ended}; "
        f"continue with: runwright resume {run_id}",
    )


def _driven_elsewhere(rt: Runtime, run: RunRow) -> bool:
    return bool(
        run.lease_owner
        and run.lease_expires
        and run.lease_expires > rt.clock.now()
        and not owner_dead(run.lease_owner)
    )


async def abort(rt: Runtime, run_id: int, reason: str, identity: Identity | None = None) -> Acted:
    """Ask for the run to roll back, and drive the rollback when no process is driving it.
    While the rollback waits for a person: exit 3 and what it waits for."""
    run = rt.store.run(run_id)
    if run.terminal:
        raise InputError(f"run {run_id} already ended ({run.status}); nothing to abort")
    who = identity or rt.settings.identity
    user = who.name
    rt.store.append(
        run_id,
        actor=user,
        type=EventType.RUN_ABORT_REQUESTED,
        at=rt.clock.now(),
        data={"reason": reason, "via": str(who.via)},
        run_values=None if run.abort_requested else {"abort_requested": user},
    )
    fresh = rt.store.run(run_id)
    if _driven_elsewhere(rt, fresh):
        return Acted(
            fresh,
            f"abort requested; {fresh.lease_owner} is driving run {run_id} and "
            "will roll it back now",
        )
    final = await runs.resume(rt, run_id, required_secrets=False)
    if final.terminal:
        code = 0 if final.status in (RunStatus.ABORTED, RunStatus.ROLLED_BACK) else 1
        return Acted(final, f"run {run_id} aborted and rolled back ({final.status})", code)
    waiting = next_step(final, rt.store.steps(run_id))
    what = waiting.describe() if waiting else f"rollback waiting ({final.status})"
    return Acted(
        final,
        f"run {run_id}: abort requested, not finished: {what}; it holds the lock of "
        f"{final.runbook}/{final.environment} until its rollback ends "
        f"(runwright attest {run_id} --all, then runwright resume {run_id})",
        3,
    )


async def reject(rt: Runtime, run_id: int, note: str) -> Acted:
    """The approver says no, with a note, and the run rolls back. The rejection is journaled
    as its own event (who refused and why) before the abort, so the audit trail and the
    report show a decision, not only an abort."""
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
    return await abort(rt, run_id, reason)

"""Run use cases: deploy, resume, approve, attest, settle, abort.

Each returns the run's row as it stands afterwards; the edges turn its status into an exit
code (``exit_code_for``). Input problems raise InputError (2), policy and lock problems raise
BlockedError subclasses (3).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from runwright.app.identity import AuthMethod, Identity
from runwright.app.identity import refusal as identity_refusal
from runwright.app.locks import break_lock
from runwright.app.notifications import Notifier, alongside
from runwright.app.plan import expand, expand_procedure
from runwright.app.policy import check_promotion, check_windows
from runwright.app.release import previous_version
from runwright.app.runtime import Runtime
from runwright.app.silences import SilenceKeeper
from runwright.engine.leases import Holder, abandoned, describe, holder_of
from runwright.engine.machine import MAIN, in_flight, settle
from runwright.engine.processes import ProcessMark, owner_dead
from runwright.engine.scheduler import view_of
from runwright.engine.store import ApprovalRow, RunRow, StepRow, StepUpdate
from runwright.errors import BlockedError, InputError
from runwright.model.loader import Runbook
from runwright.model.status import (
    AWAITING,
    UNFINISHED_STEP,
    DeliveryStatus,
    RunStatus,
    Settlement,
    StepStatus,
)
from runwright.steps.approval import ApprovalParams, refusal, valid_approvals

log = logging.getLogger(__name__)


def exit_code_for(run: RunRow) -> int:
    if run.status == RunStatus.SUCCEEDED:
        return 0
    if run.status in AWAITING or not run.terminal:
        return 3
    return 1


def deploy(
    rt: Runtime,
    path: str | Path,
    env: str | None,
    version: str,
    *,
    overrides: Mapping[str, Any] | None = None,
    interactive: Callable[[str], bool] | None = None,
    runbook: Runbook | None = None,
    kind: str = "deploy",
    procedure: str | None = None,
) -> RunRow:
    book = runbook or rt.load(path)
    env_name, environment = rt.environment(book, env)
    if not version.strip():
        raise InputError("--version must not be empty")
    if procedure is not None:
        kind = "procedure"
    if procedure is None or version != "-":
        book.check_version(version)
    check_windows(env_name, environment, rt.clock.now())
    if kind == "deploy":
        check_promotion(rt.store, book, env_name, environment, version)
    secrets = rt.secrets(book, required=True)
    repair_revisions(rt, book.name, env_name)
    take_over_abandoned(rt, book.name, env_name)
    previous = previous_version(rt.store, book.name, env_name)
    if procedure is None:
        checking = rt.variables(
            book,
            env_name,
            environment,
            version=version,
            overrides=overrides or {},
            secrets=secrets,
            run_id=None,
            initiator=rt.settings.user,
            previous_version=previous,
        )
        rt.checked_services(book, env_name, checking)
    if procedure is not None:
        steps = expand_procedure(book, env_name, environment, procedure)
    else:
        steps = expand(book, env_name, environment)
    user = rt.settings.user
    run_id = rt.store.create_run(
        runbook=book.name,
        environment=env_name,
        version=version,
        initiator=user,
        file=book.file,
        text=book.text,
        digest=book.digest,
        params={"vars": dict(overrides or {}), "previous_version": previous},
        steps=steps,
        now=rt.clock.now(),
        kind=kind,
        created={
            "runbook": book.name,
            "file": book.file,
            "digest": book.digest,
            "environment": env_name,
            "version": version,
            "kind": kind,
            "steps": len(steps),
            "via": str(rt.settings.via),
            "os_user": rt.settings.os_user,
        },
        lease=(rt.settings.owner, rt.settings.lease_ttl),
    )
    rt.observer.event(run_id, "run.created", None, {"version": version, "environment": env_name})
    return _drive(rt, run_id, book, secrets, interactive)


def take_over_abandoned(rt: Runtime, runbook: str, environment: str) -> None:
    """A lock held by a run nobody drives (its process died, its lease expired) is taken
    over: that run is stopped and ends aborted, audited, and this deploy goes ahead."""
    dead = rt.store.clear_dead_lock(runbook, environment)
    if dead is not None:
        log.warning("removed a lock on %s/%s naming run %s, which is not active", runbook,
                    environment, dead)  # fmt: skip
    holder_id = rt.store.lock_holder(runbook, environment)
    if holder_id is None:
        return
    run = rt.store.run(holder_id)
    holder = holder_of(run, rt.clock.now(), owner_dead)
    if not abandoned(run, holder):
        return
    why = describe(run, holder)
    stopped = break_lock(rt, run, rt.settings.identity, note="taken over by a new deploy",
                         why=why, by="deploy")  # fmt: skip
    rt.observer.event(
        run.id,
        "lock.taken_over",
        None,
        {
            "message": f"run {run.id} was abandoned ({why}); it ends aborted and this deploy "
            f"takes its lock{stopped}"
        },  # fmt: skip
    )


def _runbook_of(rt: Runtime, run: RunRow) -> Runbook:
    return rt.load_text(run.runbook_text, run.runbook_file)


def _drive(
    rt: Runtime,
    run_id: int,
    book: Runbook,
    secrets: Mapping[str, str],
    interactive: Callable[[str], bool] | None,
) -> RunRow:
    import asyncio

    run = rt.store.run(run_id)
    env_name, environment = rt.environment(book, run.environment)
    variables = rt.variables(
        book,
        env_name,
        environment,
        version=run.version,
        overrides=run.params.get("vars", {}),
        secrets=secrets,
        run_id=run_id,
        initiator=run.initiator,
        previous_version=run.params.get("previous_version", ""),
    )
    redactor = rt.redactor(secrets)
    notifier = Notifier(
        rt.store,
        rt.clock,
        book,
        env_name,
        variables,
        redactor,
        rt.settings.user,
        crash_at=rt.settings.crash_at,
    )
    drive = rt.scheduler().drive(
        run_id,
        actor=rt.settings.user,
        variables=variables,
        redactor=redactor,
        services=rt.step_services(book, env_name, variables),
        interactive=interactive,
    )
    keeper = SilenceKeeper(
        rt.store,
        rt.clock,
        rt.settings.user,
        active=any(s.kind == "silence" for s in [*(s for _p, s in book.steps()), *book.rollback]),
    )
    final = asyncio.run(alongside([notifier, keeper], run_id, drive))
    return final


def repair_revisions(rt: Runtime, runbook: str, environment: str) -> list[int]:
    """Record the revisions of runs that succeeded without one (killed between their end and
    their revision, before both were one transaction); returns the runs repaired."""
    repaired = []
    for run in sorted(rt.store.runs(runbook=runbook, environment=environment, limit=10**6),
                      key=lambda r: r.id):  # fmt: skip
        if run.status == RunStatus.SUCCEEDED and run.revision is None:
            number = rt.store.record_missing_revision(
                run.id, actor=rt.settings.user, at=rt.clock.now()
            )
            if number is not None:
                repaired.append(run.id)
    return repaired


def resume(rt: Runtime, run_id: int, *, interactive: Callable[[str], bool] | None = None) -> RunRow:
    run = rt.store.run(run_id)
    if run.status == RunStatus.SUCCEEDED and run.revision is None:
        repair_revisions(rt, run.runbook, run.environment)
        fixed = rt.store.run(run_id)
        if fixed.revision is not None:
            return fixed
    if run.terminal:
        if _deliver_pending(rt, run):
            return rt.store.run(run_id)
        raise InputError(
            f"run {run_id} already ended ({run.status}); nothing to resume",
            hint="start a new one with runwright deploy",
        )
    book = _runbook_of(rt, run)
    secrets = rt.secrets(book, required=True)
    holder = holder_of(run, rt.clock.now(), owner_dead)
    if holder in (Holder.DEAD, Holder.EXPIRED):
        rt.observer.event(run_id, "lock.taken_over", None, {
            "message": f"taking run {run_id} over: {describe(run, holder)}"})  # fmt: skip
    rt.store.append(
        run_id,
        actor=rt.settings.user,
        type="run.resumed",
        at=rt.clock.now(),
        data={"status": run.status, "previous_driver": run.lease_owner, "driver": str(holder)},
    )
    return _drive(rt, run_id, book, secrets, interactive)


def _deliver_pending(rt: Runtime, run: RunRow) -> bool:
    """Send the notifications an ended run still owes (runwright died before sending them);
    True when there were any."""
    import asyncio

    book = _runbook_of(rt, run)
    env_name, environment = rt.environment(book, run.environment)
    secrets = rt.secrets(book, required=False)
    variables = rt.variables(
        book,
        env_name,
        environment,
        version=run.version,
        overrides=run.params.get("vars", {}),
        secrets=secrets,
        run_id=run.id,
        initiator=run.initiator,
    )
    notifier = Notifier(
        rt.store, rt.clock, book, env_name, variables, rt.redactor(secrets), rt.settings.user
    )
    if not notifier.active:
        return False
    before = len(notifier.deliveries.for_run(run.id))
    pending = [d for d in notifier.deliveries.for_run(run.id) if d.status == DeliveryStatus.SENDING]

    async def pump() -> None:
        try:
            await notifier.pump(run.id)
        finally:
            await notifier.aclose()

    asyncio.run(pump())
    return bool(pending) or len(notifier.deliveries.for_run(run.id)) > before


def _waiting_step(rt: Runtime, run: RunRow, kind: str | None) -> StepRow:
    rows = [r for r in rt.store.steps(run.id) if r.section == MAIN]
    for r in rows:
        if r.status in UNFINISHED_STEP and (kind is None or r.kind == kind):
            return r
    raise InputError(
        f"run {run.id} has no {kind or StepStatus.WAITING} step left to act on "
        f"(status {run.status})"
    )


def _identity_refusal(rt: Runtime, run: RunRow, identity: Identity) -> str | None:
    book = _runbook_of(rt, run)
    _, environment = rt.environment(book, run.environment)
    return identity_refusal(identity, run.environment, environment.identity, rt.settings.os_user)


def _started_under_alias(rt: Runtime, run: RunRow, who: Identity, strict: bool) -> str | None:
    """The OS account that started a run under a declared name is still its initiator."""
    created = next((e for e in rt.store.events(run.id) if e.type == "run.created"), None)
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
        type=f"{what}.refused",
        at=rt.clock.now(),
        step=step,
        data={"reason": why, "via": str(identity.via)},
    )


def approve(
    rt: Runtime, run_id: int, note: str, *, identity: Identity | None = None
) -> tuple[RunRow, str]:
    run = rt.store.run(run_id)
    if run.terminal:
        raise InputError(f"run {run_id} already ended ({run.status})")
    step = _waiting_step(rt, run, "approval")
    params = ApprovalParams.model_validate(step.spec.get("params", {}))
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
        type="approval.given",
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
    return rt.store.run(run_id), message


def attest(
    rt: Runtime,
    run_id: int,
    note: str,
    items: list[int] | None,
    *,
    identity: Identity | None = None,
) -> tuple[RunRow, str]:
    run = rt.store.run(run_id)
    if run.terminal:
        raise InputError(f"run {run_id} already ended ({run.status})")
    rows = [r for r in rt.store.steps(run_id) if r.section == MAIN]
    step = next(
        (
            r
            for r in rows
            if r.status == StepStatus.WAITING and (r.kind == "gate" or r.spec.get("manual"))
        ),
        None,
    )
    if step is None:
        step = next(
            (
                r
                for r in rows
                if r.status in (StepStatus.PENDING, StepStatus.WAITING)
                and (r.kind == "gate" or r.spec.get("manual"))
            ),
            None,
        )
    if step is None:
        raise InputError(f"run {run_id} has no gate or manual step waiting for attestation")
    who = identity or rt.settings.identity
    why = _identity_refusal(rt, run, who)
    if why:
        _refuse(rt, run, step.name, who, "attestation", why)
        raise InputError(f"attestation refused: {why}", hint="attest as yourself")
    now = rt.clock.now()
    targets: list[int | None] = list(items) if items else [None]
    rt.store.append(
        run_id,
        actor=who.name,
        type="gate.attested",
        at=now,
        step=step.name,
        data={"gate": step.name, "items": items or "all", "note": note, "via": str(who.via)},
        decisions=tuple(
            ApprovalRow(run_id, step.name, "attestation", i, who.name, note, now, who.via)
            for i in targets
        ),
    )
    what = "all items" if not items else "item(s) " + ", ".join(map(str, items))
    return rt.store.run(run_id), (
        f"{what} of '{step.name}' attested by {who}; continue with: runwright resume {run_id}"
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
        rt.observer.event(run_id, "step.orphan", row.name,
                          {"message": f"waiting for {mark.describe()} to finish"})  # fmt: skip
        mark.wait(timeout=float("inf"))
        result = f"; waited for {mark.describe()} to finish"
    else:
        stopped = mark.kill()
        result = f"; {'stopped' if stopped else 'could not stop'} {mark.describe()}"
    rt.store.append(
        run_id,
        actor=rt.settings.user,
        type="step.orphan",
        at=rt.clock.now(),
        step=row.name,
        data={"what": what, "action": orphan, "pgid": mark.pgid, "message": result[2:]},
    )
    return result


def settle_step(
    rt: Runtime, run_id: int, step_ref: str, chosen: str, *, orphan: str | None = None
) -> tuple[RunRow, str]:
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
    ended = _orphan(rt, run_id, row, what, orphan)
    values = settle(view, what, choice)
    rt.store.append(
        run_id,
        actor=rt.settings.user,
        type="step.settled",
        at=rt.clock.now(),
        step=view.name,
        data={"what": what, "choice": choice, "via": str(rt.settings.via)},
        run_values={
            "status": RunStatus.RUNNING
            if what == "step" and choice != Settlement.ROLLBACK
            else RunStatus.ROLLING_BACK
        },
        step_update=StepUpdate(view.section, view.idx, values),
    )
    return rt.store.run(run_id), (
        f"{what} '{view.name}' settled as {choice}{ended}; continue with: runwright resume {run_id}"
    )


def abort(
    rt: Runtime, run_id: int, reason: str, *, identity: Identity | None = None
) -> tuple[RunRow, str]:
    run = rt.store.run(run_id)
    if run.terminal:
        raise InputError(f"run {run_id} already ended ({run.status}); nothing to abort")
    who = identity or rt.settings.identity
    user = who.name
    rt.store.append(
        run_id,
        actor=user,
        type="run.abort_requested",
        at=rt.clock.now(),
        data={"reason": reason, "via": str(who.via)},
        run_values={"abort_requested": user},
    )
    fresh = rt.store.run(run_id)

    driven = (
        fresh.lease_owner
        and fresh.lease_expires
        and fresh.lease_expires > rt.clock.now()
        and not owner_dead(fresh.lease_owner)
    )
    if driven:
        return fresh, (
            f"abort requested; {fresh.lease_owner} is driving run {run_id} and "
            "will roll it back now"
        )
    book = _runbook_of(rt, run)
    secrets = rt.secrets(book, required=False)
    final = _drive(rt, run_id, book, secrets, None)
    return final, f"run {run_id} aborted and rolled back ({final.status})"


def run_summary(rt: Runtime, run: RunRow) -> dict[str, Any]:
    steps = rt.store.steps(run.id)
    return {
        "id": run.id,
        "runbook": run.runbook,
        "environment": run.environment,
        "version": run.version,
        "status": run.status,
        "initiator": run.initiator,
        "kind": run.kind,
        "created_at": run.created_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "failure": run.failure,
        "revision": run.revision,
        "steps": [
            {
                "section": s.section,
                "phase": s.phase,
                "name": s.name,
                "kind": s.kind,
                "status": s.status,
                "undo_status": s.undo_status,
                "attempts": s.attempts,
                "summary": s.summary,
                "started_at": s.started_at.isoformat() if s.started_at else None,
                "finished_at": s.finished_at.isoformat() if s.finished_at else None,
            }
            for s in steps
        ],
    }


def dumps(data: Any) -> str:
    return json.dumps(data, indent=2, default=str)


def rollback_target(
    rt: Runtime, env: str, runbook: str | None, to_revision: int | None
) -> tuple[RunRow, int]:
    """The run whose version and runbook a rollback redeploys, and its revision number."""
    names = {r.runbook for r in rt.store.runs(environment=env, limit=500) if r.revision}
    if runbook is None:
        if len(names) != 1:
            raise InputError(
                f"no revisions in {env}"
                if not names
                else f"several runbooks deploy to {env}: {', '.join(sorted(names))}",
                hint="pass --runbook NAME" if names else "deploy something first",
            )
        runbook = next(iter(names))
    revisions = rt.store.revisions(runbook, env)
    if not revisions:
        raise InputError(f"{runbook} has no revisions in {env}", hint="deploy something first")
    if to_revision is None:
        if len(revisions) < 2:
            raise InputError(
                f"{runbook}/{env} has only revision {revisions[0].number}; "
                "nothing earlier to roll back to"
            )
        current = revisions[0].version
        target = next((r for r in revisions[1:] if r.version != current), revisions[1])
    else:
        found = [r for r in revisions if r.number == to_revision]
        if not found:
            raise InputError(
                f"{runbook}/{env} has no revision {to_revision}",
                hint="revisions: " + ", ".join(str(r.number) for r in revisions),
            )
        target = found[0]
    return rt.store.run(target.run_id), target.number


def rollback(
    rt: Runtime,
    env: str,
    *,
    runbook: str | None,
    to_revision: int | None,
    interactive: Callable[[str], bool] | None = None,
) -> RunRow:
    source, _ = rollback_target(rt, env, runbook, to_revision)
    book = rt.load_text(source.runbook_text, source.runbook_file)
    return deploy(
        rt,
        source.runbook_file,
        env,
        source.version,
        runbook=book,
        overrides=source.params.get("vars", {}),
        interactive=interactive,
        kind="rollback",
    )

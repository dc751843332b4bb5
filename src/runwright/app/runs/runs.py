"""Run use cases that drive a run: deploy, resume, rollback (and waiting for people).

They are coroutines, called from an event loop: the CLI runs each under one ``asyncio.run``
at its edge, the web server awaits them in its own loop. Each returns the run's row as it
stands afterwards; the edges turn its status into an exit code (``exit_code_for``) or an HTTP
status. Input problems raise InputError (2), policy and lock problems BlockedError subclasses
(3). The decisions people take on a run (approve, reject, attest, settle, abort) are in
``runs.decisions``; what the run waits for, and in which phase, in ``runs.waiting``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runwright.app.notifications.notifications import Notifier, alongside
from runwright.app.notifications.silences import SilenceKeeper
from runwright.app.plans.expansion import expand, expand_procedure
from runwright.app.plans.policy import RollbackScope, check_promotion, check_windows
from runwright.app.plans.revisions import rollback_target, target_version
from runwright.app.runs.follow import FollowSettings, next_event
from runwright.app.runs.locks import break_lock
from runwright.app.runs.waiting import next_step
from runwright.app.runtime.product import check_versions, prepare
from runwright.app.runtime.runtime import Runtime
from runwright.engine.audit import check_run
from runwright.engine.leases import Holder, abandoned, describe, holder_of
from runwright.engine.processes import owner_dead
from runwright.engine.store import NewStep, RunRow
from runwright.errors import InputError, LockedError
from runwright.model.event_type import EventType
from runwright.model.loader import Runbook
from runwright.model.schema import Environment
from runwright.model.status import DeliveryStatus, RunStatus, exit_code

WAITABLE = frozenset({RunStatus.AWAITING_APPROVAL, RunStatus.AWAITING_ATTESTATION})
"""Statuses ``--wait`` sits out: a person unblocks them from elsewhere (approve, attest)."""
UNBLOCKING = frozenset(
    {
        EventType.APPROVAL_GIVEN,
        EventType.GATE_ATTESTED,
        EventType.RUN_ABORT_REQUESTED,
        EventType.RUN_FINISHED,
    }
)

log = logging.getLogger(__name__)


def exit_code_for(run: RunRow) -> int:
    return exit_code(run.status, run.terminal)


@dataclass(frozen=True)
class Drive:
    """How to drive: prompts on a terminal, and whether to wait for people instead of
    returning blocked (``deploy --wait``: follow the run until an approval or attestation
    arrives, then go on)."""

    interactive: Callable[[str], bool] | None = None
    wait: bool = False
    follow: FollowSettings | None = None


async def deploy(
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
    wait: bool = False,
    rollback_to: RollbackScope | None = None,
) -> RunRow:
    book = runbook or rt.load(path)
    if procedure is not None:
        kind = "procedure"
    env_name, environment = admit(rt, book, env, version, kind=kind, procedure=procedure)
    secrets = rt.secrets(book, required=True)
    repair_revisions(rt, book.name, env_name)
    take_over_abandoned(rt, book.name, env_name)
    prepared = prepare(rt.store, book, env_name, version)
    previous = prepared.previous
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
            versions=prepared.versions,
        )
        await rt.checked_services(book, env_name, checking)
    if procedure is not None:
        steps = expand_procedure(book, env_name, environment, procedure)
    else:
        steps = expand(book, env_name, environment, prepared.touched, rollback_to)
    run_id = create_run(
        rt, book, env_name, version, overrides or {}, steps, kind, previous, prepared.params()
    )
    return await _drive(rt, run_id, book, secrets, Drive(interactive, wait))


def admit(
    rt: Runtime,
    book: Runbook,
    env: str | None,
    version: str,
    *,
    kind: str = "deploy",
    procedure: str | None = None,
) -> tuple[str, Environment]:
    """The environment a run of ``book`` goes to, once its version and the environment's
    policy (windows, freezes, promotion) allow it: for a run started now or queued."""
    env_name, environment = rt.environment(book, env)
    if not version.strip():
        raise InputError("--version must not be empty")
    if procedure is None or version != "-":
        check_versions(book, version)
    if kind != "rollback":  # an emergency rollback is never held by a window or a freeze
        check_windows(env_name, environment, rt.clock.now())
    if kind == "deploy":
        check_promotion(rt.store, book, env_name, environment, version)
    return env_name, environment


def create_run(
    rt: Runtime,
    book: Runbook,
    env_name: str,
    version: str,
    overrides: Mapping[str, Any],
    steps: list[NewStep],
    kind: str,
    previous: str,
    product: Mapping[str, Any] | None = None,
    *,
    queued: bool = False,
) -> int:
    """The run in the store with its ``run.created`` event; driven by this process (it holds
    the lease) or, ``queued``, left for a worker to claim."""
    user = rt.settings.user
    try:
        run_id = rt.store.create_run(
            runbook=book.name,
            environment=env_name,
            version=version,
            initiator=user,
            file=book.file,
            text=book.text,
            digest=book.digest,
            params={"vars": dict(overrides), "previous_version": previous, **(product or {})},
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
                **({"queued": True} if queued else {}),  # not a status
            },
            lease=None if queued else (rt.settings.owner, rt.settings.lease_ttl),
            queued=queued,
        )
    except LockedError as exc:
        raise _explained(rt, exc, book.name, env_name) from None
    if not queued:
        created = {"version": version, "environment": env_name}
        rt.observer.event(run_id, EventType.RUN_CREATED, None, created)
    return run_id


def _explained(rt: Runtime, exc: LockedError, runbook: str, env: str) -> LockedError:
    """The lock error, saying so when the holder is still rolling back and waits for a person."""
    holder = rt.store.lock_holder(runbook, env)
    if holder is None:
        return exc
    run = rt.store.run(holder)
    waiting = next_step(run, rt.store.steps(holder))
    if waiting is None or waiting.on is None:
        return exc
    return LockedError(
        f"{exc.message}; it is {waiting.describe()}",
        hint=f"runwright attest {holder} --all (or approve), then runwright resume {holder}",
    )


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
        EventType.LOCK_TAKEN_OVER,
        None,
        {
            "message": f"run {run.id} was abandoned ({why}); it ends aborted and this deploy "
            f"takes its lock{stopped}"
        },  # fmt: skip
    )


async def _drive(
    rt: Runtime,
    run_id: int,
    book: Runbook,
    secrets: Mapping[str, str],
    how: Drive,
    leased: Callable[[], None] | None = None,
) -> RunRow:
    """Drive the run until it ends or blocks; with ``how.wait``, sit out approvals and
    attestations (following the run's events) and drive on when one arrives. ``leased`` is
    called once this process holds the run's lease, before its first step. A run whose audit
    chain does not support it (an edited event or row, a forged decision) is not driven."""
    verdict = check_run(rt.store, run_id)
    if not verdict.ok:
        raise InputError(
            f"run {run_id} is not driven: its audit trail does not verify: {verdict.message}",
            hint=f"see runwright audit verify {run_id}; someone edited the database",
        )
    while True:
        final = await _drive_once(rt, run_id, book, secrets, how.interactive, leased)
        leased = None
        if not how.wait or final.status not in WAITABLE:
            return final
        event = await next_event(rt, run_id, final.event_count, UNBLOCKING, how.follow)
        if event.type == EventType.RUN_FINISHED:
            return rt.store.run(run_id)
        rt.store.append(
            run_id,
            actor=rt.settings.user,
            type=EventType.RUN_RESUMED,
            at=rt.clock.now(),
            data={"status": final.status, "after": event.type},
        )


async def _drive_once(
    rt: Runtime,
    run_id: int,
    book: Runbook,
    secrets: Mapping[str, str],
    interactive: Callable[[str], bool] | None,
    leased: Callable[[], None] | None = None,
) -> RunRow:
    run = rt.store.run(run_id)
    env_name, variables = rt.run_variables(book, run, secrets)
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
        leased=leased,
    )
    keeper = SilenceKeeper(
        rt.store,
        rt.clock,
        rt.settings.user,
        active=any(s.kind == "silence" for s in [*(s for _p, s in book.steps()), *book.rollback]),
    )
    return await alongside([notifier, keeper], run_id, drive)


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


async def resume(
    rt: Runtime,
    run_id: int,
    *,
    interactive: Callable[[str], bool] | None = None,
    wait: bool = False,
    required_secrets: bool = True,
) -> RunRow:
    run = rt.store.run(run_id)
    if run.status == RunStatus.SUCCEEDED and run.revision is None:
        repair_revisions(rt, run.runbook, run.environment)
        fixed = rt.store.run(run_id)
        if fixed.revision is not None:
            return fixed
    if run.terminal:
        if await _deliver_pending(rt, run):
            return rt.store.run(run_id)
        raise InputError(
            f"run {run_id} already ended ({run.status}); nothing to resume",
            hint="start a new one with runwright deploy",
        )
    book = rt.runbook_of(run)
    secrets = rt.secrets(book, required=required_secrets)
    holder = holder_of(run, rt.clock.now(), owner_dead)

    def resumed() -> None:
        """Said and journaled only once this process holds the run's lease: a resume refused
        the lease (another one drives the run) leaves no trace of a takeover."""
        if holder in (Holder.DEAD, Holder.EXPIRED):
            rt.observer.event(run_id, EventType.LOCK_TAKEN_OVER, None, {
                "message": f"taking run {run_id} over: {describe(run, holder)}"})  # fmt: skip
        rt.store.append(
            run_id,
            actor=rt.settings.user,
            type=EventType.RUN_RESUMED,
            at=rt.clock.now(),
            data={"status": run.status, "previous_driver": run.lease_owner,
                  "driver": str(holder)},
        )  # fmt: skip

    return await _drive(rt, run_id, book, secrets, Drive(interactive, wait), resumed)


async def drive_claimed(rt: Runtime, run_id: int) -> RunRow:
    """Drive a run a worker claimed (queued, or taken over from an expired lease) from its
    journal, under the same rules as ``resume``."""
    book = rt.runbook_of(rt.store.run(run_id))
    return await _drive(rt, run_id, book, rt.secrets(book, required=True), Drive())


async def _deliver_pending(rt: Runtime, run: RunRow) -> bool:
    """Send the notifications an ended run still owes (runwright died before sending them);
    True when there were any."""
    book = rt.runbook_of(run)
    secrets = rt.secrets(book, required=False)
    env_name, variables = rt.run_variables(book, run, secrets)
    notifier = Notifier(
        rt.store, rt.clock, book, env_name, variables, rt.redactor(secrets), rt.settings.user
    )
    if not notifier.active:
        return False
    known = notifier.deliveries.for_run(run.id)
    before = len(known)
    pending = [d for d in known if d.status == DeliveryStatus.SENDING]
    try:
        await notifier.pump(run.id)
    finally:
        await notifier.aclose()
    return bool(pending) or len(notifier.deliveries.for_run(run.id)) > before


async def rollback(
    rt: Runtime,
    env: str,
    *,
    runbook: str | None,
    to_revision: int | None,
    interactive: Callable[[str], bool] | None = None,
    wait: bool = False,
) -> RunRow:
    """Redeploy an earlier revision: no window or freeze holds it, the runbook's gates and
    approval steps are left out, and only the approvals the environment's ``rollback:`` rules
    ask for are needed (none, by default, to the previous revision); ``wait`` sits them out."""
    source, scope = rollback_target(rt, env, runbook, to_revision)
    book = rt.load_text(source.runbook_text, source.runbook_file)
    return await deploy(
        rt,
        source.runbook_file,
        env,
        target_version(book, source),
        runbook=book,
        overrides=source.params.get("vars", {}),
        interactive=interactive,
        kind="rollback",
        wait=wait,
        rollback_to=scope,
    )

"""The actions a web user may take, shared by the JSON API and the dashboard's forms.

Each checks the user's role for the run's environment, then calls the same app use case as
the CLI, acting as the web user, so every rule (the initiator may not approve, N of M,
expiry, windows, locks) and every audit event is the CLI's. Actions that drive a run (deploy,
resume, abort, rollback) continue as tasks of this server after the response.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from runwright.app import decisions, runs, worker
from runwright.app.identity import AuthMethod, Identity
from runwright.app.reject import reject
from runwright.engine.store import RunRow
from runwright.errors import InputError
from runwright.model.status import RunStatus
from runwright.web.auth import WebUser, readable_run, require
from runwright.web.state import WebState
from runwright.web.tasks import call


@dataclass(frozen=True)
class Done:
    run: int
    message: str


async def deploy(
    state: WebState,
    user: WebUser,
    runbook: str,
    env: str | None,
    version: str,
    overrides: dict[str, Any] | None = None,
) -> Done:
    entry = state.registry.get(runbook)
    if entry is None or entry.runbook is None:
        raise InputError(
            f"no runbook named {runbook!r} in {state.config.runbooks}",
            hint="runbooks: "
            + ", ".join(e.runbook.name for e in state.registry.entries() if e.runbook),
        )
    rt = state.runtime_for(user.name)
    env_name, _ = rt.environment(entry.runbook, env)
    require(user, "deploy", env_name)
    if state.config.workers > 0:
        run_id = await asyncio.to_thread(
            worker.queue, rt, entry.path, env_name, version, overrides=overrides or {}
        )
        return Done(run_id, f"run {run_id} queued: {runbook} {version} -> {env_name}")
    run_id = await state.tasks.start_new(
        rt, runs.deploy, entry.path, env_name, version, overrides=overrides or {}
    )
    return Done(run_id, f"run {run_id} started: {runbook} {version} -> {env_name}")


def _identity(user: WebUser) -> Identity:
    """Whom the server authenticated, and how: a bearer token or a login session."""
    return Identity(user.name, AuthMethod.TOKEN if user.via == "token" else AuthMethod.LOGIN)


def _run(state: WebState, user: WebUser, run_id: int, action: str) -> RunRow:
    run = readable_run(state, user, run_id)
    require(user, action, run.environment)
    return run


async def approve(state: WebState, user: WebUser, run_id: int, note: str) -> Done:
    _run(state, user, run_id, "approve")
    rt = state.runtime_for(user.name)
    acted = await call(decisions.approve, rt, run_id, note, _identity(user))
    run, message = acted.run, acted.message
    if run.status == RunStatus.AWAITING_APPROVAL and message.endswith(f"runwright resume {run_id}"):
        await state.tasks.start(runs.resume, rt, run_id)
        message = message.split(";")[0] + "; the run continues"
    return Done(run_id, message)


async def reject_run(state: WebState, user: WebUser, run_id: int, note: str) -> Done:
    _run(state, user, run_id, "reject")
    await state.tasks.start(reject, state.runtime_for(user.name), run_id, note)
    return Done(run_id, f"run {run_id} rejected by {user.name}; it rolls back")


async def attest(
    state: WebState, user: WebUser, run_id: int, note: str, items: list[int] | None
) -> Done:
    _run(state, user, run_id, "attest")
    rt = state.runtime_for(user.name)
    message = (await call(decisions.attest, rt, run_id, note, items, _identity(user))).message
    fresh = rt.store.run(run_id)
    if fresh.status == RunStatus.AWAITING_ATTESTATION:
        await state.tasks.start(runs.resume, rt, run_id)
        message = message.split(";")[0] + "; the run continues"
    return Done(run_id, message)


async def settle(state: WebState, user: WebUser, run_id: int, step: str, choice: str) -> Done:
    _run(state, user, run_id, "settle")
    rt = state.runtime_for(user.name)
    message = (await call(decisions.settle_step, rt, run_id, step, choice)).message
    return Done(run_id, message)


async def resume(state: WebState, user: WebUser, run_id: int) -> Done:
    _run(state, user, run_id, "resume")
    await state.tasks.start(runs.resume, state.runtime_for(user.name), run_id)
    return Done(run_id, f"run {run_id} resumed by {user.name}")


async def abort(state: WebState, user: WebUser, run_id: int, reason: str) -> Done:
    _run(state, user, run_id, "abort")
    why = reason or f"aborted by {user.name} from the web"
    rt = state.runtime_for(user.name)
    await state.tasks.start(decisions.abort, rt, run_id, why, _identity(user))
    return Done(run_id, f"abort of run {run_id} requested by {user.name}")


async def rollback(
    state: WebState, user: WebUser, env: str, runbook: str | None, to_revision: int | None
) -> Done:
    require(user, "rollback", env)
    rt = state.runtime_for(user.name)
    run_id = await state.tasks.start_new(
        rt, runs.rollback, env, runbook=runbook, to_revision=to_revision
    )
    return Done(run_id, f"rollback run {run_id} started in {env}")

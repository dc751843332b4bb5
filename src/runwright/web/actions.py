"""The actions a web user may take, shared by the JSON API and the dashboard's forms.

Each takes what the route's permission dependency cleared (``permissions.py``): the run and
the user allowed to act on it, or, where the runbook decides the environment, the pending
check it makes once the environment is known. It then calls the same app use case as the
CLI, acting as the web user, so every rule (the initiator may not approve, N of M,
expiry, windows, locks) and every audit event is the CLI's. Actions that drive a run (deploy,
resume, abort, rollback) continue as tasks of this server after the response.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runwright.app.people.users import Forbidden
from runwright.app.runs import decisions, runs, worker
from runwright.app.runs.decisions import reject
from runwright.app.runtime.identity import AuthMethod, Identity
from runwright.app.runtime.runtime import read_runbook_text
from runwright.errors import InputError
from runwright.model.loader import Runbook
from runwright.model.status import RunStatus
from runwright.web.auth import WebUser
from runwright.web.permissions import EnvAccess, Pending, RunAccess
from runwright.web.state import WebState
from runwright.web.tasks import call

MAX_RUNBOOK = 2_000_000
"""Characters of an uploaded runbook the API accepts."""


@dataclass(frozen=True)
class Done:
    run: int
    message: str


@dataclass(frozen=True)
class Upload:
    """A runbook sent with the deploy (``runwright deploy FILE --server``): its file name and
    content; the run records the content and its digest like a local file's."""

    file: str
    text: str


def check_sent(state: WebState) -> None:
    """A sent runbook is commands the workers will run: only where the server allows it."""
    if not state.config.accept_sent_runbooks:
        raise Forbidden(
            "this server runs only the runbooks of its --runbooks directory",
            hint="deploy one by name (runwright deploy NAME ...), or start the server with "
            "--accept-sent-runbooks to let deployers send runbook files",
        )


def _runbook(state: WebState, runbook: str, upload: Upload | None) -> tuple[Path, Runbook]:
    if upload is not None:
        check_sent(state)
        book = read_runbook_text(upload.text, Path(upload.file).name)
        if runbook and book.name != runbook:
            raise InputError(f"the uploaded runbook is named {book.name!r}, not {runbook!r}")
        return Path(book.file), book
    entry = state.registry.get(runbook)
    if entry is None or entry.runbook is None:
        raise InputError(
            f"no runbook named {runbook!r} in {state.config.runbooks}",
            hint="runbooks: "
            + ", ".join(e.runbook.name for e in state.registry.entries() if e.runbook)
            + "; or send the file: runwright deploy FILE --server URL",
        )
    return entry.path, entry.runbook


async def deploy(
    state: WebState,
    pending: Pending,
    runbook: str,
    env: str | None,
    version: str,
    overrides: dict[str, Any] | None = None,
    *,
    upload: Upload | None = None,
) -> Done:
    path, book = _runbook(state, runbook, upload)
    rt = state.runtime_for(pending.user.name)
    env_name = pending.environment(rt.environment(book, env)[0], "deploy").environment
    if state.config.workers > 0:
        run_id = await asyncio.to_thread(
            worker.queue, rt, path, env_name, version, overrides=overrides or {}, runbook=book
        )
        return Done(run_id, f"run {run_id} queued: {book.name} {version} -> {env_name}")
    run_id = await state.tasks.start_new(
        rt, runs.deploy, path, env_name, version, overrides=overrides or {}, runbook=book
    )
    return Done(run_id, f"run {run_id} started: {book.name} {version} -> {env_name}")


def _identity(user: WebUser) -> Identity:
    """Whom the server authenticated, and how: a bearer token, a signed Slack button press
    by a linked Slack user, or a login session."""
    if user.via == "slack":
        return Identity(user.name, AuthMethod.SLACK)
    return Identity(user.name, AuthMethod.TOKEN if user.via == "token" else AuthMethod.LOGIN)


async def approve(state: WebState, access: RunAccess, note: str) -> Done:
    user, run_id = access.user, access.run.id
    rt = state.runtime_for(user.name)
    acted = await call(decisions.approve, rt, run_id, note, _identity(user))
    run, message = acted.run, acted.message
    if run.status == RunStatus.AWAITING_APPROVAL and message.endswith(f"runwright resume {run_id}"):
        await state.tasks.start(runs.resume, rt, run_id)
        message = message.split(";")[0] + "; the run continues"
    return Done(run_id, message)


async def reject_run(state: WebState, access: RunAccess, note: str) -> Done:
    user, run_id = access.user, access.run.id
    await state.tasks.start(reject, state.runtime_for(user.name), run_id, note)
    return Done(run_id, f"run {run_id} rejected by {user.name}; it rolls back")


async def attest(state: WebState, access: RunAccess, note: str, items: list[int] | None) -> Done:
    user, run_id = access.user, access.run.id
    rt = state.runtime_for(user.name)
    message = (await call(decisions.attest, rt, run_id, note, items, _identity(user))).message
    fresh = rt.store.run(run_id)
    if fresh.status == RunStatus.AWAITING_ATTESTATION:
        await state.tasks.start(runs.resume, rt, run_id)
        message = message.split(";")[0] + "; the run continues"
    return Done(run_id, message)


async def settle(
    state: WebState, access: RunAccess, step: str, choice: str, orphan: str | None = None
) -> Done:
    run_id = access.run.id
    rt = state.runtime_for(access.user.name)
    message = (await call(decisions.settle_step, rt, run_id, step, choice, orphan=orphan)).message
    return Done(run_id, message)


async def resume(state: WebState, access: RunAccess) -> Done:
    user, run_id = access.user, access.run.id
    await state.tasks.start(runs.resume, state.runtime_for(user.name), run_id)
    return Done(run_id, f"run {run_id} resumed by {user.name}")


async def abort(state: WebState, access: RunAccess, reason: str) -> Done:
    user, run_id = access.user, access.run.id
    why = reason or f"aborted by {user.name} from the web"
    rt = state.runtime_for(user.name)
    await state.tasks.start(decisions.abort, rt, run_id, why, _identity(user))
    return Done(run_id, f"abort of run {run_id} requested by {user.name}")


async def rollback(
    state: WebState, access: EnvAccess, runbook: str | None, to_revision: int | None
) -> Done:
    env = access.environment
    rt = state.runtime_for(access.user.name)
    run_id = await state.tasks.start_new(
        rt, runs.rollback, env, runbook=runbook, to_revision=to_revision
    )
    return Done(run_id, f"rollback run {run_id} started in {env}")

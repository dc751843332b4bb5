"""The API routes the remote CLI reads beside the dashboard's: each answers with the app read
model's own ``to_json()``, so ``runwright --server URL logs 7 --json`` prints exactly what the
same command prints on the server's machine, and the CLI renders text from the same data.

Every route declares the caller's read role for the environments it shows (runs of other
environments are left out of lists; one named answers 404, as one that does not exist);
plans of an uploaded runbook need the deploy role there, since planning renders the runbook
with the server's settings.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from runwright.app.plans.preview import plan_book
from runwright.app.reads import audit as audit_app
from runwright.app.reads import views
from runwright.app.runtime.runtime import read_runbook_text
from runwright.engine.feed import read_events
from runwright.errors import InputError
from runwright.web.actions import MAX_RUNBOOK, check_sent
from runwright.web.auth import WebUser
from runwright.web.permissions import (
    Pending,
    RunAccess,
    RunQuery,
    allowed,
    on_run,
    on_run_query,
    per_environment,
)
from runwright.web.state import WebState, web_state

router = APIRouter(prefix="/api/v1", tags=["runwright"])
State = Annotated[WebState, Depends(web_state)]


class PlanBody(BaseModel):
    runbook: str
    environment: str | None = None
    version: str = Field("<version>", min_length=1, max_length=200)
    vars: dict[str, str] = Field(default_factory=dict)
    text: str | None = Field(None, max_length=MAX_RUNBOOK)
    file: str = Field("runbook.yaml", max_length=200)


@router.get("/runs/{run_id}/logs")
def logs(
    run_id: int,
    _: Annotated[RunAccess, Depends(on_run("read"))],
    state: State,
    step: str | None = None,
) -> dict[str, Any]:
    """``runwright logs RUN --json``: the run's events and each step's output."""
    return views.logs(state.runtime, run_id, step).to_json()


@router.get("/events")
def events(
    asked: Annotated[RunQuery, Depends(on_run_query("read", without="read"))],
    state: State,
    after: int = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> list[dict[str, Any]]:
    """Events with full data, as ``runwright events --json`` prints them: one run's after
    sequence number ``after``, or every readable run's after event id ``after``."""
    rt, user = state.runtime, asked.user
    if asked.run is not None:
        found = read_events(rt.store.engine, asked.run.id, after, limit)
        return [views.event_json(e) for e in found]
    envs: dict[int, str] = {}
    out = []
    for e in views.events_after(rt, after, limit):
        if e.run_id not in envs:
            envs[e.run_id] = rt.store.run(e.run_id).environment
        if user.can("read", envs[e.run_id]):
            out.append(views.event_json(e))
    return out


@router.get("/environments/live")
def environments(
    user: Annotated[WebUser, Depends(allowed("read"))], state: State
) -> list[dict[str, Any]]:
    """``runwright environments --json``: each deployed environment's live revision and the
    run holding its lock."""
    found = views.environments(state.runtime)
    return [e.to_json() for e in found if user.can("read", e.environment)]


@router.get("/audit/verify")
def verify(
    asked: Annotated[RunQuery, Depends(on_run_query("read", without="admin"))], state: State
) -> dict[str, Any]:
    """``runwright audit verify [RUN]``: the chain check, on the server, which holds the key;
    every run's needs an admin."""
    run = asked.run.id if asked.run is not None else None
    ok, lines = audit_app.verify(state.runtime, run)
    return {"run": run, "ok": ok, "lines": lines}


@router.post("/plans")
async def plan(
    body: PlanBody,
    pending: Annotated[Pending, Depends(per_environment("read", "deploy"))],
    state: State,
) -> dict[str, Any]:
    """``runwright plan FILE --server``: the plan of a sent runbook (or one of ``--runbooks``)."""
    rt = state.runtime_for(pending.user.name)
    if body.text is not None:
        check_sent(state)
        book = read_runbook_text(body.text, body.file.rsplit("/", 1)[-1])
        pending.environment(rt.environment(book, body.environment)[0], "deploy")
    else:
        entry = state.registry.get(body.runbook)
        if entry is None or entry.runbook is None:
            raise InputError(f"no runbook named {body.runbook!r} on this server")
        book = entry.runbook
        pending.environment(rt.environment(book, body.environment)[0], "read")
    return (await plan_book(rt, book, body.environment, body.version, body.vars)).as_dict()

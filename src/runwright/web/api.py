"""The REST API under /api/v1: JSON in and out, bearer tokens, documented by OpenAPI."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import PlainTextResponse, StreamingResponse
from pydantic import BaseModel, Field, model_validator

from runwright.app.notifications import redelivery
from runwright.app.people import users
from runwright.app.plans.preview import plan_book, plan_rollback
from runwright.app.reads import report, report_html, views
from runwright.app.reads.views import RunFilter, env_state, list_runs
from runwright.app.runtime.product import joined
from runwright.engine.audit import verify_run
from runwright.engine.store import RevisionRow
from runwright.errors import InputError
from runwright.model.status import Settlement
from runwright.web import actions
from runwright.web.auth import WebUser
from runwright.web.permissions import (
    EnvAccess,
    Pending,
    RunAccess,
    RunQuery,
    allowed,
    in_environment,
    on_run,
    on_run_query,
    per_environment,
    signed_in,
)
from runwright.web.sse import last_event_id
from runwright.web.state import WebState, web_state
from runwright.web.views import run_view

router = APIRouter(prefix="/api/v1", tags=["runwright"])
State = Annotated[WebState, Depends(web_state)]
Reader = Annotated[WebUser, Depends(allowed("read"))]
RunReader = Annotated[RunAccess, Depends(on_run("read"))]


class DeployBody(BaseModel):
    runbook: str
    environment: str | None = None
    version: str = Field("", max_length=200, description="Every service's version (or the one)")
    versions: dict[str, str] = Field(
        default_factory=dict, description="A product's services' versions, one by one"
    )
    vars: dict[str, str] = Field(default_factory=dict)
    text: str | None = Field(None, max_length=actions.MAX_RUNBOOK)
    """The runbook file's content, uploaded by ``runwright deploy --server``; without it,
    ``runbook`` names one of the server's ``--runbooks``."""
    file: str = Field("runbook.yaml", max_length=200)

    @model_validator(mode="after")
    def _some_version(self) -> DeployBody:
        if not self.version and not self.versions:
            raise ValueError("give version, or versions: {service: version}")
        return self


class NoteBody(BaseModel):
    note: str = Field("", max_length=2000)


class AttestBody(NoteBody):
    items: list[int] | None = None


class AbortBody(BaseModel):
    reason: str = Field("", max_length=2000)


class SettleBody(BaseModel):
    step: str
    choice: str = Field(pattern=f"^({'|'.join(Settlement)})$")
    orphan: str | None = Field(None, pattern="^(wait|kill)$")
    """If the step's process group still runs: let it finish first, or stop it first."""


class RollbackBody(BaseModel):
    runbook: str | None = None
    to_revision: int | None = None


def _done(done: actions.Done) -> dict[str, Any]:
    return {"run": done.run, "message": done.message}


@router.get("/whoami")
def whoami(user: Annotated[WebUser, Depends(signed_in())]) -> dict[str, Any]:
    return {
        "name": user.name,
        "via": user.via,
        "roles": [{"role": g.role, "environment": g.environment} for g in user.grants],
    }


@router.get("/runbooks")
def runbooks(user: Reader, state: State) -> list[dict[str, Any]]:
    return [
        {
            "name": e.runbook.name if e.runbook else None,
            "file": str(e.path),
            "environments": [n for n in e.runbook.environments if user.sees(n)]
            if e.runbook
            else [],
            "error": e.error or None,
        }
        for e in state.registry.entries()
    ]


@router.get("/runbooks/{name}/plan")
async def plan(
    name: str,
    pending: Annotated[Pending, Depends(per_environment("read"))],
    state: State,
    env: str | None = None,
    version: str = "<version>",
) -> dict[str, Any]:
    entry = state.registry.get(name)
    if entry is None or entry.runbook is None:
        raise InputError(f"no runbook named {name!r}")
    rt = state.runtime_for(pending.user.name)
    env_name = pending.environment(rt.environment(entry.runbook, env)[0]).environment
    return (await plan_book(rt, entry.runbook, env_name, version)).as_dict()


@router.get("/runs")
def list_(
    user: Reader,
    state: State,
    runbook: str | None = None,
    environment: str | None = None,
    status: str | None = None,
    initiator: str | None = None,
    active: bool = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    where = RunFilter(runbook, environment, status, initiator, active, user.environments)
    lines, total = list_runs(state.runtime, where, limit=limit, offset=offset)
    return {"runs": [r.to_json() for r in lines], "total": total, "limit": limit, "offset": offset}


@router.get("/runs/{run_id}")
def run_detail(run_id: int, access: RunReader, state: State) -> dict[str, Any]:
    rt = state.runtime
    run = access.run
    view = run_view(rt, run_id, access.user.name)
    return {
        **views.run_status(rt, run).to_json(),
        "reason": view.reason,
        "approvals": [a.__dict__ for a in view.approvals],
        "gates": [g.__dict__ for g in view.gates],
        "traffic": view.traffic,
    }


@router.get("/runs/{run_id}/events")
def events(run_id: int, _: RunReader, state: State, after: int = 0) -> list[dict[str, Any]]:
    return [
        {**views.event_json(e), "hash": e.hash}
        for e in state.runtime.store.events(run_id)
        if e.seq > after
    ]


@router.get("/runs/{run_id}/output")
def output(
    run_id: int, _: RunReader, state: State, step: str | None = None
) -> list[dict[str, str]]:
    return [
        {"section": s.section, "step": s.name, "output": s.output}
        for s in state.runtime.store.steps(run_id)
        if step is None or s.name == step
    ]


@router.get("/runs/{run_id}/measurements")
def measurements(run_id: int, access: RunReader, state: State) -> list[dict[str, Any]]:
    return run_view(state.runtime, run_id, access.user.name).charts


@router.get("/runs/{run_id}/audit")
def audit(run_id: int, access: RunReader, state: State) -> dict[str, Any]:
    run = access.run
    verdict = verify_run(state.runtime.store, run_id)
    ok, sentence = verdict.ok, verdict.message
    return {"run": run_id, "ok": ok, "detail": sentence, "events": run.event_count}


@router.get("/runs/{run_id}/report", response_class=PlainTextResponse)
def report_(run_id: int, access: RunReader, state: State, format: str = "md") -> PlainTextResponse:
    run = access.run
    if format == "html":
        body = report_html.html(state.runtime, run)
        return PlainTextResponse(body, media_type="text/html; charset=utf-8")
    return PlainTextResponse(report.markdown(state.runtime, run), media_type="text/markdown")


@router.get("/environments")
def environments(user: Reader, state: State) -> list[dict[str, Any]]:
    out = []
    for e in state.registry.entries():
        if e.runbook is None:
            continue
        for name, env in e.runbook.environments.items():
            if not user.sees(name):
                continue
            s = env_state(state.runtime, e.runbook.name, name)
            out.append(
                {
                    "runbook": e.runbook.name,
                    "environment": name,
                    "revision": s.current.number if s.current else None,
                    "version": s.current.version if s.current else None,
                    **_versions(s.current),
                    "locked_by_run": s.locked_by,
                    "windows": [w.model_dump(mode="json") for w in env.windows],
                    "freezes": [f.model_dump(mode="json", by_alias=True) for f in env.freezes],
                }
            )
    return out


@router.get("/environments/{env}/rollback-plan")
async def rollback_plan_(
    env: str,
    access: Annotated[EnvAccess, Depends(in_environment("read"))],
    state: State,
    runbook: str | None = None,
    to_revision: int | None = None,
) -> dict[str, Any]:
    p = await plan_rollback(state.runtime_for(access.user.name), env, runbook, to_revision)
    return {"header": p.header, "revision": p.revision, **p.plan.as_dict()}


@router.post("/environments/{env}/rollback", status_code=202)
async def rollback(
    body: RollbackBody,
    access: Annotated[EnvAccess, Depends(in_environment("rollback"))],
    state: State,
) -> dict[str, Any]:
    return _done(await actions.rollback(state, access, body.runbook, body.to_revision))


@router.post("/runs", status_code=202)
async def deploy(
    body: DeployBody, pending: Annotated[Pending, Depends(per_environment("deploy"))], state: State
) -> dict[str, Any]:
    upload = actions.Upload(body.file, body.text) if body.text is not None else None
    version = joined(body.version, body.versions)
    done = await actions.deploy(
        state, pending, body.runbook, body.environment, version, body.vars, upload=upload
    )
    return _done(done)


@router.post("/runs/{run_id}/approve")
async def approve(
    body: NoteBody, access: Annotated[RunAccess, Depends(on_run("approve"))], state: State
) -> dict[str, Any]:
    return _done(await actions.approve(state, access, body.note))


@router.post("/runs/{run_id}/reject")
async def reject(
    body: NoteBody, access: Annotated[RunAccess, Depends(on_run("reject"))], state: State
) -> dict[str, Any]:
    return _done(await actions.reject_run(state, access, body.note))


@router.post("/runs/{run_id}/attest")
async def attest(
    body: AttestBody, access: Annotated[RunAccess, Depends(on_run("attest"))], state: State
) -> dict[str, Any]:
    return _done(await actions.attest(state, access, body.note, body.items))


@router.post("/runs/{run_id}/abort")
async def abort(
    body: AbortBody, access: Annotated[RunAccess, Depends(on_run("abort"))], state: State
) -> dict[str, Any]:
    return _done(await actions.abort(state, access, body.reason))


@router.post("/runs/{run_id}/resume")
async def resume(
    access: Annotated[RunAccess, Depends(on_run("resume"))], state: State
) -> dict[str, Any]:
    return _done(await actions.resume(state, access))


@router.post("/runs/{run_id}/settle")
async def settle(
    body: SettleBody, access: Annotated[RunAccess, Depends(on_run("settle"))], state: State
) -> dict[str, Any]:
    return _done(await actions.settle(state, access, body.step, body.choice, body.orphan))


@router.get("/deliveries")
def deliveries(user: Reader, state: State) -> list[dict[str, Any]]:
    """Notifications not delivered (sending, failed with their next attempt, given up), of
    the environments the caller may read."""
    return [o.to_json() for o in redelivery.owed(state.runtime, user.environments)]


class OidcLinkBody(BaseModel):
    issuer: str = Field(min_length=1, max_length=500)
    subject: str = Field(min_length=1, max_length=500)


@router.post("/users/{name}/oidc")
def link_oidc(
    name: str,
    body: OidcLinkBody,
    user: Annotated[WebUser, Depends(allowed("admin"))],
    state: State,
) -> dict[str, Any]:
    """Admins only: the identity provider's account (issuer, subject) logs in as ``name``."""
    users.link_oidc(state.runtime_for(user.name), name, body.issuer, body.subject)
    return {"user": name, "issuer": body.issuer, "subject": body.subject}


def stream_router() -> APIRouter:
    """The SSE stream, shared by the dashboard (cookie) and API clients (bearer)."""
    sse = APIRouter()

    @sse.get("/api/v1/events/stream", response_class=StreamingResponse, response_model=None)
    async def stream(
        request: Request,
        asked: Annotated[RunQuery, Depends(on_run_query("read", without="read"))],
        state: State,
        run: int | None = None,
        after: int | None = None,
    ) -> StreamingResponse:
        start = last_event_id(request.headers.get("last-event-id"))
        since = start if start is not None else after
        frames = state.hub.stream(run, since, asked.user.environments)
        headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        return StreamingResponse(frames, media_type="text/event-stream", headers=headers)

    return sse


def _versions(revision: RevisionRow | None) -> dict[str, Any]:
    """A product's revision's set of its services' versions (nothing for one service)."""
    held = revision.state.get("versions") if revision is not None else None
    return {"versions": held} if isinstance(held, dict) else {}

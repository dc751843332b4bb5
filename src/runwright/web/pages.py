"""The dashboard's pages, rendered on the server with Jinja2 (autoescaped: runbook text is
user input). Live parts are fragments that live.js re-fetches when the event stream says
something changed; nothing on a page needs JavaScript to be read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from runwright.app.plans.preview import plan_book, plan_rollback
from runwright.app.reads import report, report_html
from runwright.app.reads.views import RunFilter, env_state, list_runs
from runwright.engine.audit import verify_run
from runwright.errors import InputError
from runwright.model.status import TERMINAL
from runwright.web.auth import WebUser, identify
from runwright.web.permissions import (
    EnvAccess,
    Pending,
    RunAccess,
    allowed,
    in_environment,
    on_run,
    per_environment,
)
from runwright.web.sse import latest
from runwright.web.state import WebState, web_state
from runwright.web.views import run_view

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
Reader = Annotated[WebUser, Depends(allowed("read", identify))]
RunReader = Annotated[RunAccess, Depends(on_run("read", identify))]
State = Annotated[WebState, Depends(web_state)]
PAGE = 50


def render(
    request: Request, name: str, user: WebUser | None, *, status: int = 200, **ctx: Any
) -> HTMLResponse:
    ctx.update(user=user, csrf=user.csrf if user else "", terminal=TERMINAL)
    if ctx.get("live"):
        ctx.setdefault("since", latest(web_state(request).runtime.store.engine))
    response = templates.TemplateResponse(request, name, ctx, status_code=status)
    response.headers["Cache-Control"] = "no-store"
    return response


def error_page(request: Request, status: int, message: str, hint: str | None) -> Response:
    return render(request, "error.html", None, status=status, message=message, hint=hint)


@router.get("/")
def overview(request: Request, user: Reader, state: State) -> Response:
    rt = state.runtime
    rows = []
    for e in state.registry.entries():
        if e.runbook is None:
            rows.append({"entry": e, "envs": []})
            continue
        envs = [
            {"name": n, "env": env, "state": env_state(rt, e.runbook.name, n)}
            for n, env in e.runbook.environments.items()
            if user.sees(n)
        ]
        rows.append({"entry": e, "envs": envs})
    since = latest(rt.store.engine)
    active, _ = list_runs(rt, RunFilter(active=True, environments=user.environments), limit=20)
    return render(request, "overview.html", user, rows=rows, active=active, live=True, since=since)


@router.get("/runs")
def runs_page(
    request: Request,
    user: Reader,
    state: State,
    runbook: str = "",
    environment: str = "",
    status: str = "",
    initiator: str = "",
    page: int = 1,
) -> Response:
    where = RunFilter(
        runbook or None,
        environment or None,
        status or None,
        initiator or None,
        environments=user.environments,
    )
    page = max(1, page)
    lines, total = list_runs(state.runtime, where, limit=PAGE, offset=(page - 1) * PAGE)
    return render(
        request,
        "runs.html",
        user,
        runs=lines,
        total=total,
        page=page,
        pages=max(1, -(-total // PAGE)),
        where=where,
    )


@router.get("/runs/{run_id}")
def run_page(request: Request, access: RunReader, state: State, msg: str = "") -> Response:
    since = latest(state.runtime.store.engine)
    view = _view(state, access)
    return render(request, "run.html", access.user, v=view, msg=msg, live=True, since=since)


@router.get("/runs/{run_id}/live")
def run_live(request: Request, access: RunReader, state: State) -> Response:
    return render(request, "_live.html", access.user, v=_view(state, access))


def _view(state: WebState, access: RunAccess) -> Any:
    return run_view(state.runtime, access.run.id, access.user.name)


@router.get("/plan")
async def plan_page(
    request: Request,
    pending: Annotated[Pending, Depends(per_environment("read", who=identify))],
    state: State,
    runbook: str,
    env: str = "",
    version: str = "",
) -> Response:
    entry = state.registry.get(runbook)
    if entry is None or entry.runbook is None:
        raise InputError(f"no runbook named {runbook!r}")
    user = pending.user
    rt = state.runtime_for(user.name)
    env_name = pending.environment(rt.environment(entry.runbook, env or None)[0]).environment
    plan = await plan_book(rt, entry.runbook, env_name, version) if version else None
    return render(
        request,
        "plan.html",
        user,
        book=entry.runbook,
        env=env_name,
        version=version,
        plan=plan,
        can_deploy=user.can("deploy", env_name),
    )


@router.get("/rollback")
async def rollback_page(
    request: Request,
    access: Annotated[EnvAccess, Depends(in_environment("read", identify))],
    state: State,
    env: str,
    runbook: str = "",
) -> Response:
    user = access.user
    p = await plan_rollback(state.runtime_for(user.name), env, runbook or None, None)
    return render(
        request,
        "rollback.html",
        user,
        plan=p.plan,
        header=p.header,
        number=p.revision,
        env=env,
        can_rollback=user.can("rollback", env),
    )


@router.get("/runs/{run_id}/audit")
def audit_page(request: Request, run_id: int, access: RunReader, state: State) -> Response:
    run = access.run
    events = state.runtime.store.events(run_id)
    verdict = verify_run(state.runtime.store, run_id)
    ok, sentence = verdict.ok, verdict.message
    return render(
        request, "audit.html", access.user, run=run, events=events, ok=ok, sentence=sentence
    )


@router.get("/runs/{run_id}/report.{fmt}")
def report_download(run_id: int, fmt: str, access: RunReader, state: State) -> Response:
    run = access.run
    if fmt == "html":
        body, media = report_html.html(state.runtime, run), "text/html; charset=utf-8"
    elif fmt == "md":
        body, media = report.markdown(state.runtime, run), "text/markdown; charset=utf-8"
    else:
        raise InputError(f"no report format {fmt!r}", hint="report.md or report.html")
    disposition = f'attachment; filename="run-{run_id}-report.{fmt}"'
    return Response(body, media_type=media, headers={"Content-Disposition": disposition})

"""The dashboard's buttons: HTML form posts, each with the session's CSRF token.

A post without a valid token is refused (403) before anything is read or done. On success
the browser is sent back to the run's page with a one-line message.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import RedirectResponse

from runwright.app.people.users import Forbidden
from runwright.web import actions, csrf
from runwright.web.auth import WebUser, identify
from runwright.web.permissions import Pending, RunAccess, on_run, per_environment, signed_in
from runwright.web.state import WebState, web_state

router = APIRouter(include_in_schema=False)
State = Annotated[WebState, Depends(web_state)]


async def form_user(request: Request) -> WebUser:
    user = identify(request)
    form = await request.form()
    given = form.get(csrf.FIELD)
    if not user.session or not csrf.valid(user.session, given if isinstance(given, str) else None):
        raise Forbidden("missing or wrong CSRF token", hint="reload the page and try again")
    return user


Actor = Annotated[WebUser, Depends(signed_in(form_user))]

# The run of the path, cleared for the action by the form's user (its CSRF token checked first).
Approver = Annotated[RunAccess, Depends(on_run("approve", form_user))]
Rejecter = Annotated[RunAccess, Depends(on_run("reject", form_user))]
Attester = Annotated[RunAccess, Depends(on_run("attest", form_user))]
Aborter = Annotated[RunAccess, Depends(on_run("abort", form_user))]
Resumer = Annotated[RunAccess, Depends(on_run("resume", form_user))]
Settler = Annotated[RunAccess, Depends(on_run("settle", form_user))]


async def _field(request: Request, name: str, default: str = "") -> str:
    value = (await request.form()).get(name, default)
    return value if isinstance(value, str) else default


def _back(done: actions.Done) -> Response:
    return RedirectResponse(f"/runs/{done.run}?msg={quote(done.message)}", status_code=303)


@router.post("/runs")
async def deploy(
    request: Request,
    pending: Annotated[Pending, Depends(per_environment("deploy", who=form_user))],
    state: State,
) -> Response:
    f = await request.form()
    done = await actions.deploy(
        state,
        pending,
        str(f.get("runbook", "")),
        str(f.get("env", "")) or None,
        str(f.get("version", "")),
    )
    return _back(done)


@router.post("/runs/{run_id}/approve")
async def approve(request: Request, access: Approver, state: State) -> Response:
    return _back(await actions.approve(state, access, await _field(request, "note")))


@router.post("/runs/{run_id}/reject")
async def reject(request: Request, access: Rejecter, state: State) -> Response:
    return _back(await actions.reject_run(state, access, await _field(request, "note")))


@router.post("/runs/{run_id}/attest")
async def attest(request: Request, access: Attester, state: State) -> Response:
    item = await _field(request, "item")
    items = [int(item)] if item.isdigit() else None
    note = await _field(request, "note")
    return _back(await actions.attest(state, access, note, items))


@router.post("/runs/{run_id}/abort")
async def abort(request: Request, access: Aborter, state: State) -> Response:
    return _back(await actions.abort(state, access, await _field(request, "reason")))


@router.post("/runs/{run_id}/resume")
async def resume(access: Resumer, state: State) -> Response:
    return _back(await actions.resume(state, access))


@router.post("/runs/{run_id}/settle")
async def settle(request: Request, access: Settler, state: State) -> Response:
    step = await _field(request, "step")
    choice = await _field(request, "choice")
    return _back(await actions.settle(state, access, step, choice))


@router.post("/rollback")
async def rollback(
    request: Request,
    pending: Annotated[Pending, Depends(per_environment("rollback", who=form_user))],
    state: State,
) -> Response:
    access = pending.environment(await _field(request, "env"))
    runbook = await _field(request, "runbook") or None
    number = await _field(request, "revision")
    done = await actions.rollback(state, access, runbook, int(number) if number.isdigit() else None)
    return _back(done)

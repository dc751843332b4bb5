"""Logging in without passwords: a one-time link, a pasted token, or the team's OIDC provider.

Each ends the same way: a new session secret in an HttpOnly, SameSite=Lax cookie (Lax, so the
redirect back from an OIDC provider keeps it), stored only as a digest with a 12-hour expiry.
Logging out deletes it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.responses import RedirectResponse

from runwright.app import users
from runwright.app.users import SESSION_TTL, AuthError
from runwright.web import csrf
from runwright.web.auth import COOKIE, identify
from runwright.web.pages import render
from runwright.web.state import WebState, web_state

router = APIRouter(include_in_schema=False)
State = Annotated[WebState, Depends(web_state)]


def _local(path: str | None) -> str:
    return path if path and path.startswith("/") and not path.startswith("//") else "/"


def start_session(state: WebState, name: str, to: str) -> Response:
    secret = users.create_token(state.runtime, name, "session", SESSION_TTL, "web session")
    response = RedirectResponse(_local(to), status_code=303)
    response.set_cookie(
        COOKIE,
        secret,
        max_age=int(SESSION_TTL.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=state.config.secure_cookies,
        path="/",
    )
    return response


@router.get("/login")
def login_page(
    request: Request, state: State, token: str | None = None, next: str | None = None
) -> Response:
    if token:
        try:
            name = users.authenticate(state.runtime, token, ("login",))
        except AuthError as exc:
            return render(request, "login.html", None, error=exc.message, status=401, next=next)
        return start_session(state, name, next or "/")
    return render(request, "login.html", None, next=next, oidc=state.config.oidc is not None)


@router.post("/login")
def login_token(
    request: Request,
    state: State,
    token: Annotated[str, Form()],
    next: Annotated[str, Form()] = "/",
) -> Response:
    try:
        name = users.authenticate(state.runtime, token.strip(), ("api", "login"))
    except AuthError as exc:
        return render(request, "login.html", None, error=exc.message, status=401, next=next)
    return start_session(state, name, next)


@router.post("/logout")
def logout(request: Request, state: State, csrf_token: Annotated[str, Form()] = "") -> Response:
    user = identify(request)
    if user.session and csrf.valid(user.session, csrf_token):
        users.accounts(state.runtime).revoke(user.session)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response

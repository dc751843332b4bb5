"""Logging in without passwords: a one-time link, a pasted token, or the team's OIDC provider.

Each ends the same way: a new session secret in an HttpOnly, SameSite=Lax cookie (Lax, so the
redirect back from an OIDC provider keeps it; ``Secure`` with ``--cookie-secure``), stored
only as a digest with a 12-hour expiry. Logging out deletes it.

Neither can be forced on a browser by another site: a POST to /login or /logout must come
from this server's own pages (``Sec-Fetch-Site``, ``Origin``) and carry their token (the
login form's is also in a SameSite=Strict cookie; logout's is the session's CSRF token). A
login link opened from another site asks for a click here first. Failed logins are counted
per client address and throttled (``throttle.py``).
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.responses import RedirectResponse

from runwright.app.people import users
from runwright.app.people.users import SESSION_TTL, AuthError
from runwright.engine import constant_time
from runwright.web import csrf
from runwright.web.auth import COOKIE, WebUser, identify
from runwright.web.pages import error_page, render
from runwright.web.permissions import public, signed_in
from runwright.web.state import WebState, web_state

router = APIRouter(include_in_schema=False)
State = Annotated[WebState, Depends(web_state)]
LOGIN_CSRF = "runwright_login"
ANYONE = public("logging in is how a visitor gets a credential")
CROSS_SITE = "this request came from another site; log in from this server's own login page"


def same_origin(request: Request, state: WebState) -> bool:
    """Whether a browser sent this from one of this server's pages (a client that sends
    neither header is not a browser posting a form on another site's behalf)."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    if origin is None:
        return True
    own = {str(request.base_url).rstrip("/"), state.config.public_url.rstrip("/")}
    return origin.rstrip("/") in own - {""}


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _throttled(request: Request, state: WebState, next: str | None) -> Response | None:
    wait = state.throttle.wait(_address(request), state.runtime.clock.now())
    if not wait:
        return None
    response = _page(request, state, next, f"too many failed logins; try again in {wait:.0f}s", 429)
    response.headers["Retry-After"] = str(int(wait))
    return response


def _page(
    request: Request,
    state: WebState,
    next: str | None,
    error: str | None = None,
    status: int = 200,
    pending: str = "",
) -> Response:
    """The login page, with the login form's token (kept in a SameSite=Strict cookie)."""
    token = request.cookies.get(LOGIN_CSRF) or secrets.token_urlsafe(32)
    response = render(
        request,
        "login.html",
        None,
        error=error,
        status=status,
        next=next,
        oidc=state.config.oidc is not None,
        login_csrf=token,
        pending=pending,
    )
    response.set_cookie(
        LOGIN_CSRF,
        token,
        httponly=True,
        samesite="strict",
        secure=state.config.secure_cookies,
        path="/login",
    )
    return response


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


@router.get("/login", dependencies=[ANYONE])
def login_page(
    request: Request, state: State, token: str | None = None, next: str | None = None
) -> Response:
    if not token:
        return _page(request, state, next)
    if request.headers.get("sec-fetch-site") == "cross-site":
        return _page(request, state, next, pending=token)  # one click here logs in
    return _log_in(request, state, token, ("login",), next)


@router.post("/login", dependencies=[ANYONE])
def login_token(
    request: Request,
    state: State,
    token: Annotated[str, Form()],
    next: Annotated[str, Form()] = "/",
    login_csrf: Annotated[str, Form()] = "",
) -> Response:
    expected = request.cookies.get(LOGIN_CSRF, "")
    fresh = bool(expected) and constant_time.equal(login_csrf, expected)
    if not same_origin(request, state) or not fresh:
        return _page(request, state, next, CROSS_SITE, 403)
    return _log_in(request, state, token.strip(), ("api", "login"), next)


def _log_in(
    request: Request, state: WebState, token: str, kinds: tuple[str, ...], next: str | None
) -> Response:
    refused = _throttled(request, state, next)
    if refused is not None:
        return refused
    try:
        name = users.authenticate(state.runtime, token, kinds)
    except AuthError as exc:
        state.throttle.failed(_address(request), state.runtime.clock.now())
        return _page(request, state, next, exc.message, 401)
    return start_session(state, name, next or "/")


@router.post("/logout")
def logout(
    request: Request,
    user: Annotated[WebUser, Depends(signed_in(identify))],
    state: State,
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    if not same_origin(request, state) or not csrf.valid(user.session, csrf_token):
        return error_page(request, 403, CROSS_SITE.replace("log in", "log out"), None)
    users.accounts(state.runtime).revoke(user.session)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response

"""Who is asking: a session cookie (browsers) or a bearer token (API clients), never a guess.

Requests without a valid credential get 401 (the login page for a browser), known users
without the role for an environment get 403. With ``--read-only-public`` an anonymous
visitor may read, and only read. Routes ask for these checks through the dependencies of
``permissions.py``, never by calling ``require`` themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import Request

from runwright.app.people import users
from runwright.app.people.users import AuthError, Forbidden
from runwright.engine.accounts import Accounts, Grant
from runwright.engine.store import RunRow
from runwright.errors import NotFoundError
from runwright.web import csrf
from runwright.web.state import WebState, web_state

COOKIE = "runwright_session"
ANONYMOUS = "anonymous"


@dataclass(frozen=True)
class WebUser:
    """The person behind a request and how they proved it (session, token, public)."""

    name: str
    via: str
    grants: tuple[Grant, ...] = field(default=())
    session: str = ""
    scoped: bool = False
    """A token narrowed to one role and environment (``users token --env --role``)."""

    def can(self, action: str, environment: str | None = None) -> bool:
        if self.via == "public":
            return action == "read"
        return users.allowed(self.grants, action, environment)

    @property
    def environments(self) -> frozenset[str] | None:
        """The environments this user may read; None for all of them."""
        return None if self.via == "public" else users.readable(self.grants)

    def sees(self, environment: str) -> bool:
        names = self.environments
        return names is None or environment in names

    @property
    def csrf(self) -> str:
        return csrf.token_for(self.session) if self.session else ""


def identify(request: Request) -> WebUser:
    """The request's user; AuthError when there is none and public reading is off."""
    state = web_state(request)
    rt = state.runtime
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        bearer = header[7:].strip()
        name = users.authenticate(rt, bearer, ("api",))
        return _user(state, name, "token", scope=users.token_scope(rt, bearer))
    secret = request.cookies.get(COOKIE)
    if secret:
        try:
            name = users.authenticate(rt, secret, ("session",))
        except AuthError:
            name = ""
        if name:
            return _user(state, name, "session", secret)
    if state.config.read_only_public:
        return WebUser(ANONYMOUS, "public")
    raise AuthError("log in first", hint="open the login link runwright serve printed")


def _user(
    state: WebState, name: str, via: str, session: str = "", scope: Grant | None = None
) -> WebUser:
    grants = users.scoped(Accounts(state.runtime.store.engine).grants(name), scope)
    return WebUser(name, via, tuple(grants), session, scoped=scope is not None)


def require(user: WebUser, action: str, environment: str | None = None) -> None:
    if not user.can(action, environment):
        where = f" in {environment}" if environment else ""
        role = users.role_for(action)
        held = ", ".join(f"{g.role}@{g.environment}" for g in user.grants) or "no role"
        via = " (this token's scope)" if user.scoped else ""
        raise Forbidden(
            f"{user.name} may not {action}{where}: that needs the {role} role{where}; "
            f"{user.name} has {held}{via}",
            hint=f"an admin can grant it: runwright users add {user.name} --role {role}"
            + (f" --env {environment}" if environment else ""),
        )


def readable_run(state: WebState, user: WebUser, run_id: int) -> RunRow:
    """The run, if ``user`` may read its environment; otherwise the same answer as for a run
    that does not exist (404), so a run's existence does not leak across environments."""
    run = state.runtime.store.run(run_id)
    if not user.sees(run.environment):
        raise NotFoundError(f"no run {run_id}", hint="list runs with: runwright history")
    return run


def visible_environment(user: WebUser, environment: str) -> None:
    """404 for an environment the user may not read, as for one that does not exist."""
    if not user.sees(environment):
        raise NotFoundError(f"no environment {environment!r}", hint="ask an admin for access")


SAFE = ("GET", "HEAD", "OPTIONS")


def api_user(request: Request) -> WebUser:
    """``identify`` for the API: a browser session must also send the CSRF header to act."""
    user = identify(request)
    acting = user.via == "session" and request.method not in SAFE
    if acting and not csrf.valid(user.session, request.headers.get(csrf.HEADER)):
        raise Forbidden("missing or wrong CSRF token", hint="reload the page and try again")
    return user

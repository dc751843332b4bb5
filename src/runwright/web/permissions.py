"""Permission checks as FastAPI dependencies: each route says what it needs in its signature.

A handler never calls a role check by hand, so none can forget one, and the route table shows
every route's requirement (``needs_of``; a test walks ``app.routes`` and refuses a route that
declares nothing). The shapes, by where the environment comes from:

- ``allowed(action)``: the server as a whole (``read``: may open the dashboard at all; every
  run it is then shown is of a readable environment; ``admin``: an admin of every one).
- ``on_run(action)``: the run named by ``run_id``. A run whose environment the user may not
  read answers 404 in the same words as a run that does not exist; then the role in its
  environment, else 403.
- ``in_environment(action)``: the environment named by ``env``. Reading a hidden one is a
  404 as for one that does not exist; acting without the role there is a 403.
- ``on_run_query(action, without=...)``: an optional ``run`` query parameter: that run as
  ``on_run`` does, or, without one, ``without`` on the whole server.
- ``per_environment(*actions)``: the environment is known only once the handler has read the
  runbook (deploy, plans): the route gets a ``Pending`` whose ``environment(env)`` is the one
  check, made by the action that resolved it.
- ``signed_in()``: any known user (or public reader), no role; ``public(why)``: no credential
  at all, with the reason (login, the device flow's first calls, Slack's signed requests).

Each takes ``who``, the dependency that says who is asking: ``api_user`` (bearer token, or a
session with the CSRF header to act), ``identify`` (pages) or the forms' ``form_user``.

No ``from __future__ import annotations`` here: the dependencies are closures whose
``Annotated[..., Depends(who)]`` FastAPI must evaluate with the closure's ``who``.
"""

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, TypeVar

from fastapi import Depends

from runwright.engine.store import RunRow
from runwright.web.auth import WebUser, api_user, readable_run, require, visible_environment
from runwright.web.state import WebState, web_state

Who = Callable[..., Any]
F = TypeVar("F", bound=Callable[..., Any])
State = Annotated[WebState, Depends(web_state)]


class Scope(StrEnum):
    """Where a route's requirement applies."""

    PUBLIC = "public"
    SIGNED_IN = "signed in"
    SERVER = "server"
    RUN = "run"
    ENVIRONMENT = "environment"
    RUN_QUERY = "run query"
    RUNBOOK_ENVIRONMENT = "runbook's environment"


@dataclass(frozen=True)
class Need:
    """What a route declared: the actions, where, and (public routes) why none."""

    scope: Scope
    actions: tuple[str, ...] = ()
    why: str = ""


_DECLARED: dict[Callable[..., Any], Need] = {}


def needs_of(call: Callable[..., Any] | None) -> Need | None:
    """What a dependency declares, or None for one that is no permission check."""
    return _DECLARED.get(call) if call is not None else None


def _declare(fn: F, need: Need) -> F:
    _DECLARED[fn] = need
    return fn


@dataclass(frozen=True)
class RunAccess:
    """A user cleared for an action on one run (which they may read)."""

    user: WebUser
    run: RunRow


@dataclass(frozen=True)
class EnvAccess:
    """A user cleared for an action in one environment."""

    user: WebUser
    environment: str


@dataclass(frozen=True)
class RunQuery:
    """The ``run`` a route was asked about (None: all readable runs), already checked."""

    user: WebUser
    run: RunRow | None


def run_access(state: WebState, user: WebUser, run_id: int, action: str) -> RunAccess:
    """The one check of an action on a run: hidden or missing is 404, no role 403. Also for
    callers that are not routes (a signed Slack button press)."""
    run = readable_run(state, user, run_id)
    require(user, action, run.environment)
    return RunAccess(user, run)


def env_access(user: WebUser, environment: str, action: str) -> EnvAccess:
    """The one check of an action in an environment: reading a hidden one is 404."""
    if action == "read":
        visible_environment(user, environment)
    require(user, action, environment)
    return EnvAccess(user, environment)


@dataclass(frozen=True)
class Pending:
    """A route's requirement whose environment the runbook decides: ``environment`` checks
    it once the handler has resolved it, for one of the actions the route declared."""

    user: WebUser
    actions: tuple[str, ...]

    def environment(self, environment: str, action: str | None = None) -> EnvAccess:
        wanted = action or self.actions[0]
        if wanted not in self.actions:
            raise ValueError(f"the route declared {self.actions}, not {wanted!r}")
        return env_access(self.user, environment, wanted)


def allowed(action: str, who: Who = api_user) -> Callable[..., WebUser]:
    def check(user: Annotated[WebUser, Depends(who)]) -> WebUser:
        require(user, action)
        return user

    return _declare(check, Need(Scope.SERVER, (action,)))


def on_run(action: str, who: Who = api_user) -> Callable[..., RunAccess]:
    def check(run_id: int, user: Annotated[WebUser, Depends(who)], state: State) -> RunAccess:
        return run_access(state, user, run_id, action)

    return _declare(check, Need(Scope.RUN, (action,)))


def in_environment(action: str, who: Who = api_user) -> Callable[..., EnvAccess]:
    def check(env: str, user: Annotated[WebUser, Depends(who)]) -> EnvAccess:
        return env_access(user, env, action)

    return _declare(check, Need(Scope.ENVIRONMENT, (action,)))


def on_run_query(action: str, *, without: str, who: Who = api_user) -> Callable[..., RunQuery]:
    def check(
        user: Annotated[WebUser, Depends(who)], state: State, run: int | None = None
    ) -> RunQuery:
        if run is None:
            require(user, without)
            return RunQuery(user, None)
        return RunQuery(user, run_access(state, user, run, action).run)

    return _declare(check, Need(Scope.RUN_QUERY, (action, without)))


def per_environment(*actions: str, who: Who = api_user) -> Callable[..., Pending]:
    def check(user: Annotated[WebUser, Depends(who)]) -> Pending:
        return Pending(user, actions)

    return _declare(check, Need(Scope.RUNBOOK_ENVIRONMENT, actions))


def signed_in(who: Who = api_user) -> Callable[..., WebUser]:
    def check(user: Annotated[WebUser, Depends(who)]) -> WebUser:
        return user

    return _declare(check, Need(Scope.SIGNED_IN))


def public(why: str) -> Any:
    """``Depends`` for a route anyone may call, saying why (for ``dependencies=[...]``)."""

    async def nobody() -> None:  # on the loop: no worker thread for nothing
        return None

    return Depends(_declare(nobody, Need(Scope.PUBLIC, why=why)))

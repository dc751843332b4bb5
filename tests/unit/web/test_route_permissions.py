"""Every route of the server declares what it needs: a permission dependency (a role on the
server, on a run, in an environment, or in the environment a runbook resolves to), or that it
is public and why. A new route without one fails here, before anyone can call it unchecked."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.routing import Mount, Route

from runwright.app.runtime.runtime import Runtime
from runwright.app.runtime.settings import Settings
from runwright.engine.clock import FakeClock
from runwright.web.config import OidcConfig, WebConfig
from runwright.web.permissions import Need, Scope, needs_of
from runwright.web.server import create_app

# Served by Starlette/FastAPI themselves, not by a handler of ours.
FRAMEWORK = {"/static": "the page's scripts and styles", "/api/v1/openapi.json": "the API's schema"}


@pytest.fixture
def app(tmp_path: Path) -> Iterator[FastAPI]:
    settings = Settings(tmp_path, f"sqlite:///{tmp_path / 'rw.db'}", "root", environ={})
    rt = Runtime.open(settings, clock=FakeClock())
    oidc = OidcConfig("http://127.0.0.1:9/issuer", "runwright")
    yield create_app(rt, WebConfig(runbooks=tmp_path, oidc=oidc, slack_signing_secret="s"))
    rt.close()


def _needs(dependant: Dependant) -> list[Need]:
    found = []
    for sub in dependant.dependencies:
        need = needs_of(sub.call)
        if need is not None:
            found.append(need)
        found.extend(_needs(sub))
    return found


def _table(app: FastAPI) -> dict[str, list[Need]]:
    """Each route of ``app.routes`` (the included routers' ones with their prefixes)."""
    table: dict[str, list[Need]] = {}
    for route in iter_route_contexts(app.routes):
        if isinstance(route.original_route, APIRoute):
            for method in sorted(route.methods or ()):
                table[f"{method} {route.path}"] = _needs(route.dependant)
        else:
            assert isinstance(route.original_route, Mount | Route), route
            assert route.path in FRAMEWORK, f"{route.path}: a route outside FastAPI's routing"
    return table


def test_every_route_declares_what_it_needs(app: FastAPI) -> None:
    table = _table(app)
    assert len(table) > 40
    undeclared = [route for route, needs in table.items() if not needs]
    assert undeclared == [], f"routes with no permission dependency or public(...): {undeclared}"
    twice = [route for route, needs in table.items() if len(needs) > 1]
    assert twice == [], f"routes declaring more than one requirement: {twice}"


def test_only_the_ways_in_are_public(app: FastAPI) -> None:
    public = {r for r, needs in _table(app).items() if needs[0].scope == Scope.PUBLIC}
    assert public == {
        "GET /login",
        "POST /login",
        "GET /login/oidc",
        "GET /login/oidc/callback",
        "POST /api/v1/device/start",
        "POST /api/v1/device/token",
        "GET /device",
        "POST /api/v1/slack/interactions",
    }
    assert all(needs[0].why for r, needs in _table(app).items() if r in public)


@pytest.mark.parametrize(
    ("route", "need"),
    [
        ("GET /api/v1/runs", Need(Scope.SERVER, ("read",))),
        ("GET /api/v1/runs/{run_id}", Need(Scope.RUN, ("read",))),
        ("GET /api/v1/runs/{run_id}/logs", Need(Scope.RUN, ("read",))),
        ("POST /api/v1/runs/{run_id}/approve", Need(Scope.RUN, ("approve",))),
        ("POST /runs/{run_id}/approve", Need(Scope.RUN, ("approve",))),
        ("POST /api/v1/runs/{run_id}/settle", Need(Scope.RUN, ("settle",))),
        ("POST /api/v1/runs", Need(Scope.RUNBOOK_ENVIRONMENT, ("deploy",))),
        ("POST /runs", Need(Scope.RUNBOOK_ENVIRONMENT, ("deploy",))),
        ("POST /api/v1/environments/{env}/rollback", Need(Scope.ENVIRONMENT, ("rollback",))),
        ("POST /rollback", Need(Scope.RUNBOOK_ENVIRONMENT, ("rollback",))),
        ("GET /rollback", Need(Scope.ENVIRONMENT, ("read",))),
        ("POST /api/v1/plans", Need(Scope.RUNBOOK_ENVIRONMENT, ("read", "deploy"))),
        ("GET /api/v1/audit/verify", Need(Scope.RUN_QUERY, ("read", "admin"))),
        ("POST /api/v1/users/{name}/oidc", Need(Scope.SERVER, ("admin",))),
        ("GET /api/v1/whoami", Need(Scope.SIGNED_IN)),
        ("POST /logout", Need(Scope.SIGNED_IN)),
    ],
)
def test_the_route_table_shows_each_requirement(app: FastAPI, route: str, need: Need) -> None:
    assert _table(app)[route] == [need]

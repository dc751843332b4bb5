"""Plans as use cases: what a deploy or a rollback would do, executing nothing.

``plan`` and ``rollback --dry-run`` (and the web's plan view) await these; they read the
live revision from the store, check the driver's and router's settings against the world
(read-only), and, for a runbook with sequential checks, how much traffic the router carries
now, so the edges never do.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from runwright.app.plans.expansion import Plan, build_plan, has_sequential, recent_traffic
from runwright.app.plans.policy import RollbackScope
from runwright.app.plans.revisions import rollback_target, target_version
from runwright.app.runtime.product import prepare
from runwright.app.runtime.runtime import Runtime
from runwright.app.runtime.services import ClusterUnread, verify_aws_checks
from runwright.kube.client import Unreachable
from runwright.model.loader import Runbook


async def _plan(
    rt: Runtime,
    book: Runbook,
    env: str | None,
    version: str,
    overrides: Mapping[str, Any],
    *,
    traffic: bool = False,
    rollback: RollbackScope | None = None,
) -> tuple[Plan, str]:
    env_name, environment = rt.environment(book, env)
    prepared = prepare(rt.store, book, env_name, version)
    current = prepared.previous
    variables = rt.variables(
        book,
        env_name,
        environment,
        version=version,
        overrides=overrides,
        secrets={k: "***" for k in book.secrets},
        run_id=None,
        initiator=rt.settings.user,
        previous_version=current,
        planning=True,
        versions=prepared.versions,
    )
    unread = None
    try:
        services = await rt.checked_services(book, env_name, variables)
    except (ClusterUnread, Unreachable) as exc:  # plan needs no cluster: it says so
        services, unread = rt.step_services(book, env_name, variables), exc.message
        verify_aws_checks(book)

    seen = None
    if traffic and unread is None and has_sequential(book) and services.router is not None:
        seen = await recent_traffic(services.router, current)
    plan = build_plan(
        book, env_name, environment, version, variables, services, traffic=seen,
        touched=prepared.touched, rollback_to=rollback,
    )  # fmt: skip
    if unread is not None:
        note = f"the cluster's current state was not read ({unread}): shown is what would be sent"
        plan = replace(plan, notes=[note, *plan.notes])
    return plan, current


async def plan_book(
    rt: Runtime,
    book: Runbook,
    env: str | None,
    version: str,
    overrides: Mapping[str, Any] | None = None,
) -> Plan:
    """The plan of an already loaded runbook (the web's registry keeps them loaded)."""
    return (await _plan(rt, book, env, version, overrides or {}, traffic=True))[0]


async def plan_deploy(
    rt: Runtime,
    path: str | Path,
    env: str | None,
    version: str,
    overrides: Mapping[str, Any] | None = None,
) -> Plan:
    """Every step of a deploy with its rendered commands, gates and rollback plan."""
    return await plan_book(rt, rt.load(path), env, version, overrides)


@dataclass(frozen=True)
class RollbackPlan:
    plan: Plan
    runbook: str
    environment: str
    current: str
    revision: int
    version: str

    @property
    def header(self) -> str:
        return (
            f"Rollback of {self.runbook}/{self.environment} from {self.current or '?'} to "
            f"revision {self.revision} ({self.version})"
        )


async def plan_rollback(
    rt: Runtime, env: str, runbook: str | None, to_revision: int | None
) -> RollbackPlan:
    """What ``runwright rollback`` would redeploy: an earlier revision, through its strategy."""
    source, scope = rollback_target(rt, env, runbook, to_revision)
    book = rt.load_text(source.runbook_text, source.runbook_file)
    version = target_version(book, source)
    overrides = source.params.get("vars", {})
    plan, current = await _plan(rt, book, env, version, overrides, rollback=scope)
    return RollbackPlan(plan, book.name, plan.environment, current, scope.revision, version)

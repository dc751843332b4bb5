"""A runbook's plan for an environment and version, as both edges show it: nothing executed.

Secrets are shown as ``***`` and run-time values (the run id, the release's ports) as
placeholders, so a plan can be printed, stored or put on a web page safely.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runwright.app.plan import Plan, build_plan, has_sequential, recent_traffic
from runwright.app.release import previous_version
from runwright.app.runtime import Runtime
from runwright.model.loader import Runbook


def plan_for(
    rt: Runtime,
    book: Runbook,
    env: str | None,
    version: str,
    overrides: Mapping[str, Any] | None = None,
    *,
    traffic: bool = True,
) -> Plan:
    """The plan; with ``traffic``, a sequential check's plan reads the router's current rate."""
    env_name, environment = rt.environment(book, env)
    secrets = rt.secrets(book, required=False)
    variables = rt.variables(
        book,
        env_name,
        environment,
        version=version,
        overrides=dict(overrides or {}),
        secrets={k: "***" for k in secrets},
        run_id=None,
        initiator=rt.settings.user,
        previous_version=previous_version(rt.store, book.name, env_name),
        planning=True,
    )
    services = rt.checked_services(book, env_name, variables)
    rate = None
    if traffic and has_sequential(book) and services.router is not None:
        rate = recent_traffic(services.router, str(variables.get("previous_version") or ""))
    return build_plan(book, env_name, environment, version, variables, services, traffic=rate)


def rollback_plan(
    rt: Runtime, env: str, runbook: str | None, to_revision: int | None
) -> tuple[Plan, str, int]:
    """The plan of a rollback of ``env``, a one-line header naming from/to, and the revision."""
    from runwright.app.runs import rollback_target

    source, number = rollback_target(rt, env, runbook, to_revision)
    book = rt.load_text(source.runbook_text, source.runbook_file)
    current = previous_version(rt.store, book.name, env)
    p = plan_for(rt, book, env, source.version, source.params.get("vars", {}), traffic=False)
    header = (
        f"Rollback of {book.name}/{env} from {current or '?'} to revision {number} "
        f"({source.version})"
    )
    return p, header, number

"""Which earlier revision a rollback redeploys, and the ``--version`` that redeploys it.

``rollback`` (runs) and ``rollback --dry-run`` (the plan preview) pick the same revision here,
so what the preview shows is what the rollback does.
"""

from __future__ import annotations

from runwright.app.plans.policy import RollbackScope
from runwright.app.runtime.runtime import Runtime
from runwright.engine.store import RunRow
from runwright.errors import InputError
from runwright.model.loader import Runbook


def rollback_target(
    rt: Runtime, env: str, runbook: str | None, to_revision: int | None
) -> tuple[RunRow, RollbackScope]:
    """The run whose version and runbook a rollback redeploys, its revision number, and
    whether that is the previous revision (the one picked when none is named)."""
    names = {r.runbook for r in rt.store.runs(environment=env, limit=500) if r.revision}
    if runbook is None:
        if len(names) != 1:
            raise InputError(
                f"no revisions in {env}"
                if not names
                else f"several runbooks deploy to {env}: {', '.join(sorted(names))}",
                hint="pass --runbook NAME" if names else "deploy something first",
            )
        runbook = next(iter(names))
    revisions = rt.store.revisions(runbook, env)
    if not revisions:
        raise InputError(f"{runbook} has no revisions in {env}", hint="deploy something first")
    previous = None
    if len(revisions) >= 2:
        current = (revisions[0].version, revisions[0].state.get("versions"))
        previous = next(
            (r for r in revisions[1:] if (r.version, r.state.get("versions")) != current),
            revisions[1],
        )
    if to_revision is None:
        if previous is None:
            raise InputError(
                f"{runbook}/{env} has only revision {revisions[0].number}; "
                "nothing earlier to roll back to"
            )
        target = previous
    else:
        found = [r for r in revisions if r.number == to_revision]
        if not found:
            raise InputError(
                f"{runbook}/{env} has no revision {to_revision}",
                hint="revisions: " + ", ".join(str(r.number) for r in revisions),
            )
        target = found[0]
    to_previous = previous is not None and target.number == previous.number
    scope = RollbackScope(
        target.number, to_previous, target.state.get("schema"), revisions[0].state.get("schema", {})
    )
    return rt.store.run(target.run_id), scope


def target_version(book: Runbook, source: RunRow) -> str:
    """The ``--version`` that redeploys ``source``'s revision: a product's whole set."""
    versions = source.params.get("versions")
    if not book.services or not isinstance(versions, dict):
        return source.version
    return ",".join(f"{name}={version}" for name, version in versions.items() if version)

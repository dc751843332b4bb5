"""Glue between a runbook's ``release`` section and the run: expansion and run-time services.

The strategy (pure) turns the release into steps; this module places them among the
runbook's phases (before the phases named in ``release.after``), builds the driver and the
router the ``service`` and ``traffic`` steps act through, and finds the previous version
(the live revision) the new one replaces.
"""

from __future__ import annotations

from typing import Any

from runwright.engine.store import Store
from runwright.model.loader import Runbook
from runwright.model.schema import Step
from runwright.model.templating import Placeholder
from runwright.strategies.registry import STRATEGIES

PLAN_PLACEHOLDERS = {
    "new_url": Placeholder("<new version url>"),
    "new_port": Placeholder("<new version port>"),
}


def release_steps(
    runbook: Runbook, env_name: str, main: list[tuple[str, Step]]
) -> list[tuple[str, Step]]:
    release = runbook.release
    if release is None:
        return main
    strategy = STRATEGIES[release.strategy]
    generated = [(e.phase, e.step) for e in strategy.expand(release, list(runbook.smoke))]
    before = [(p, s) for p, s in main if p not in release.after]
    after = [(p, s) for p, s in main if p in release.after]
    return before + generated + after


def previous_version(store: Store, runbook: str, environment: str) -> str:
    revisions = store.revisions(runbook, environment)
    return revisions[0].version if revisions else ""


def service_name(runbook: Runbook, environment: str) -> str:
    base = runbook.service.name if runbook.service and runbook.service.name else runbook.name
    return f"{base}-{environment}"


def release_variables(runbook: Runbook, previous: str) -> dict[str, Any]:
    out: dict[str, Any] = {"previous_version": previous}
    if runbook.service is not None:
        router = runbook.service.router
        out["service_url"] = router.url
    return out

"""Glue between a runbook's ``release`` section and the run: expansion and run-time services.

The strategy (pure) turns the release into steps; this module places them among the
runbook's phases (before the phases named in ``release.after``), builds the driver and the
router the ``service`` and ``traffic`` steps act through, and finds the previous version
(the live revision) the new one replaces.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from runwright.engine.store import Store
from runwright.model.loader import Runbook
from runwright.model.product import levels
from runwright.model.schema import Step
from runwright.model.templating import Placeholder, outside
from runwright.strategies.product import Unit, expand_product
from runwright.strategies.registry import STRATEGIES

PLAN_PLACEHOLDERS = {
    "new_url": Placeholder("<new version url>"),
    "new_port": Placeholder("<new version port>"),
    "new_selector": Placeholder("<new version's series>"),
    "old_selector": Placeholder("<previous version's series>"),
}


def release_steps(
    runbook: Runbook,
    env_name: str,
    main: list[tuple[str, Step]],
    touched: Collection[str] | None = None,
) -> list[tuple[str, Step]]:
    if runbook.services:
        return product_steps(runbook, main, touched)
    release = runbook.release
    if release is None:
        return main
    strategy = STRATEGIES[release.strategy]
    generated = [(e.phase, e.step) for e in strategy.expand(release, list(runbook.smoke))]
    before = [(p, s) for p, s in main if p not in release.after]
    after = [(p, s) for p, s in main if p in release.after]
    return before + generated + after


def product_steps(
    runbook: Runbook, main: list[tuple[str, Step]], touched: Collection[str] | None
) -> list[tuple[str, Step]]:
    """A product's release among the runbook's phases; only the ``touched`` services (every
    one when None) have steps."""
    units = [
        [
            Unit(
                name,
                runbook.services[name].release,
                list(runbook.service_smoke.get(name, [])),
                runbook.services[name].router is not None,
            )
            for name in level
            if touched is None or name in touched
        ]
        for level in levels(runbook.services)
    ]
    generated = [(e.phase, e.step) for e in expand_product([u for u in units if u])]
    later = {p for spec in runbook.services.values() for p in spec.release.after}
    before = [(p, s) for p, s in main if p not in later]
    after = [(p, s) for p, s in main if p in later]
    return before + generated + after


def previous_version(store: Store, runbook: str, environment: str) -> str:
    revisions = store.revisions(runbook, environment)
    return revisions[0].version if revisions else ""


def service_name(runbook: Runbook, environment: str, unit: str | None = None) -> str:
    if unit is not None:
        return f"{runbook.name}-{unit}-{environment}"
    base = runbook.service.name if runbook.service and runbook.service.name else runbook.name
    return f"{base}-{environment}"


def product_variables(
    runbook: Runbook, target: Mapping[str, str], previous: Mapping[str, str]
) -> dict[str, Any]:
    """``services``: each service's version, previous version and public URL (its router's),
    for templates (``{{ services.backend.url }}``); a step of one service sees its own as
    ``version``, ``previous_version`` and ``service_url``."""
    out: dict[str, Any] = {}
    for name, spec in runbook.services.items():
        out[name] = {
            "version": outside(target.get(name, ""), "--version"),
            "previous_version": outside(previous.get(name, ""), "the previous version"),
            "url": spec.router.url if spec.router is not None else "",
        }
    return {"services": out}


def release_variables(runbook: Runbook, previous: str) -> dict[str, Any]:
    out: dict[str, Any] = {"previous_version": previous}
    if runbook.service is not None:
        router = runbook.service.router
        out["service_url"] = router.url
    return out

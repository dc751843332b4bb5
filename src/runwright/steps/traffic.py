"""``traffic``: set how much of the service's traffic each version takes.

The step names versions and weights; the backends' addresses come from the driver (what is
actually running), and weights of versions not named are kept as last applied (recorded in
the state directory). The router makes each change make-before-break, so there is never a
moment with no backend. Setting weights is idempotent, which is what makes a switch
interrupted by a crash safe to re-run.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import Field

from runwright.engine.executor import Outcome
from runwright.errors import DriverError, InputError
from runwright.model.templating import render
from runwright.steps.base import Params, PlanContext
from runwright.steps.services import StepContext


class TrafficParams(Params):
    weights: dict[str, int] = Field(min_length=1)


def _record_path(ctx: StepContext) -> Path:
    service, state_dir = ctx.services.release().service, ctx.services.state_dir
    if state_dir is None:
        raise InputError("no state directory to record traffic weights in")
    return state_dir / "traffic" / f"{service.name}.json"


def last_applied(ctx: StepContext) -> dict[str, int]:
    try:
        data = json.loads(_record_path(ctx).read_text())
    except (OSError, ValueError):
        return {}
    return {str(k): int(v) for k, v in data.get("weights", {}).items()}


async def apply_weights(
    ctx: StepContext,
    changes: Mapping[str, int],
    remove: frozenset[str] = frozenset(),
    *,
    ensure: bool = True,
) -> dict[str, int]:
    """Apply ``changes`` over the last applied weights; return the full table applied.
    ``ensure=False`` skips starting (or identifying) the router first: for a router this
    step has just been reading, where the write should not wait for a round trip."""
    from runwright.drivers.base import Instance
    from runwright.routers.base import Backend

    driver, router, service = ctx.services.release()
    running: dict[str, Instance] = {}
    for inst in await driver.instances(service.name):
        running.setdefault(inst.version, inst)
    table = {v: w for v, w in last_applied(ctx).items() if v in running and v not in remove}
    for version, weight in changes.items():
        if not version:
            continue
        if version not in running:
            if weight > 0:
                raise DriverError(
                    f"cannot send traffic to {version}: it is not running",
                    retryable=False,
                    hint="start it first (service start step)",
                )
            continue
        table[version] = weight
    if not any(w > 0 for w in table.values()):
        raise DriverError(
            "refusing to leave no version taking traffic",
            retryable=False,
            hint="give at least one running version a weight above 0",
        )
    backends = [
        Backend(name=v, host=running[v].host, port=running[v].port, weight=w)
        for v, w in sorted(table.items())
    ]
    if ensure:
        await router.ensure_started()
    await router.apply(backends)
    path = _record_path(ctx)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"weights": table}))
    tmp.replace(path)
    ctx.output("traffic: " + ", ".join(f"{v} {w}%" for v, w in sorted(table.items())))
    return table


def named_weights(p: TrafficParams, variables: Mapping[str, Any]) -> dict[str, int]:
    """The weights by version name; a version that renders empty (no previous version on a
    first release) is left out."""
    named = {render(v, variables, where="traffic"): w for v, w in p.weights.items()}
    return {v: w for v, w in named.items() if v}


def _planned(ctx: PlanContext, weights: Mapping[str, int]) -> list[str]:
    """The router's own account of the writes it will make (Kubernetes objects)."""
    from runwright.drivers.base import Planned

    router = ctx.services.router
    if isinstance(router, Planned):
        return ["  " + line for line in router.plan("route", weights)]
    return []


class TrafficKind:
    key = "traffic"
    params = TrafficParams

    def describe(self, p: TrafficParams, ctx: PlanContext) -> list[str]:
        named = named_weights(p, ctx.variables)
        if not any(w > 0 for w in named.values()):
            return ["no version to send traffic to (first release): nothing to do"]
        if len(named) == 1:
            (only,) = named
            return [
                f"set traffic: {only} 100% (the only version; first release)",
                *_planned(ctx, {only: 100}),
            ]
        parts = [f"{v} {w}%" for v, w in named.items()]
        return ["set traffic: " + ", ".join(parts) + " (make-before-break)", *_planned(ctx, named)]

    async def execute(self, ctx: StepContext, p: TrafficParams) -> Outcome:
        wanted = named_weights(p, ctx.variables)
        if not any(w > 0 for w in wanted.values()):
            return Outcome.ok("no version to send traffic to (first release): nothing to do")
        table = await apply_weights(ctx, wanted)
        return Outcome.ok(", ".join(f"{v} {w}%" for v, w in sorted(table.items())), weights=table)


KIND = TrafficKind()

"""``service``: start, stop or retire versions of the runbook's service through its driver.

``start`` ensures a version runs and is healthy (reusing a healthy instance, e.g. the
previous version kept warm, so a rollback is a traffic change rather than a cold start) and
captures ``new_url``/``new_port`` for smoke checks. ``stop`` takes a version out of the router
before stopping it; as the undo of a ``start`` it leaves alone an instance the run did not
start. ``retire`` waits ``after`` (keeping the previous version warm) and then stops every
version but ``keep``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from runwright.engine.executor import Outcome
from runwright.errors import DriverError
from runwright.model.durations import format_duration
from runwright.model.templating import render
from runwright.model.types import Duration
from runwright.steps.base import Params, PlanContext
from runwright.steps.services import StepContext
from runwright.steps.traffic import apply_weights, last_applied


class ServiceParams(Params):
    action: Literal["start", "stop", "retire"]
    version: str = ""
    keep: str = ""
    after: Duration = 0.0
    route: bool = False


class ServiceKind:
    key = "service"
    params = ServiceParams

    def describe(self, params: Mapping[str, Any], ctx: PlanContext) -> list[str]:
        p = ServiceParams.model_validate(params)
        version = render(p.version, ctx.variables, where="service")
        keep = render(p.keep, ctx.variables, where="service")
        if p.action == "start":
            if not version:
                return ["start: no previous version, nothing to do"]
            return [
                f"start {version} on a free port, wait until healthy"
                + (" and send it all traffic" if p.route else ""),
                *_planned(ctx, "start", version),
            ]
        if p.action == "stop":
            return [
                f"take {version} out of the router, drain, stop it",
                *_planned(ctx, "stop", version),
            ]
        warm = (
            f"keep the previous version warm for {format_duration(p.after)}, then "
            if (p.after)
            else ""
        )
        return [
            f"{warm}stop every version except {keep}",
            *_planned(ctx, "stop", str(ctx.variables.get("previous_version") or "")),
        ]

    async def execute(self, ctx: StepContext) -> Outcome:
        p = ServiceParams.model_validate(ctx.params)
        if p.action == "start":
            return await self._start(ctx, render(p.version, ctx.variables), p.route)
        if p.action == "stop":
            return await self._stop(ctx, render(p.version, ctx.variables))
        return await self._retire(ctx, render(p.keep, ctx.variables), p.after)

    async def _start(self, ctx: StepContext, version: str, route: bool) -> Outcome:
        if not version:
            return Outcome.ok("no previous version: nothing to start")
        driver, _, spec = ctx.services.release()
        for inst in await driver.instances(spec.name):
            if inst.version == version and await driver.healthy(inst):
                ctx.output(f"{version} already running and healthy on port {inst.port}")
                if route:
                    await apply_weights(ctx, {version: 100})
                return Outcome.ok(
                    f"{version} already running on port {inst.port}",
                    started=False,
                    captured=_captured(inst),
                )
        ctx.output(f"starting {version}")
        inst = await driver.start(spec, version)
        ctx.output(f"{version} healthy: {inst.describe()}")
        if route:
            await apply_weights(ctx, {version: 100})
        return Outcome.ok(
            f"{version} started: {inst.describe()}",
            started=True,
            captured=_captured(inst),
            instance=dict(inst.handle),
        )

    async def _stop(self, ctx: StepContext, version: str) -> Outcome:
        if ctx.undo and ctx.step.data.get("started") is False:
            return Outcome.ok(f"{version} left running: this run did not start it")
        driver, _, spec = ctx.services.release()
        victims = [i for i in await driver.instances(spec.name) if i.version == version]
        if not victims:
            return Outcome.ok(f"{version} is not running")
        weights = last_applied(ctx)
        # Out of the router even at weight 0: a stopped version must not stay listed there.
        if version in weights and any(w > 0 for v, w in weights.items() if v != version):
            await apply_weights(ctx, {}, remove=frozenset({version}))
            await _drain(ctx, [version], spec.stop_timeout)
        elif weights.get(version, 0) > 0:
            ctx.output(f"{version} is the only version taking traffic; stopping it anyway")
        for inst in victims:
            await driver.stop(inst, spec.stop_timeout)
        return Outcome.ok(f"stopped {version}")

    async def _retire(self, ctx: StepContext, keep: str, after: float) -> Outcome:
        driver, _, spec = ctx.services.release()
        old = [i for i in await driver.instances(spec.name) if i.version != keep]
        if not old:
            return Outcome.ok("nothing to retire")
        if after > 0:
            ctx.output(
                f"keeping {', '.join(sorted({i.version for i in old}))} warm for "
                f"{format_duration(after)}"
            )
            await ctx.clock.sleep(after)
        weights = last_applied(ctx)
        gone = frozenset(i.version for i in old)
        if any(v in weights for v in gone) and weights.get(keep, 0) > 0:
            await apply_weights(ctx, {}, remove=gone)
            await _drain(ctx, sorted(gone), spec.stop_timeout)
        for inst in old:
            await driver.stop(inst, spec.stop_timeout)
            ctx.output(f"stopped {inst.describe()}")
        return Outcome.ok("retired " + ", ".join(sorted(gone)))


async def _drain(ctx: StepContext, versions: list[str], timeout: float) -> None:  # noqa: ASYNC109
    """Let requests already in flight to ``versions`` finish before their processes stop."""
    router = ctx.services.release().router
    for version in versions:
        try:
            await router.drain(version, timeout)
        except DriverError as exc:
            ctx.output(f"{version} still had requests in flight after {timeout:g} s: {exc}")


def _captured(inst: Any) -> dict[str, Any]:
    return {"new_port": inst.port, "new_url": inst.url}


def _planned(ctx: PlanContext, action: str, version: str) -> list[str]:
    """The driver's own account of what it will send (Kubernetes objects), when it has one."""
    from runwright.drivers.base import Planned

    driver = ctx.services.driver
    if isinstance(driver, Planned) and version:
        return ["  " + line for line in driver.plan(action, version)]
    return []


KIND = ServiceKind()

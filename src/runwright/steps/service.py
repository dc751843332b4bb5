"""``service``: start, stop or retire versions of the runbook's service through its driver.

``start`` ensures a version runs and is healthy (reusing a healthy instance, e.g. the
previous version kept warm, so a rollback is a traffic change rather than a cold start) and
captures ``new_url``/``new_port`` for smoke checks. ``stop`` takes a version out of the router
before stopping it; as the undo of a ``start`` it leaves alone an instance the run did not
start. ``retire`` waits ``after`` (keeping the previous version warm) and then stops every
version but ``keep``.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any, Literal

from pydantic import Field

from runwright.engine.executor import Outcome
from runwright.errors import DriverError
from runwright.model.durations import format_duration
from runwright.model.templating import render
from runwright.model.types import Duration
from runwright.routers.none import NoRouter
from runwright.steps.base import Params, PlanContext
from runwright.steps.registry import in_scope
from runwright.steps.scope import captured_key, scoped_variables
from runwright.steps.services import StepContext
from runwright.steps.traffic import apply_weights, last_applied


class ServiceParams(Params):
    action: Literal["start", "stop", "retire"]
    version: str = ""
    keep: str = ""
    after: Duration = 0.0
    route: bool = False
    services: list[str] = Field(
        default_factory=list, description="A product's services to start (or stop) together"
    )


class ServiceKind:
    key = "service"
    params = ServiceParams

    def describe(self, p: ServiceParams, ctx: PlanContext) -> list[str]:
        if p.services:
            lines: list[str] = []
            single = p.model_copy(update={"services": []})
            for name in p.services:
                scoped = in_scope({"service": name}, ctx)
                lines += [f"{name}: {line}" for line in self.describe(single, scoped)]
            if len(p.services) > 1:
                lines.insert(0, f"{', '.join(p.services)} at the same time")
            return lines
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

    async def execute(self, ctx: StepContext, p: ServiceParams) -> Outcome:
        if p.services and p.action == "start":
            return await self._start_all(ctx, p)
        if p.services and p.action == "stop":
            return await self._stop_all(ctx, p)
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
                if route and not isinstance(ctx.services.router, NoRouter):
                    await apply_weights(ctx, {version: 100})
                return Outcome.ok(
                    f"{version} already running on port {inst.port}",
                    started=False,
                    captured=_captured(inst),
                )
        ctx.output(f"starting {version}")
        inst = await driver.start(spec, version)
        ctx.output(f"{version} healthy: {inst.describe()}")
        if route and not isinstance(ctx.services.router, NoRouter):
            await apply_weights(ctx, {version: 100})
        return Outcome.ok(
            f"{version} started: {inst.describe()}",
            started=True,
            captured=_captured(inst),
            instance=dict(inst.handle),
        )

    async def _start_all(self, ctx: StepContext, p: ServiceParams) -> Outcome:
        """Start a level of a product's services at the same time; if one fails, stop the
        others this step started, so a failed start leaves nothing behind."""
        # A run killed mid-start finds this note when it runs the step again: an instance
        # found running then was started by this run and is its to stop on rollback.
        again = set(ctx.step.data.get("starting") or [])
        ctx.note({"starting": list(p.services)})
        results = await asyncio.gather(
            *(self._start(_scoped(ctx, name), render_in(ctx, name, p.version), p.route)
              for name in p.services),
            return_exceptions=True,
        )  # fmt: skip
        started: dict[str, bool] = {}
        captured: dict[str, Any] = {}
        failures: list[str] = []
        for name, result in zip(p.services, results, strict=True):
            if isinstance(result, BaseException):
                if not isinstance(result, Exception):
                    raise result
                failures.append(f"{name}: {result}")
                continue
            started[name] = bool(result.data.get("started")) or name in again
            captured[captured_key(name)] = result.data.get("captured", {})
        if failures:
            for name in [n for n, began in started.items() if began]:
                await self._stop(_scoped(ctx, name), render_in(ctx, name, p.version), True)
            return Outcome.fail("; ".join(failures), retryable=False, failed=failures)
        return Outcome.ok(
            "started " + ", ".join(f"{n} {render_in(ctx, n, p.version)}" for n in p.services),
            started=started,
            captured=captured,
        )

    async def _stop_all(self, ctx: StepContext, p: ServiceParams) -> Outcome:
        """Stop the new versions of a level of services (the undo of ``_start_all``), leaving
        alone a service whose version this run found already running."""
        started = ctx.step.data.get("started") or {}
        names = [n for n in reversed(p.services) if not ctx.undo or started.get(n, True)]
        left = [n for n in p.services if n not in names]
        results = await asyncio.gather(
            *(self._stop(_scoped(ctx, n), render_in(ctx, n, p.version), True) for n in names)
        )
        summary = "; ".join(f"{n}: {r.summary}" for n, r in zip(names, results, strict=True))
        if left:
            summary += ("; " if summary else "") + ", ".join(left) + ": left running (this "
            summary += "run did not start them)"
        return Outcome.ok(summary or "nothing to stop")

    async def _stop(self, ctx: StepContext, version: str, ours: bool = False) -> Outcome:
        if not ours and ctx.undo and ctx.step.data.get("started") is False:
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


def _scoped(ctx: StepContext, name: str) -> StepContext:
    """The step's context as one service of the group sees it."""
    return replace(
        ctx,
        variables=scoped_variables(ctx.variables, name),
        services=ctx.services.scoped(name),
        output=lambda line: ctx.output(f"{name}: {line}"),
    )


def render_in(ctx: StepContext, name: str, template: str) -> str:
    return render(template, scoped_variables(ctx.variables, name), where=f"service {name}")


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

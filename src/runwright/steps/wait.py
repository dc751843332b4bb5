"""``wait``: time passing on purpose (a soak, a cache expiry), on the run's clock.

With ``analysis: [check names]`` the time passes under watch: the checks are measured every
interval and the wait ends early, failing, as soon as one fails (see ``steps.analysis``).
A release's canary pauses and bake are such waits. In a canary pause (``beside`` names the
stable version) a failed check puts all traffic back on the stable version at once, from this
step, before the failure is journaled (``traffic.restored`` follows it); the rollback's own
"traffic back to previous" then finds the router already so, and stops the canary.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from pydantic import ConfigDict, Field, model_validator

from runwright.engine.executor import Outcome
from runwright.errors import RunwrightError
from runwright.model.durations import format_duration
from runwright.model.event_type import EventType
from runwright.model.templating import render
from runwright.model.types import Duration, shorthand
from runwright.steps.analysis import Compare, run_analysis
from runwright.steps.base import Params, PlanContext
from runwright.steps.services import StepContext
from runwright.steps.traffic import apply_weights

log = logging.getLogger(__name__)


class WaitParams(Params):
    model_config = ConfigDict(json_schema_extra=shorthand("duration"))

    duration: Duration
    reason: str = ""
    analysis: list[str] = Field(default_factory=list)
    compare: Compare | None = None
    beside: str | None = Field(
        None,
        description="Only wait when this (templated) value is set, e.g. the stable version a "
        "canary pause watches the new one beside; on a first release there is none",
    )

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if isinstance(value, str | int | float):
            return {"duration": value}
        return value


SKIPPED = "skipped: first release, no stable version to watch it beside"
RESTORED = "restored"
"""The key a canary pause notes on its row before it puts traffic back (see ``_restorer``)."""


def nothing_beside(params: Mapping[str, Any], variables: Mapping[str, Any]) -> bool:
    """A canary pause on a first release: no stable version to watch it beside, so it is
    skipped (``plan`` shows it so and counts no analysis for it)."""
    return _unwatched(params.get("beside"), variables)


def _unwatched(beside: object, variables: Mapping[str, Any]) -> bool:
    return beside is not None and not render(str(beside), variables, where="wait")


class WaitKind:
    key = "wait"
    params = WaitParams

    def describe(self, p: WaitParams, ctx: PlanContext) -> list[str]:
        if _unwatched(p.beside, ctx.variables):
            return [SKIPPED]
        line = f"wait {format_duration(p.duration)}" + (f": {p.reason}" if p.reason else "")
        if p.analysis:
            against = " against the stable version" if p.compare == "baseline" else ""
            line += f", under analysis of {', '.join(p.analysis)}{against}"
            if p.beside and ctx.services.router is not None:
                stable = render(p.beside, ctx.variables, where="wait")
                line += f"; a failed check puts all traffic back on {stable} at once"
        return [line]

    async def execute(self, ctx: StepContext, p: WaitParams) -> Outcome:
        if _unwatched(p.beside, ctx.variables):
            return Outcome.ok(SKIPPED)
        restored = ctx.step.data.get(RESTORED)
        if restored:
            # Run again after runwright stopped between putting traffic back and journaling
            # why: the check had failed, so this pause fails again rather than watch a canary
            # that takes no traffic.
            return Outcome.fail(
                "a check failed before runwright stopped and traffic was put back ("
                + ", ".join(f"{v} {w}%" for v, w in sorted(restored.items()))
                + "); rolling back",
                retryable=False,
            )
        if p.analysis:
            restore = _restorer(ctx, p.beside) if p.beside else None
            return await run_analysis(
                ctx, p.analysis, p.duration, compare=p.compare, restore=restore
            )
        ctx.output(f"waiting {format_duration(p.duration)}")
        await ctx.clock.sleep(p.duration)
        return Outcome.ok(f"waited {format_duration(p.duration)}")


def _restorer(ctx: StepContext, beside: str) -> Callable[[], Awaitable[None]] | None:
    """All traffic back on the stable version ``beside``: the rollback's first router write,
    made the moment a check fails. A failed write is told and left to the rollback."""
    services = ctx.services
    if services.router is None or services.driver is None or services.service is None:
        return None
    stable = render(beside, ctx.variables, where="wait")
    canary = str(ctx.variables.get("version") or "")
    if not stable or not canary or stable == canary:
        return None

    async def restore() -> None:
        ctx.note({RESTORED: {stable: 100, canary: 0}})
        try:
            # This run set the canary's weight on this router before the pause (and a sequential
            # check reads it): no round trip to start it first; if it is gone after all, the
            # rollback's own step starts it and puts the traffic back.
            table = await apply_weights(ctx, {stable: 100, canary: 0}, ensure=False)
        except RunwrightError as exc:
            log.warning("could not put traffic back on %s at once: %s", stable, exc)
            ctx.output(f"could not put traffic back on {stable} at once ({exc}); the rollback will")
            return
        ctx.record(EventType.TRAFFIC_RESTORED, {"weights": table, "reason": "a check failed"})

    return restore


KIND = WaitKind()

"""``wait``: time passing on purpose (a soak, a cache expiry), on the run's clock.

With ``analysis: [check names]`` the time passes under watch: the checks are measured every
interval and the wait ends early, failing, as soon as one fails (see ``steps.analysis``).
A release's canary pauses and bake are such waits.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ConfigDict, Field, model_validator

from runwright.engine.executor import Outcome
from runwright.model.durations import format_duration
from runwright.model.templating import render
from runwright.model.types import Duration, shorthand
from runwright.steps.analysis import Compare, run_analysis
from runwright.steps.base import Params, PlanContext
from runwright.steps.services import StepContext


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


def nothing_beside(params: Mapping[str, Any], variables: Mapping[str, Any]) -> bool:
    """A canary pause on a first release: no stable version to watch it beside, so it is
    skipped (``plan`` shows it so and counts no analysis for it)."""
    beside = params.get("beside")
    return beside is not None and not render(str(beside), variables, where="wait")


class WaitKind:
    key = "wait"
    params = WaitParams

    def describe(self, params: Mapping[str, Any], ctx: PlanContext) -> list[str]:
        if nothing_beside(params, ctx.variables):
            return [SKIPPED]
        p = WaitParams.model_validate(params)
        line = f"wait {format_duration(p.duration)}" + (f": {p.reason}" if p.reason else "")
        if p.analysis:
            against = " against the stable version" if p.compare == "baseline" else ""
            line += f", under analysis of {', '.join(p.analysis)}{against}"
        return [line]

    async def execute(self, ctx: StepContext) -> Outcome:
        if nothing_beside(ctx.params, ctx.variables):
            return Outcome.ok(SKIPPED)
        p = WaitParams.model_validate(ctx.params)
        if p.analysis:
            return await run_analysis(ctx, p.analysis, p.duration, compare=p.compare)
        ctx.output(f"waiting {format_duration(p.duration)}")
        await ctx.clock.sleep(p.duration)
        return Outcome.ok(f"waited {format_duration(p.duration)}")


KIND = WaitKind()

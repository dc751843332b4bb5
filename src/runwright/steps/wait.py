"""``wait``: time passing on purpose (a soak, a cache expiry), on the run's clock."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import model_validator

from runwright.engine.executor import Outcome, StepContext
from runwright.model.durations import format_duration
from runwright.model.types import Duration
from runwright.steps.base import Params, PlanContext


class WaitParams(Params):
    duration: Duration
    reason: str = ""

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if isinstance(value, str | int | float):
            return {"duration": value}
        return value


class WaitKind:
    key = "wait"
    params = WaitParams

    def describe(self, params: Mapping[str, Any], ctx: PlanContext) -> list[str]:
        p = WaitParams.model_validate(params)
        return [f"wait {format_duration(p.duration)}" + (f": {p.reason}" if p.reason else "")]

    async def execute(self, ctx: StepContext) -> Outcome:
        p = WaitParams.model_validate(ctx.params)
        ctx.output(f"waiting {format_duration(p.duration)}")
        await ctx.clock.sleep(p.duration)
        return Outcome.ok(f"waited {format_duration(p.duration)}")


KIND = WaitKind()

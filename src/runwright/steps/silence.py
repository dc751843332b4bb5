"""``silence``: an Alertmanager silence for the alerts a release is expected to trip.

The step creates the silence with a short end (``lease``) and journals it (``silence.created``);
while the run is driven the app keeps extending it and expires it when the run ends (see
``runwright.app.notifications.silences``). If runwright dies, nobody extends it, and it lapses
by itself within one lease: the on-call is never left without alerts by a crashed deploy.
"""

from __future__ import annotations

from pydantic import Field, field_validator

from runwright.engine.executor import Outcome
from runwright.errors import NotifyError
from runwright.model.durations import format_duration
from runwright.model.event_type import EventType
from runwright.model.types import Duration
from runwright.notify.alertmanager import Alertmanager, Matcher
from runwright.steps.base import Params, PlanContext
from runwright.steps.registry import render_text
from runwright.steps.services import StepContext

OPERATORS = ("=~", "!~", "!=", "=")


def parse_matcher(text: str) -> Matcher:
    """``name=value``, ``name!=value``, ``name=~regex`` or ``name!~regex``."""
    for op in OPERATORS:
        name, sep, value = text.partition(op)
        if sep and name.strip():
            return Matcher(
                name.strip(),
                value.strip().strip('"'),
                is_regex="~" in op,
                is_equal=not op.startswith("!"),
            )
    raise ValueError(f"matcher {text!r}: write name=value, name!=value, name=~regex or name!~regex")


class SilenceParams(Params):
    alertmanager: str = Field(description="Alertmanager's base URL")
    matchers: list[str] = Field(min_length=1)
    lease: Duration = 300.0
    comment: str = ""

    @field_validator("matchers")
    @classmethod
    def _matchers(cls, v: list[str]) -> list[str]:
        for text in v:
            if "{{" not in text:
                parse_matcher(text)
        return v


def _comment(p: SilenceParams, ctx: StepContext) -> str:
    run = ctx.run
    text = f"runwright run {run.id}: {run.runbook} {run.version} to {run.environment}"
    return text + (f" ({render_text(p.comment, ctx)})" if p.comment else "")


class SilenceKind:
    key = "silence"
    params = SilenceParams

    def describe(self, p: SilenceParams, ctx: PlanContext) -> list[str]:
        matchers = ", ".join(render_text(m, ctx) for m in p.matchers)
        return [
            f"silence alerts matching {matchers} at {render_text(p.alertmanager, ctx)}",
            f"held for {format_duration(p.lease)} at a time while the run is alive, expired at "
            "its end",
        ]

    async def execute(self, ctx: StepContext, p: SilenceParams) -> Outcome:
        try:
            matchers = [parse_matcher(render_text(m, ctx)) for m in p.matchers]
        except ValueError as exc:
            return Outcome.fail(str(exc), retryable=False)
        url = render_text(p.alertmanager, ctx)
        starts = ctx.clock.now()
        client = Alertmanager(url)
        try:
            silence_id = await client.put_silence(
                matchers=matchers,
                starts=starts,
                lease=p.lease,
                created_by=ctx.run.initiator,
                comment=_comment(p, ctx),
            )
        except NotifyError as exc:
            return Outcome.fail(str(exc), retryable=exc.retryable)
        finally:
            await client.aclose()
        ctx.record(
            EventType.SILENCE_CREATED,
            {
                "id": silence_id,
                "alertmanager": url,
                "matchers": [m.wire() for m in matchers],
                "starts": starts.isoformat(),
                "lease": p.lease,
                "comment": _comment(p, ctx),
            },
        )
        return Outcome.ok(
            f"silence {silence_id} held for {format_duration(p.lease)} at a time",
            silence_id=silence_id,
        )


KIND = SilenceKind()

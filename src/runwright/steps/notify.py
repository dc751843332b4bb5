"""``notify``: an explicit message inside a runbook ("post status update", "stakeholders told").

Subscriptions (``notify:`` at the top of a runbook) tell people about run events by
themselves; this step is for the messages a procedure writes out, at the point it says so.
It sends to sinks the runbook declares under ``sinks:``; the loader refuses unknown names.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from runwright.engine.executor import Outcome
from runwright.errors import NotifyError
from runwright.steps.base import Params, PlanContext
from runwright.steps.registry import render_text
from runwright.steps.services import StepContext


class NotifyParams(Params):
    to: list[str] = Field(min_length=1, description="Names of sinks declared under sinks:")
    text: str
    title: str = ""
    status: Literal["investigating", "identified", "monitoring", "resolved"] | None = Field(
        None,
        description="An incident update: a status page posts an incident with this status; "
        "a webhook's body sees it as incident_status",
    )


class NotifyKind:
    key = "notify"
    params = NotifyParams

    def describe(self, p: NotifyParams, ctx: PlanContext) -> list[str]:
        status = f" (status {p.status})" if p.status else ""
        return [f"notify {', '.join(p.to)}{status}: {render_text(p.text, ctx)}"]

    async def execute(self, ctx: StepContext, p: NotifyParams) -> Outcome:
        messenger = ctx.services.notifier
        if messenger is None:
            return Outcome.fail("no sinks are declared in this runbook", retryable=False)
        title = render_text(p.title, ctx) if p.title else ""
        try:
            lines = await messenger.message(
                p.to, title=title, text=render_text(p.text, ctx), run=ctx.run,
                incident=p.status or "",
            )  # fmt: skip
        except NotifyError as exc:
            return Outcome.fail(str(exc), retryable=exc.retryable)
        for line in lines:
            ctx.output(line)
        return Outcome.ok("; ".join(lines), sinks=list(p.to))


KIND = NotifyKind()

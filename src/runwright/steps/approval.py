"""``approval``: N distinct people say yes before the run goes on.

Approvals are given with ``runwright approve RUN`` (or the web page) and stored with who,
when and a note. The policy is checked when the step runs, so an approval that expired or
came from the initiator (when ``not_by_initiator``) does not count even if it was recorded.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from pydantic import ConfigDict, Field, model_validator

from runwright.engine.executor import Outcome
from runwright.engine.store import ApprovalRow
from runwright.model.durations import format_duration
from runwright.model.status import RunStatus
from runwright.model.templating import render
from runwright.model.types import OptionalDuration, shorthand
from runwright.steps.base import Params, PlanContext
from runwright.steps.services import StepContext


class ApprovalParams(Params):
    model_config = ConfigDict(
        json_schema_extra=shorthand("required", {"type": "string"}, {"type": "null"})
    )

    required: int = Field(1, ge=1, le=20)
    not_by_initiator: bool = True
    expires: OptionalDuration = None
    approvers: list[str] = Field(default_factory=list)
    message: str = ""

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            return {"required": value}
        if isinstance(value, str):
            return {"message": value}
        if value is None:
            return {}
        return value


def policy_text(p: ApprovalParams) -> str:
    parts = [f"{p.required} approval(s)"]
    if p.not_by_initiator:
        parts.append("not by the initiator")
    if p.approvers:
        parts.append("from " + ", ".join(p.approvers))
    if p.expires:
        parts.append(f"valid for {format_duration(p.expires)}")
    return ", ".join(parts)


def refusal(
    p: ApprovalParams, user: str, initiator: str, existing: list[ApprovalRow]
) -> str | None:
    """Why ``user`` may not approve, or None."""
    if p.not_by_initiator and user == initiator:
        return (
            f"{user} started this run and cannot approve it "
            f"(the policy requires approval by someone else)"
        )
    if p.approvers and user not in p.approvers:
        return f"{user} is not an allowed approver ({', '.join(p.approvers)})"
    if any(a.user == user and a.kind == "approval" for a in existing):
        return f"{user} has already approved this run"
    return None


def valid_approvals(
    p: ApprovalParams, rows: list[ApprovalRow], initiator: str, now: Any
) -> list[ApprovalRow]:
    seen: set[str] = set()
    out = []
    for a in rows:
        if a.kind != "approval" or a.user in seen:
            continue
        if p.not_by_initiator and a.user == initiator:
            continue
        if p.approvers and a.user not in p.approvers:
            continue
        if p.expires is not None and now - a.at > timedelta(seconds=p.expires):
            continue
        seen.add(a.user)
        out.append(a)
    return out


def _message(p: ApprovalParams, variables: Mapping[str, Any]) -> str:
    """The approval's message as people read it (``{{ version }}`` rendered), after ': '."""
    return f": {render(p.message, variables, where='approval message')}" if p.message else ""


class ApprovalKind:
    key = "approval"
    params = ApprovalParams

    def describe(self, p: ApprovalParams, ctx: PlanContext) -> list[str]:
        return [f"needs {policy_text(p)}" + _message(p, ctx.variables)]

    async def execute(self, ctx: StepContext, p: ApprovalParams) -> Outcome:
        rows = ctx.approvals(ctx.step.name)
        valid = valid_approvals(p, rows, ctx.run.initiator, ctx.clock.now())
        if len(valid) >= p.required:
            return Outcome.ok(
                "approved by " + ", ".join(a.user for a in valid[: p.required]),
                approvals=[
                    {"user": a.user, "at": a.at.isoformat(), "note": a.note}
                    for a in valid[: p.required]
                ],
            )
        return Outcome.blocked(
            f"waiting for {policy_text(p)}{_message(p, ctx.variables)}: "
            f"{len(valid)} of {p.required} so far -- "
            f"runwright approve {ctx.run.id} --note '...'",
            on=RunStatus.AWAITING_APPROVAL,
            have=len(valid),
            required=p.required,
        )


KIND = ApprovalKind()

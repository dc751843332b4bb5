"""``gate``: a checklist that must hold before the run goes on.

Every item is either attested by a person (who and when recorded, from the terminal or with
``runwright attest``) or proven by a check (an ``http`` or ``run`` action whose result is kept
as evidence). A runbook's "Pre-Deployment Checklist" becomes exactly this.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from runwright.engine.executor import Outcome
from runwright.model.event_type import EventType
from runwright.model.status import OutcomeStatus, RunStatus
from runwright.model.types import shorthand
from runwright.steps.base import Params, PlanContext
from runwright.steps.services import StepContext

CHECK_KINDS = ("http", "run", "preflight")


def _attest_form(full: dict[str, Any]) -> dict[str, Any]:
    properties = {"attest": {"type": "string"}, "check": full["properties"]["check"]}
    return {"type": "object", "properties": properties, "required": ["attest"],
            "additionalProperties": False}  # fmt: skip


class Item(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, json_schema_extra=shorthand({"type": "string"}, _attest_form)
    )

    text: str
    check: dict[str, Any] | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"text": value}
        if isinstance(value, dict) and "attest" in value:
            rest = {k: v for k, v in value.items() if k != "attest"}
            return {"text": value["attest"], **rest}
        return value

    @field_validator("check")
    @classmethod
    def _check(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is None:
            return None
        keys = [k for k in value if k in CHECK_KINDS]
        if len(keys) != 1 or len(value) != 1:
            raise ValueError(
                "a check is one action: {http: {...}}, {run: '...'} or {preflight: {...}}"
            )
        from runwright.steps.registry import validate_params

        params = validate_params(keys[0], value[keys[0]])
        return {keys[0]: params.model_dump(mode="json", by_alias=True)}


class GateParams(Params):
    model_config = ConfigDict(json_schema_extra=shorthand("items"))

    title: str = ""
    items: list[Item] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if isinstance(value, list):
            return {"items": value}
        return value


async def _prove(item: Item, ctx: StepContext) -> Outcome:
    from runwright.steps.registry import kinds, params_of

    assert item.check is not None
    key, params = next(iter(item.check.items()))
    sub = replace(ctx, spec={"kind": key, "params": params})
    return await kinds()[key].execute(sub, params_of(sub.spec))


class GateKind:
    key = "gate"
    params = GateParams

    def describe(self, p: GateParams, ctx: PlanContext) -> list[str]:
        from runwright.steps.registry import kinds, validate_params

        out = [p.title] if p.title else []
        for n, item in enumerate(p.items, 1):
            if item.check:
                key, sub = next(iter(item.check.items()))
                proof = kinds()[key].describe(validate_params(key, sub), ctx)
                out.append(f"[{n}] {item.text} -- proven by: {proof[0] if proof else key}")
                out += [f"      and {line.strip().removeprefix('and ')}" for line in proof[1:]]
            else:
                out.append(f"[{n}] {item.text} -- attested by a person")
        return out

    async def execute(self, ctx: StepContext, p: GateParams) -> Outcome:
        gate = ctx.step.name
        attested = {a.item: a for a in ctx.approvals(gate) if a.kind == "attestation"}
        all_items = attested.get(None)
        evidence: list[dict[str, Any]] = []
        waiting: list[str] = []
        for n, item in enumerate(p.items, 1):
            if item.check:
                result = await _prove(item, ctx)
                entry = {
                    "item": n,
                    "text": item.text,
                    "proven": result.status == OutcomeStatus.SUCCEEDED,
                    "evidence": result.summary,
                }
                evidence.append(entry)
                ctx.record(EventType.GATE_ITEM, entry)
                if result.status != OutcomeStatus.SUCCEEDED:
                    return Outcome.fail(
                        f"gate item {n} '{item.text}' not proven: {result.summary}",
                        retryable=result.retryable,
                        items=evidence,
                    )
                continue
            who = attested.get(n) or all_items
            if (
                who is None
                and ctx.interactive is not None
                and ctx.interactive(f"[{n}] {item.text} -- confirm")
            ):
                ctx.attest(gate, n, "confirmed at the terminal")
                evidence.append({"item": n, "text": item.text, "attested_by": ctx.actor})
                continue
            if who is None:
                waiting.append(f"[{n}] {item.text}")
                continue
            evidence.append(
                {
                    "item": n,
                    "text": item.text,
                    "attested_by": who.user,
                    "at": who.at.isoformat(),
                    "note": who.note,
                }
            )
        if waiting:
            return Outcome.blocked(
                f"{len(waiting)} item(s) need a person: "
                + "; ".join(waiting)
                + f" -- runwright attest {ctx.run.id} --item N (or --all)",
                on=RunStatus.AWAITING_ATTESTATION,
                waiting=waiting,
            )
        return Outcome.ok(f"{len(p.items)} item(s) hold", items=evidence)


KIND = GateKind()

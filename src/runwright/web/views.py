"""What a run page shows, collected once for the HTML page and the JSON API alike.

The rollback reason comes first, in one sentence; approvals say who may still approve and why
not (the initiator's button is disabled with the reason); charts carry each check's readings,
its threshold and its breaches; traffic lists the weights each traffic step applied.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from runwright.app.runtime.product import ServiceLine, service_lines
from runwright.app.runtime.runtime import Runtime
from runwright.engine.audit import unsupported_rows
from runwright.engine.machine import MAIN, in_flight
from runwright.engine.processes import owner_dead
from runwright.engine.scheduler import view_of
from runwright.engine.store import RunRow, StepRow
from runwright.model.event_type import EventType
from runwright.model.status import TERMINAL, RunStatus, StepStatus
from runwright.steps.approval import ApprovalParams, policy_text, refusal, valid_approvals
from runwright.steps.registry import params_as

_THRESHOLD = re.compile(r"(?:<=|>=|==|!=|<|>)\s*(-?[0-9.]+(?:e-?[0-9]+)?)")
WAITING = (StepStatus.WAITING, StepStatus.PENDING, StepStatus.RUNNING)


@dataclass(frozen=True)
class ApprovalView:
    step: str
    policy: str
    required: int
    given: list[dict[str, Any]]
    open: bool
    refusal: str | None


@dataclass(frozen=True)
class GateView:
    step: str
    items: list[dict[str, Any]]
    open: bool


@dataclass
class RunView:
    run: RunRow
    steps: list[StepRow]
    reason: str | None
    approvals: list[ApprovalView] = field(default_factory=list)
    gates: list[GateView] = field(default_factory=list)
    charts: list[dict[str, Any]] = field(default_factory=list)
    traffic: list[dict[str, Any]] = field(default_factory=list)
    unsettled: list[tuple[str, str]] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)
    services: list[ServiceLine] = field(default_factory=list)
    """A product run's services: versions and how far each got."""

    @property
    def phases(self) -> list[tuple[str, list[StepRow]]]:
        out: list[tuple[str, list[StepRow]]] = []
        for s in self.steps:
            label = s.phase if s.section == MAIN else f"{s.section}: {s.phase}"
            if not out or out[-1][0] != label:
                out.append((label, []))
            out[-1][1].append(s)
        return out


def rollback_reason(rt: Runtime, run: RunRow) -> str | None:
    """Why the run turned back, in one sentence: the failure, or who aborted and why."""
    turned = run.status in (*TERMINAL - {RunStatus.SUCCEEDED}, RunStatus.ROLLING_BACK)
    if not turned and not run.abort_requested:
        return None
    if run.abort_requested:
        asked = [e for e in rt.store.events(run.id) if e.type == EventType.RUN_ABORT_REQUESTED]
        why = str(asked[-1].data.get("reason", "")) if asked else ""
        who = asked[-1].actor if asked else run.abort_requested
        text = f"aborted by {who}" + (f": {why}" if why else "")
        return text if turned else f"abort requested: {text}"
    return run.failure or None


def run_view(rt: Runtime, run_id: int, viewer: str) -> RunView:
    run = rt.store.run(run_id)
    steps = rt.store.steps(run_id)
    view = RunView(run, steps, rollback_reason(rt, run))
    approvals = rt.store.approvals(run_id)
    for s in steps:
        if s.section != MAIN:
            continue
        if s.kind == "approval":
            view.approvals.append(_approval(rt, run, s, approvals, viewer))
        elif s.kind == "gate":
            view.gates.append(_gate(run, s, approvals))
        elif s.kind == "traffic" and s.data.get("weights"):
            view.traffic.append(
                {"step": s.name, "at": _iso(s.finished_at), "weights": s.data["weights"]}
            )
    view.services = service_lines(run.params, steps)
    view.charts = charts(rt.store.measurements(run_id))
    view.unsettled = unsettled(rt, run, steps)
    view.unsupported = unsupported_rows(rt.store, run.id)
    return view


def unsettled(rt: Runtime, run: RunRow, steps: list[StepRow]) -> list[tuple[str, str]]:
    """Steps (or undos) left in flight by a process that is gone: a person settles them."""
    if run.terminal:
        return []
    lease = run.lease_owner and run.lease_expires and run.lease_expires > rt.clock.now()
    if lease and run.lease_owner and not owner_dead(run.lease_owner):
        return []
    return [(v.name, what) for v, what in in_flight(view_of(run, steps))]


def _approval(rt: Runtime, run: RunRow, s: StepRow, rows: list[Any], viewer: str) -> ApprovalView:
    params = params_as(s.spec, ApprovalParams)
    mine = [a for a in rows if a.gate == s.name and a.kind == "approval"]
    current = valid_approvals(params, mine, run.initiator, rt.clock.now())
    is_open = run.status == RunStatus.AWAITING_APPROVAL and s.status in WAITING
    return ApprovalView(
        s.name,
        policy_text(params),
        params.required,
        [{"user": a.user, "at": _iso(a.at), "note": a.note} for a in mine],
        is_open,
        refusal(params, viewer, run.initiator, current) if is_open else None,
    )


def _gate(run: RunRow, s: StepRow, rows: list[Any]) -> GateView:
    items = s.spec.get("params", {}).get("items", [])
    attested = [a for a in rows if a.gate == s.name and a.kind == "attestation"]
    out = []
    for n, item in enumerate(items, 1):
        text = item.get("text", "") if isinstance(item, dict) else str(item)
        by = [a for a in attested if a.item in (None, n)]
        out.append(
            {
                "n": n,
                "text": text,
                "proven": bool(isinstance(item, dict) and item.get("check")),
                "by": [{"user": a.user, "at": _iso(a.at), "note": a.note} for a in by],
            }
        )
    is_open = run.status == RunStatus.AWAITING_ATTESTATION and s.status in WAITING
    return GateView(s.name, out, is_open)


def charts(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One chart per (step, check): times, values, breaches and the threshold line."""
    by: dict[tuple[str, str], dict[str, Any]] = {}
    for r in rows:
        key = (r["step"], r["check"])
        chart = by.setdefault(
            key,
            {
                "step": r["step"],
                "check": r["check"],
                "condition": r["condition"],
                "threshold": threshold(r["condition"]),
                "t": [],
                "v": [],
                "breached": [],
                "verdicts": [],
                "last": "",
            },
        )
        at = r["at"]
        chart["t"].append(at.timestamp() if isinstance(at, datetime) else at)
        chart["v"].append(r["value"])
        chart["breached"].append(bool(r["breached"]))
        chart["verdicts"].append(r["verdict"])
        chart["last"] = r["detail"] or r["verdict"]
    return list(by.values())


def threshold(condition: str) -> float | None:
    match = _THRESHOLD.search(condition or "")
    return float(match.group(1)) if match else None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None

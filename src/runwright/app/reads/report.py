"""The sign-off sheet of a run: every gate item, approval and step with who, when and evidence.

It is what a runbook's "Deployment Sign-off" tables ask a person to fill in by hand, produced
from the journal instead. ``collect`` reads the journal once into a ``Report``; the Markdown
and the printable HTML sheets are two templates over that one model
(``app/reads/templates/report.md.j2`` and ``report.html.j2``), so they cannot disagree. Everything
in it already went through redaction when it was stored; the HTML template escapes every
value (step output and notes are user-controlled).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

import jinja2

from runwright.app.runtime.product import ServiceLine, service_lines
from runwright.app.runtime.runtime import Runtime
from runwright.engine.audit import verify_run
from runwright.engine.store import ApprovalRow, RunRow, StepRow
from runwright.model.durations import format_duration
from runwright.model.event_type import EventType
from runwright.model.status import BAD_ENDINGS, RunStatus, StepStatus, Verdict

EXCERPT_LINES = 8
_GOOD = {RunStatus.SUCCEEDED, Verdict.PASSED, "proven", "attested"}
_BAD = BAD_ENDINGS | {Verdict.FAILED, Verdict.ERROR, "not proven"}


def _t(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else "-"


def _dur(step: StepRow) -> str:
    if step.started_at and step.finished_at:
        return format_duration((step.finished_at - step.started_at).total_seconds())
    return "-"


def _when(value: Any) -> str:
    try:
        return _t(datetime.fromisoformat(str(value))) if value else ""
    except ValueError:
        return str(value)


def number(value: Any) -> str:
    """A measured value as a person reads it: 4 significant digits, "no data" for None."""
    if value is None:
        return "no data"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


@dataclass(frozen=True)
class Approval:
    step: str
    user: str
    at: str
    note: str


@dataclass(frozen=True)
class Check:
    """One line of the checklists: a gate item, or a step done by hand."""

    gate: str
    item: str
    who: str
    when: str
    evidence: str
    verdict: str  # proven | attested | not proven, or the step's status


@dataclass(frozen=True)
class StepLine:
    phase: str
    name: str
    kind: str
    status: str
    undo_status: str
    started: str
    duration: str
    attempts: int
    summary: str


@dataclass(frozen=True)
class RollbackEvent:
    at: str
    type: str
    step: str
    detail: str


@dataclass(frozen=True)
class Measurement:
    at: str
    check: str
    query: str
    value: str
    condition: str
    verdict: str
    detail: str


@dataclass(frozen=True)
class Excerpt:
    name: str
    lines: list[str]
    earlier: int  # lines before the excerpt (read them with `runwright logs RUN`)


@dataclass(frozen=True)
class Report:
    """Everything the sign-off sheet shows, read once from the journal."""

    run: RunRow
    started: str
    finished: str
    duration: str
    chain_ok: bool
    chain: str
    approvals: list[Approval]
    checks: list[Check]
    checks_ok: bool
    steps: list[StepLine]
    undone: list[StepLine]
    rollback_steps: list[StepLine]
    rollback_events: list[RollbackEvent]
    ended_badly: bool
    measurements: list[Measurement]
    excerpts: list[Excerpt]
    verifiers: list[str] = field(default_factory=list)
    services: list[ServiceLine] = field(default_factory=list)
    """A product run's services: versions, how far each got, whether it was rolled back."""

    @property
    def passed(self) -> bool:
        return self.run.status == RunStatus.SUCCEEDED and self.checks_ok


def who_of(a: ApprovalRow) -> str:
    """The person behind a decision, marked when the name was only declared."""
    return a.user if a.via != "self_declared" else f"{a.user} (self-declared)"


def _line(s: StepRow) -> StepLine:
    return StepLine(
        s.phase, s.name, s.kind, s.status, s.undo_status or "", _t(s.started_at), _dur(s),
        s.attempts, s.summary or "",
    )  # fmt: skip


def _checks(steps: list[StepRow], attest: list[Any]) -> list[Check]:
    rows: list[Check] = []
    for g in steps:
        by_hand = g.spec.get("manual") or g.spec.get("draft")
        if g.kind != "gate" and not by_hand:
            continue
        items = g.data.get("items") or []
        if not items:
            who = next((a for a in attest if a.gate == g.name), None)
            label = "done by hand" if by_hand else "(not reached)"
            rows.append(Check(
                g.name, label, who_of(who) if who else "-", _t(who.at) if who else "-",
                (who.note or "") if who else g.status, "attested" if who else g.status,
            ))  # fmt: skip
            continue
        for item in items:
            proven = item.get("proven")
            verdict = (
                "proven" if proven else "attested" if item.get("attested_by") else "not proven"
            )
            rows.append(Check(
                g.name, str(item.get("text") or ""),
                str(item.get("attested_by") or ("check" if proven else "-")),
                _when(item.get("at")) or _t(g.finished_at),
                str(item.get("evidence") or item.get("note") or ""), verdict,
            ))  # fmt: skip
    return rows


def _rollback_events(events: list[Any], rollback: list[StepRow]) -> list[RollbackEvent]:
    names = {r.name for r in rollback}
    shown = sorted(
        (ev.seq, ev)
        for ev in events
        if ev.type.startswith("undo.")
        or (ev.type.startswith("step.") and ev.type != EventType.STEP_PROCESS and ev.step in names)
        or ev.type == EventType.ROLLBACK_STARTED
    )
    return [
        RollbackEvent(
            _t(ev.at),
            ev.type,
            ev.step or "",
            str(ev.data.get("reason") or ev.data.get("summary") or ev.data.get("error") or ""),
        )
        for _, ev in shown
    ]


def _excerpts(steps: list[StepRow]) -> list[Excerpt]:
    out = []
    for s in steps:
        if s.output.strip():
            lines = s.output.rstrip("\n").splitlines()
            out.append(Excerpt(s.name, lines[-EXCERPT_LINES:], max(0, len(lines) - EXCERPT_LINES)))
    return out


def collect(rt: Runtime, run: RunRow) -> Report:
    """Read the run's journal once into the model both sheets are rendered from."""
    steps = rt.store.steps(run.id)
    events = rt.store.events(run.id)
    every = rt.store.approvals(run.id)
    verdict = verify_run(rt.store, run.id)
    ok, chain = verdict.ok, verdict.message
    approvals = [a for a in every if a.kind == "approval"]
    attest = [a for a in every if a.kind == "attestation"]
    checks = _checks(steps, attest)
    main = [s for s in steps if s.section == "main"]
    rollback = [s for s in steps if s.section == "rollback" and s.status != StepStatus.PENDING]
    elapsed = (run.finished_at - run.created_at).total_seconds() if run.finished_at else None
    return Report(
        run=run,
        started=_t(run.created_at),
        finished=_t(run.finished_at),
        duration=format_duration(elapsed) if elapsed is not None else "-",
        chain_ok=ok,
        chain=chain,
        approvals=[Approval(a.gate, who_of(a), _t(a.at), a.note or "") for a in approvals],
        checks=checks,
        checks_ok=all(c.verdict in ("proven", "attested") for c in checks),
        steps=[_line(s) for s in main],
        undone=[_line(s) for s in main if s.undo_status],
        rollback_steps=[_line(s) for s in rollback],
        rollback_events=_rollback_events(events, rollback),
        ended_badly=run.status in BAD_ENDINGS,
        measurements=[
            Measurement(
                _t(m["at"]),
                str(m["check"]),
                str(m["query"]),
                number(m["value"]),
                str(m["condition"]),
                str(m["verdict"]),
                str(m.get("detail") or ""),
            )
            for m in rt.store.measurements(run.id)
        ],  # fmt: skip
        excerpts=_excerpts(steps),
        verifiers=sorted({who_of(a) for a in attest} | {who_of(a) for a in approvals}),
        services=service_lines(run.params, steps),
    )


def _cell(text: Any) -> str:
    return str(text if text is not None else "").replace("|", "\\|").replace("\n", " ")


def _css_class(text: str) -> str:
    return "ok" if text in _GOOD else ("bad" if text in _BAD else "wait")


@cache
def _templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("runwright.app.reads", "templates"),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["cell"] = _cell
    env.filters["css"] = _css_class
    return env


def render(report: Report, template: str) -> str:
    """``report`` through ``templates/report.<template>.j2`` (md or html)."""
    return _templates().get_template(f"report.{template}.j2").render(r=report).rstrip("\n")


def markdown(rt: Runtime, run: RunRow) -> str:
    """The run's sign-off sheet in Markdown."""
    return render(collect(rt, run), "md") + "\n"

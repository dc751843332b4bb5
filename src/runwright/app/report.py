"""The sign-off sheet of a run: every gate item, approval and step with who, when and evidence.

It is what the seeds' "Deployment Sign-off" tables ask a person to fill in by hand, produced
from the journal instead. Everything in it already went through redaction when it was stored.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from runwright.app.runtime import Runtime
from runwright.engine.audit import verify_run
from runwright.engine.store import ApprovalRow, RunRow, StepRow
from runwright.model.durations import format_duration
from runwright.model.status import BAD_ENDINGS, StepStatus

EXCERPT_LINES = 8


def _t(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else "-"


def _dur(step: StepRow) -> str:
    if step.started_at and step.finished_at:
        return format_duration((step.finished_at - step.started_at).total_seconds())
    return "-"


def number(value: Any) -> str:
    """A measured value as a person reads it: 4 significant digits, "no data" for None."""
    if value is None:
        return "no data"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _cell(text: Any) -> str:
    return str(text if text is not None else "").replace("|", "\\|").replace("\n", " ")


def who_of(a: ApprovalRow) -> str:
    """The person behind a decision, marked when the name was only declared."""
    return a.user if a.via != "self_declared" else f"{a.user} (self-declared)"


def collect(rt: Runtime, run: RunRow) -> dict[str, Any]:
    steps = rt.store.steps(run.id)
    events = rt.store.events(run.id)
    approvals = rt.store.approvals(run.id)
    verdict = verify_run(rt.store, run.id)
    ok, chain = verdict.ok, verdict.message
    by_step: dict[str, list[Any]] = {}
    for ev in events:
        if ev.step:
            by_step.setdefault(ev.step, []).append(ev)
    return {
        "run": run,
        "steps": steps,
        "events": events,
        "approvals": approvals,
        "chain_ok": ok,
        "chain": chain,
        "by_step": by_step,
        "measurements": rt.store.measurements(run.id),
    }


def markdown(rt: Runtime, run: RunRow) -> str:
    data = collect(rt, run)
    steps: list[StepRow] = data["steps"]
    out: list[str] = []
    add = out.append
    add(f"# Deployment report: {run.runbook} {run.version} to {run.environment}")
    add("")
    add(f"- **Run:** {run.id} ({run.kind})")
    add(f"- **Outcome:** {run.status.upper().replace('_', ' ')}")
    add(f"- **Deployed by:** {run.initiator}")
    add(f"- **Started:** {_t(run.created_at)}")
    add(f"- **Finished:** {_t(run.finished_at)}")
    if run.finished_at:
        add(
            f"- **Duration:** {format_duration((run.finished_at - run.created_at).total_seconds())}"
        )
    if run.revision:
        add(f"- **Revision:** {run.revision}")
    add(f"- **Runbook:** `{run.runbook_file}` (sha256 {run.runbook_digest[:16]})")
    if run.failure:
        add(f"- **Why it failed:** {run.failure}")
    add(f"- **Audit trail:** {'intact' if data['chain_ok'] else 'TAMPERED'}: {data['chain']}")
    add("")
    approvals = [a for a in data["approvals"] if a.kind == "approval"]
    add("## Approvals")
    add("")
    if approvals:
        add("| Step | Approved by | When | Note |")
        add("|---|---|---|---|")
        for a in approvals:
            add(f"| {_cell(a.gate)} | {_cell(who_of(a))} | {_t(a.at)} | {_cell(a.note)} |")
    else:
        add("None required.")
    add("")
    gates = [s for s in steps if s.kind == "gate" or s.spec.get("manual")]
    if gates:
        add("## Checklists")
        add("")
        add("| Gate | Item | Verified by | When | Evidence |")
        add("|---|---|---|---|---|")
        attest = [a for a in data["approvals"] if a.kind == "attestation"]
        for g in gates:
            items = g.data.get("items") or []
            if not items and g.spec.get("manual"):
                who = next((a for a in attest if a.gate == g.name), None)
                add(
                    f"| {_cell(g.name)} | done by hand | {_cell(who_of(who) if who else '-')} | "
                    f"{_t(who.at) if who else '-'} | {_cell(who.note if who else g.status)} |"
                )
            for item in items:
                who = item.get("attested_by") or ("check" if item.get("proven") else "-")
                when = item.get("at") or _t(g.finished_at)
                evidence = item.get("evidence") or item.get("note") or ""
                add(
                    f"| {_cell(g.name)} | {_cell(item.get('text'))} | {_cell(who)} | "
                    f"{_cell(when)} | {_cell(evidence)} |"
                )
            if not items and not g.spec.get("manual"):
                add(f"| {_cell(g.name)} | (not reached) | - | - | {g.status} |")
        add("")
    add("## Steps")
    add("")
    add("| # | Phase | Step | Kind | Outcome | Started | Duration | Attempts | Result |")
    add("|---|---|---|---|---|---|---|---|---|")
    for n, s in enumerate([s for s in steps if s.section == "main"], 1):
        outcome = s.status + (f", undo {s.undo_status}" if s.undo_status else "")
        add(
            f"| {n} | {_cell(s.phase)} | {_cell(s.name)} | {s.kind} | {outcome} | "
            f"{_t(s.started_at)} | {_dur(s)} | {s.attempts} | {_cell(s.summary)} |"
        )
    add("")
    undone = [s for s in steps if s.section == "main" and s.undo_status]
    rollback = [s for s in steps if s.section == "rollback" and s.status != StepStatus.PENDING]
    if undone or rollback or run.status in BAD_ENDINGS:
        add("## Rollback")
        add("")
        order = sorted(
            [
                (ev.seq, ev)
                for ev in data["events"]
                if ev.type.startswith("undo.")
                or (ev.type.startswith("step.") and ev.step in {r.name for r in rollback})
                or ev.type == "rollback.started"
            ],
        )
        if not order:
            add("Nothing to undo.")
        for _, ev in order:
            detail = ev.data.get("reason") or ev.data.get("summary") or ev.data.get("error") or ""
            add(
                f"- {_t(ev.at)} {ev.type} {ev.step or ''} {('-- ' + str(detail)) if detail else ''}"
            )
        add("")
    if data["measurements"]:
        add("## Measurements")
        add("")
        add("| When | Check | Query | Value | Condition | Verdict | Detail |")
        add("|---|---|---|---|---|---|---|")
        for m in data["measurements"]:
            add(
                f"| {_t(m['at'])} | {_cell(m['check'])} | `{_cell(m['query'])}` | "
                f"{number(m['value'])} | {_cell(m['condition'])} | {_cell(m['verdict'])} | "
                f"{_cell(m.get('detail') or '')} |"
            )
        add("")
    add("## Output excerpts")
    add("")
    for s in steps:
        if not s.output.strip():
            continue
        lines = s.output.rstrip("\n").splitlines()
        excerpt = lines[-EXCERPT_LINES:]
        add(f"### {s.name}")
        add("")
        add("```")
        if len(lines) > EXCERPT_LINES:
            add(f"... ({len(lines) - EXCERPT_LINES} earlier lines: runwright logs {run.id})")
        out.extend(excerpt)
        add("```")
        add("")
    add("## Sign-off")
    add("")
    add("| Role | Name | Date |")
    add("|---|---|---|")
    add(f"| Deployed by | {run.initiator} | {_t(run.created_at)} |")
    for a in approvals:
        add(f"| Approved by | {who_of(a)} | {_t(a.at)} |")
    add("| Verified by | | |")
    add("")
    return "\n".join(out)

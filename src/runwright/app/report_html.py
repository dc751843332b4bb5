"""The sign-off sheet as a printable HTML page: what the seeds' teams print and sign by hand.

The seeds end with "Deployed By ____ Verified By ____ All Checks Pass: YES / NO". This page
fills that in from the journal: who deployed, who approved and attested, every gate item and
check with its evidence, the steps and the rollback. Data comes from ``report.collect``, so
it matches the Markdown report; every value is HTML-escaped (step output and notes are
user-controlled), and the page loads nothing from outside, so it prints the same offline.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from html import escape
from typing import Any

from runwright.app.report import collect, number, who_of
from runwright.app.runtime import Runtime
from runwright.engine.store import RunRow, StepRow
from runwright.model.durations import format_duration
from runwright.model.status import BAD_ENDINGS, RunStatus, StepStatus, Verdict

CSS = """
body { font: 13px/1.45 system-ui, sans-serif; color: #111; max-width: 1100px; margin: 24px auto;
       padding: 0 16px; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 16px; margin: 22px 0 6px;
     border-bottom: 2px solid #222; padding-bottom: 2px; }
table { border-collapse: collapse; width: 100%; margin: 4px 0 10px; }
th, td { border: 1px solid #999; padding: 4px 6px; text-align: left; vertical-align: top; }
th { background: #eee; } .muted { color: #666; } pre { white-space: pre-wrap; margin: 0;
     font: 11px/1.3 ui-monospace, monospace; background: #f6f6f6; padding: 6px; }
.ok { color: #0a6b2d; font-weight: 600; } .bad { color: #b00020; font-weight: 600; }
.wait { color: #8a5a00; font-weight: 600; }
.sign td { height: 34px; } .box { font-size: 16px; }
@media print { body { margin: 0; max-width: none; } h2 { page-break-after: avoid; }
  tr { page-break-inside: avoid; } }
"""


def _t(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else "-"


def _when(value: Any) -> str:
    try:
        return _t(datetime.fromisoformat(str(value))) if value else ""
    except ValueError:
        return str(value)


def _e(value: Any) -> str:
    return escape("" if value is None else str(value), quote=True)


_GOOD = {RunStatus.SUCCEEDED, Verdict.PASSED, "proven", "attested"}
_BAD = BAD_ENDINGS | {Verdict.FAILED, Verdict.ERROR, "not proven"}


def _status(text: str) -> str:
    css = "ok" if text in _GOOD else ("bad" if text in _BAD else "wait")
    return f'<span class="{css}">{_e(text.replace("_", " "))}</span>'


def _table(headers: Iterable[str], rows: Iterable[Iterable[str]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _gate_rows(steps: list[StepRow], attest: list[Any]) -> tuple[list[list[str]], bool]:
    rows: list[list[str]] = []
    all_ok = True
    for g in steps:
        if g.kind != "gate" and not g.spec.get("manual"):
            continue
        items = g.data.get("items") or []
        if not items:
            who = next((a for a in attest if a.gate == g.name), None)
            label = "done by hand" if g.spec.get("manual") else "(not reached)"
            all_ok = all_ok and who is not None
            rows.append([
                _e(g.name), _e(label), _e(who_of(who) if who else "-"),
                _e(_t(who.at) if who else "-"), _e(who.note if who else g.status),
                _status("attested" if who else g.status),
            ])  # fmt: skip
            continue
        for item in items:
            proven = item.get("proven")
            who = item.get("attested_by") or ("check" if proven else "-")
            verdict = (
                "proven" if proven else "attested" if item.get("attested_by") else "not proven"
            )
            all_ok = all_ok and verdict != "not proven"
            rows.append([
                _e(g.name), _e(item.get("text")), _e(who),
                _e(_when(item.get("at")) or _t(g.finished_at)),
                _e(item.get("evidence") or item.get("note") or ""), _status(verdict),
            ])  # fmt: skip
    return rows, all_ok


def html(rt: Runtime, run: RunRow) -> str:
    """The run's sign-off sheet as a standalone, printable HTML document."""
    data = collect(rt, run)
    steps: list[StepRow] = data["steps"]
    approvals = [a for a in data["approvals"] if a.kind == "approval"]
    attest = [a for a in data["approvals"] if a.kind == "attestation"]
    out: list[str] = []
    add = out.append
    title = f"Deployment sign-off: {run.runbook} {run.version} to {run.environment}"
    add("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>")
    add(f"<title>{_e(title)}</title><style>{CSS}</style></head><body>")
    add(f"<h1>{_e(title)}</h1>")
    duration = (
        format_duration((run.finished_at - run.created_at).total_seconds())
        if run.finished_at
        else "-"
    )
    facts = [
        ("Run", f"{run.id} ({run.kind})"),
        ("Outcome", None),
        ("Deployed by", run.initiator),
        ("Started", _t(run.created_at)),
        ("Finished", _t(run.finished_at)),
        ("Duration", duration),
        ("Revision", run.revision or "-"),
        ("Runbook", f"{run.runbook_file} (sha256 {run.runbook_digest[:16]})"),
        ("Audit trail", f"{'intact' if data['chain_ok'] else 'TAMPERED'}: {data['chain']}"),
    ]
    if run.failure:
        facts.append(("Why it failed", run.failure))
    add(
        _table(
            ["Field", "Value"],
            [[_e(k), _status(run.status) if v is None else _e(v)] for k, v in facts],
        )
    )
    add("<h2>Approvals</h2>")
    add(
        _table(
            ["Step", "Approved by", "When", "Note"],
            [[_e(a.gate), _e(who_of(a)), _e(_t(a.at)), _e(a.note)] for a in approvals],
        )
        if approvals
        else "<p class='muted'>None required.</p>"
    )
    rows, checks_ok = _gate_rows(steps, attest)
    add("<h2>Checklists and checks</h2>")
    add(
        _table(["Gate", "Item", "Verified by", "When", "Evidence", "Result"], rows)
        if rows
        else "<p class='muted'>No checklist in this run.</p>"
    )
    if data["measurements"]:
        add("<h2>Measurements</h2>")
        add(
            _table(
                ["When", "Check", "Query", "Value", "Condition", "Verdict", "Detail"],
                [
                    [_e(_t(m["at"])), _e(m["check"]), f"<code>{_e(m['query'])}</code>",
                     _e(number(m["value"])), _e(m["condition"]), _status(str(m["verdict"])),
                     _e(m.get("detail") or "")]
                    for m in data["measurements"]
                ],
            )
        )  # fmt: skip
    add("<h2>Steps</h2>")
    main = [s for s in steps if s.section == "main"]
    add(
        _table(
            ["#", "Phase", "Step", "Kind", "Outcome", "Started", "Attempts", "Result"],
            [
                [str(n), _e(s.phase), _e(s.name), _e(s.kind),
                 _status(s.status) + (f" (undo {_e(s.undo_status)})" if s.undo_status else ""),
                 _e(_t(s.started_at)), str(s.attempts), _e(s.summary)]
                for n, s in enumerate(main, 1)
            ],
        )
    )  # fmt: skip
    rollback = [s for s in steps if s.section == "rollback" and s.status != StepStatus.PENDING]
    undone = [s for s in main if s.undo_status]
    if rollback or undone:
        add("<h2>Rollback</h2>")
        add(
            _table(
                ["Step", "What", "Outcome"],
                [[_e(s.name), "undo", _status(s.undo_status or "")] for s in undone]
                + [[_e(s.name), "rollback step", _status(s.status)] for s in rollback],
            )
        )
    outputs = [s for s in steps if s.output.strip()]
    if outputs:
        add("<h2>Output excerpts</h2>")
        for s in outputs:
            tail = s.output.rstrip("\n").splitlines()[-8:]
            add(f"<h3>{_e(s.name)}</h3><pre>{_e(chr(10).join(tail))}</pre>")
    verifiers = sorted({a.user for a in attest} | {a.user for a in approvals})
    passed = run.status == RunStatus.SUCCEEDED and checks_ok
    yes, no = ("&#9745;", "&#9744;") if passed else ("&#9744;", "&#9745;")
    add("<h2>Sign-off</h2>")
    add(
        "<table class='sign'><tr><th>Deployed by</th><td>" + _e(run.initiator) + "</td>"
        "<th>Date</th><td>" + _e(_t(run.created_at)) + "</td></tr>"
        "<tr><th>Verified by</th><td>" + _e(", ".join(verifiers) or "") + "</td>"
        "<th>Time</th><td>" + _e(_t(run.finished_at)) + "</td></tr>"
        f"<tr><th>All checks pass</th><td colspan='3' class='box'>{yes} YES &nbsp; {no} NO"
        "</td></tr><tr><th>Signature</th><td colspan='3'></td></tr></table>"
    )
    add("</body></html>")
    return "\n".join(out)

"""Text renderings of the app's read models: plans, a run's outcome, status lines.

Only rendering: every value comes from a dataclass an app use case or read model returned,
or (plans) its JSON form, which the remote CLI gets from the API: both modes print alike.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import click

from runwright.app.reads.views import EnvironmentInfo, RunDetail, RunSummary, event_line
from runwright.app.runs.waiting import Phase
from runwright.cli.edge import err
from runwright.cli.terminal import safe_echo
from runwright.model.status import RunStatus


def dumps(data: object) -> str:
    return json.dumps(data, indent=2, default=str)


def plan(p: Mapping[str, Any], *, header: str, as_json: bool) -> None:
    """A plan in its ``as_dict()`` form (local) or as the API sent it (remote)."""
    if as_json:
        click.echo(json.dumps(p, indent=2))
        return
    click.echo(header)
    phase = None
    for n, s in enumerate(p["steps"], 1):
        if s["phase"] != phase:
            phase = s["phase"]
            click.echo(f"\n== {phase}")
        flags = []
        if s["timeout_seconds"]:
            flags.append(f"timeout {s['timeout_seconds']:g}s")
        if s["retries"]:
            flags.append(f"retries {s['retries']}")
        if s["idempotent"]:
            flags.append("idempotent")
        suffix = f"  ({', '.join(flags)})" if flags else ""
        click.echo(f"{n:>3}. [{s['kind']}] {s['name']}{suffix}  -- not executed")
        for line in s["actions"]:
            click.echo(f"       {line}")
        if s["undo"]:
            click.echo("       undo: " + " / ".join(s["undo"]))
    _rollback_plan(p)


def _rollback_plan(p: Mapping[str, Any]) -> None:
    click.echo("\n== rollback plan (if a step fails: undo completed steps newest first, then:)")
    undo_order = [s for s in reversed(p["steps"]) if s["undo"]]
    for s in undo_order:
        click.echo(f"   - undo {s['name']}: " + " / ".join(s["undo"] or []))
    for s in p["rollback"]:
        click.echo(f"   - [{s['kind']}] {s['name']}: " + " / ".join(s["actions"]))
    if not undo_order and not p["rollback"]:
        click.echo("   (nothing)")
    for note in p["notes"]:
        click.echo(f"\nnote: {note}")


NEXT: dict[str, str] = {
    RunStatus.AWAITING_APPROVAL: "next: another person runs `runwright approve {id} --note ...`, "
    "then `runwright resume {id}`",
    RunStatus.AWAITING_ATTESTATION: "next: `runwright attest {id} --all --note ...`, then "
    "`runwright resume {id}`",
    RunStatus.AWAITING_SETTLEMENT: "next: `runwright settle {id} STEP --rerun|--done|--rollback`,"
    " then `runwright resume {id}`",
    RunStatus.AWAITING_DECISION: "next: `runwright resume {id}` measures again, "
    "`runwright abort {id}` rolls back",
}


def outcome(st: RunDetail, as_json: bool) -> None:
    """How a deploy, resume or rollback ended (or where it stopped)."""
    run = st.run
    if as_json:
        safe_echo(dumps(st.to_json()))
        return
    line = f"run {run.id}: {run.status}"
    if run.failure and run.status != RunStatus.SUCCEEDED:
        line += f" ({run.failure})"
    err(line)
    if st.waiting:
        err(f"  {st.waiting}; it holds the lock of {run.runbook}/{run.environment}")
    if run.status in NEXT:
        err(NEXT[run.status].format(id=run.id))
    elif run.terminal:
        err(f"report: runwright report {run.id}")


def status_line(st: RunDetail) -> str:
    r = st.run
    line = f"{r.id:>5}  {r.runbook}/{r.environment}  {r.version}  {r.status}  by {r.initiator}"
    if st.waiting:
        line += f"  -- {st.waiting}"
    elif st.phase == Phase.ROLLBACK:
        line += "  -- rolling back"
    return line


def status(st: RunDetail) -> None:
    r = st.run
    click.echo(f"run {r.id}: {r.runbook} {r.version} -> {r.environment}: {r.status}")
    if st.waiting:
        click.echo(f"  {st.waiting}; holds the lock of {r.runbook}/{r.environment} until it ends")
    elif st.phase == Phase.ROLLBACK:
        click.echo(f"  rolling back; holds the lock of {r.runbook}/{r.environment}")
    if r.failure:
        click.echo(f"  failure: {r.failure}")
    for problem in st.unsupported:
        click.echo(f"  WARNING: {problem}")
    for s in st.steps:
        undo = f" (undo {s.undo_status})" if s.undo_status else ""
        click.echo(
            f"  {s.section:<8} {s.status:<10} {s.name}{undo}"
            + (f" -- {s.summary}" if s.summary else "")
        )


def run_status(st: RunDetail, as_json: bool) -> None:
    """``status RUN``."""
    click.echo(dumps(st.to_json())) if as_json else status(st)


def active(found: list[RunDetail], as_json: bool) -> None:
    """``status`` without a run: the runs not ended yet."""
    if as_json:
        click.echo(dumps([a.to_json() for a in found]))
        return
    if not found:
        click.echo("no active runs")
    for a in found:
        click.echo(status_line(a))


def history(rows: list[RunSummary], as_json: bool) -> None:
    if as_json:
        click.echo(dumps([r.to_json() for r in rows]))
        return
    if not rows:
        click.echo("no runs yet")
    for r in rows:
        click.echo(
            f"{r.id:>5}  {r.created_at:%Y-%m-%d %H:%M}  {r.runbook}/{r.environment}  "
            f"{r.version}  {r.status}  by {r.initiator}"
        )


def event(e: dict[str, Any], as_json: bool, with_run: bool = False) -> None:
    """One event in its ``event_json`` form: a JSON line, or the text line."""
    click.echo(json.dumps(e, default=str) if as_json else event_line(e, with_run))


def logs(found: dict[str, Any], failure: str | None, as_json: bool) -> None:
    """``logs RUN`` from its ``RunLogs.to_json()`` form."""
    if as_json:
        click.echo(dumps(found))
        return
    for e in found["events"]:
        click.echo(event_line(e))
    for name, text in found["output"].items():
        click.echo(f"\n--- output of {name}")
        click.echo(text.rstrip("\n"))
    if failure:
        click.echo(f"\nwhy: {failure}")


def environments(found: list[EnvironmentInfo], as_json: bool) -> None:
    if as_json:
        click.echo(dumps([e.to_json() for e in found]))
        return
    if not found:
        click.echo("no environments deployed yet")
    for e in found:
        live = f"revision {e.revision} ({e.version}, by {e.deployed_by})" if e.revision else "-"
        lock = f"  locked by {status_line(e.active).strip()}" if e.active else ""
        click.echo(f"{e.runbook}/{e.environment}: {live}{lock}")

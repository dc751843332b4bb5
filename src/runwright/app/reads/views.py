"""Read models: what ``status``, ``history``, ``logs`` and ``environments`` show, as dataclasses.

The CLI renders them as text or JSON, the web server as JSON and pages; neither queries the
store itself. Each has ``to_json()`` giving the documented ``--json`` shape. Lists of runs
(``list_runs``, ``history``) select only the columns a list shows, never a run's stored
runbook text, so a page stays fast with tens of thousands of runs. A blocked run says which
phase it is in and what it waits for ("rollback waiting for attestation..."), so a run still
rolling back, and holding its environment's lock, is visible as such.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from runwright.app.runs.waiting import next_step, phase_of
from runwright.app.runtime.product import describe, stored
from runwright.engine import tables as t
from runwright.engine.audit import unsupported_rows, verify_run
from runwright.engine.feed import read_events
from runwright.engine.reads import deployed_pairs
from runwright.engine.store import EventRow, RevisionRow, RunRow, StepRow
from runwright.model.status import TERMINAL

if TYPE_CHECKING:  # the remote CLI rebuilds these read models from the API's JSON
    from runwright.app.runtime.runtime import Runtime


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@dataclass(frozen=True)
class RunSummary:
    id: int
    runbook: str
    environment: str
    version: str
    status: str
    initiator: str
    kind: str
    created_at: datetime
    finished_at: datetime | None
    failure: str | None
    revision: int | None
    terminal: bool
    versions: dict[str, str] | None = None
    """A product run's versions, by service (the set its revision records)."""

    @classmethod
    def of(cls, run: RunRow) -> RunSummary:
        return cls(
            run.id,
            run.runbook,
            run.environment,
            run.version,
            run.status,
            run.initiator,
            run.kind,
            run.created_at,
            run.finished_at,
            run.failure,
            run.revision,
            run.terminal,
            _versions(run.params),
        )

    @property
    def seconds(self) -> float | None:
        """How long the run took; None while it has not ended."""
        if self.finished_at is None:
            return None
        return (self.finished_at - self.created_at).total_seconds()

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "runbook": self.runbook,
            "environment": self.environment,
            "version": self.version,
            "status": self.status,
            "initiator": self.initiator,
            "kind": self.kind,
            "revision": self.revision,
            "created_at": _iso(self.created_at),
            "finished_at": _iso(self.finished_at),
            "duration_seconds": self.seconds,
            "failure": self.failure,
            **({"versions": self.versions} if self.versions is not None else {}),
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> RunSummary:
        """The summary ``to_json`` described (the remote CLI reads it from the API)."""
        created = _time(d["created_at"])
        assert created is not None
        return cls(
            d["id"], d["runbook"], d["environment"], d["version"], d["status"], d["initiator"],
            d["kind"], created, _time(d["finished_at"]), d["failure"], d["revision"],
            d["status"] in TERMINAL, d.get("versions"),
        )  # fmt: skip


def _versions(params: Any) -> dict[str, str] | None:
    if isinstance(params, str):
        try:
            params = json.loads(params or "{}")
        except ValueError:
            return None
    versions = stored(params) if isinstance(params, dict) else None
    return versions.target if versions is not None else None


_COLUMNS = (
    t.runs.c.id,
    t.runs.c.runbook,
    t.runs.c.environment,
    t.runs.c.version,
    t.runs.c.status,
    t.runs.c.initiator,
    t.runs.c.kind,
    t.runs.c.created_at,
    t.runs.c.finished_at,
    t.runs.c.failure,
    t.runs.c.revision,
    t.runs.c.params,
)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


@dataclass(frozen=True)
class RunFilter:
    runbook: str | None = None
    environment: str | None = None
    status: str | None = None
    initiator: str | None = None
    active: bool = False
    environments: frozenset[str] | None = None
    """Only runs of these environments (the ones the reader may see); None: all."""


def list_runs(
    rt: Runtime, where: RunFilter, *, limit: int = 50, offset: int = 0
) -> tuple[list[RunSummary], int]:
    """One page of runs, newest first, and how many match in all."""
    c = t.runs.c
    conds = [
        column == value
        for column, value in (
            (c.runbook, where.runbook),
            (c.environment, where.environment),
            (c.status, where.status),
            (c.initiator, where.initiator),
        )
        if value
    ]
    if where.active:
        conds.append(c.status.not_in(list(TERMINAL)))
    if where.environments is not None:
        conds.append(c.environment.in_(sorted(where.environments)))
    page = sa.select(*_COLUMNS).where(*conds).order_by(c.id.desc()).limit(limit).offset(offset)
    count = sa.select(sa.func.count()).select_from(t.runs).where(*conds)
    with rt.store.engine.connect() as conn:
        rows = conn.execute(page).all()
        total = int(conn.execute(count).scalar_one())
    runs = [
        RunSummary(
            r.id,
            r.runbook,
            r.environment,
            r.version,
            r.status,
            r.initiator,
            r.kind,
            _utc(r.created_at),
            _utc(r.finished_at) if r.finished_at else None,
            r.failure,
            r.revision,
            r.status in TERMINAL,
            _versions(r.params),
        )  # fmt: skip
        for r in rows
    ]
    return runs, total


@dataclass(frozen=True)
class StepInfo:
    section: str
    phase: str
    name: str
    kind: str
    status: str
    undo_status: str | None
    attempts: int
    summary: str | None
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def of(cls, s: StepRow) -> StepInfo:
        return cls(
            s.section,
            s.phase,
            s.name,
            s.kind,
            s.status,
            s.undo_status,
            s.attempts,
            s.summary,
            s.started_at,
            s.finished_at,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "section": self.section,
            "phase": self.phase,
            "name": self.name,
            "kind": self.kind,
            "status": self.status,
            "undo_status": self.undo_status,
            "attempts": self.attempts,
            "summary": self.summary,
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at),
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> StepInfo:
        return cls(
            d["section"], d["phase"], d["name"], d["kind"], d["status"], d["undo_status"],
            d["attempts"], d["summary"], _time(d["started_at"]), _time(d["finished_at"]),
        )  # fmt: skip


@dataclass(frozen=True)
class RunDetail:
    """One run with its steps; ``phase`` (deploy or rollback) and ``waiting`` while it is on."""

    run: RunSummary
    steps: list[StepInfo]
    phase: str | None
    waiting: str | None
    """e.g. "rollback waiting for attestation (rollback step 1: 'restore db')"."""
    unsupported: list[str] = field(default_factory=list)
    """Each shown field the audit chain does not support (an edited row), in words."""

    def to_json(self) -> dict[str, Any]:
        return {
            **self.run.to_json(),
            "failure": self.run.failure,
            "phase": self.phase,
            "waiting": self.waiting,  # not a status
            "holds_lock": not self.run.terminal,
            "steps": [s.to_json() for s in self.steps],
            "unsupported_by_chain": self.unsupported,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> RunDetail:
        steps = [StepInfo.from_json(s) for s in d["steps"]]
        return cls(RunSummary.from_json(d), steps, d["phase"], d["waiting"])  # not a status


def run_status(rt: Runtime, run: RunRow) -> RunDetail:
    rows = rt.store.steps(run.id)
    phase = waiting = None
    if not run.terminal:
        phase = str(phase_of(run, rows))
        found = next_step(run, rows)
        if found is not None and found.on is not None:
            waiting = found.describe()
    return RunDetail(
        RunSummary.of(run),
        [StepInfo.of(s) for s in rows],
        phase,
        waiting,
        unsupported_rows(rt.store, run.id),
    )


def status(rt: Runtime, run_id: int) -> RunDetail:
    return run_status(rt, rt.store.run(run_id))


def active(rt: Runtime) -> list[RunDetail]:
    """Runs not ended yet (each holds its environment's lock), newest first."""
    return [run_status(rt, r) for r in rt.store.runs(active=True)]


def history(
    rt: Runtime, *, runbook: str | None = None, env: str | None = None, limit: int = 20
) -> list[RunSummary]:
    return list_runs(rt, RunFilter(runbook, env), limit=limit)[0]


def event_json(e: EventRow) -> dict[str, Any]:
    return {
        "id": e.id,
        "run": e.run_id,
        "seq": e.seq,
        "at": e.at.isoformat(),
        "actor": e.actor,
        "type": e.type,
        "step": e.step,
        "data": e.data,
    }


def events_after(rt: Runtime, after: int = 0, limit: int = 1000) -> list[EventRow]:
    """Every run's events after global event id ``after``, in commit order."""
    return read_events(rt.store.engine, None, after, limit)


@dataclass(frozen=True)
class RunLogs:
    run: RunSummary
    events: list[EventRow]
    output: dict[str, str] = field(default_factory=dict)
    """Each step's captured output, by step name (steps without output left out)."""

    def to_json(self) -> dict[str, Any]:
        return {"events": [event_json(e) for e in self.events], "output": self.output}


def event_line(e: dict[str, Any], with_run: bool = False) -> str:
    """One event (in its ``event_json`` form) as ``logs`` and ``events`` print it."""
    detail = json.dumps(e["data"], default=str) if e["data"] else ""
    run = f"run {e['run']} " if with_run else ""
    at = datetime.fromisoformat(e["at"])
    step = e["step"] or ""
    return f"{at:%H:%M:%S} {run}#{e['seq']:<4} {e['actor']:<12} {e['type']:<22} {step} {detail}"


def logs(rt: Runtime, run_id: int, step: str | None = None) -> RunLogs:
    run = rt.store.run(run_id)
    events = [e for e in rt.store.events(run.id) if step is None or e.step == step]
    output = {
        s.name: s.output
        for s in rt.store.steps(run.id)
        if s.output and (step is None or s.name == step)
    }
    return RunLogs(RunSummary.of(run), events, output)


@dataclass(frozen=True)
class EnvironmentInfo:
    """Where a runbook's environment stands: its live revision, and the run holding its lock."""

    runbook: str
    environment: str
    revision: int | None
    version: str | None
    deployed_by: str | None
    deployed_at: datetime | None
    active: RunDetail | None
    versions: dict[str, str] | None = None
    """A product's live set, by service."""

    def to_json(self) -> dict[str, Any]:
        return {
            "runbook": self.runbook,
            "environment": self.environment,
            "revision": self.revision,
            "version": self.version,
            **({"versions": self.versions} if self.versions is not None else {}),
            "deployed_by": self.deployed_by,
            "deployed_at": _iso(self.deployed_at),
            "locked_by": self.active.to_json() if self.active else None,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> EnvironmentInfo:
        active = RunDetail.from_json(d["locked_by"]) if d["locked_by"] else None
        return cls(
            d["runbook"], d["environment"], d["revision"], d["version"], d["deployed_by"],
            _time(d["deployed_at"]), active, d.get("versions"),
        )  # fmt: skip


def environments(rt: Runtime) -> list[EnvironmentInfo]:
    out = []
    for runbook, env in deployed_pairs(rt.store):
        revisions = rt.store.revisions(runbook, env)
        live = revisions[0] if revisions else None
        holder = rt.store.lock_holder(runbook, env)
        held = live.state.get("versions") if live else None
        versions = {str(k): str(v) for k, v in held.items()} if isinstance(held, dict) else None
        out.append(
            EnvironmentInfo(
                runbook,
                env,
                live.number if live else None,
                describe(versions) if versions else live.version if live else None,
                live.deployed_by if live else None,
                live.at if live else None,
                status(rt, holder) if holder is not None else None,
                versions,
            )
        )
    return out


@dataclass(frozen=True)
class EnvState:
    """An environment's live revision and the run holding its lock, by id (the dashboard's
    overview: no run is loaded for it)."""

    runbook: str
    environment: str
    current: RevisionRow | None
    locked_by: int | None


def env_state(rt: Runtime, runbook: str, environment: str) -> EnvState:
    revisions = rt.store.revisions(runbook, environment)
    return EnvState(
        runbook,
        environment,
        revisions[0] if revisions else None,
        rt.store.lock_holder(runbook, environment),
    )


@dataclass(frozen=True)
class ChainCheck:
    run: int
    ok: bool
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"run": self.run, "ok": self.ok, "message": self.message}


def verify(rt: Runtime, run_id: int) -> ChainCheck:
    """Recompute a run's event chain: the first edited or deleted event, if any."""
    verdict = verify_run(rt.store, run_id)
    return ChainCheck(run_id, verdict.ok, verdict.message)


def report(rt: Runtime, run_id: int, fmt: str = "md") -> str:
    """The sign-off sheet of a run, as Markdown (``md``) or a standalone HTML page."""
    run = rt.store.run(run_id)
    if fmt == "html":
        from runwright.app.reads.report_html import html

        return html(rt, run)
    from runwright.app.reads.report import markdown

    return markdown(rt, run)

"""The store's records as callers see them, and how each is read from (and written to) its row.

Every room of the store (engine/store.py) returns these frozen records, never SQLAlchemy rows,
so a caller cannot write through a read; times come back timezone-aware UTC from either database.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from runwright.engine.chain import GENESIS, Sealed
from runwright.model.status import TERMINAL, RunStatus, StepStatus, UndoStatus


def utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def event_row(r: Any) -> EventRow:
    """An event from its table row (a SQLAlchemy row mapping); data that is not JSON is kept
    as ``{"unreadable": text}`` so a damaged row is still shown (and fails verification)."""
    try:
        data = json.loads(r["data"])
    except ValueError:
        data = {"unreadable": r["data"]}
    sets = data.pop("sets", None) if isinstance(data, dict) else None
    return EventRow(
        r["id"], r["run_id"], r["seq"], utc(r["at"]) or r["at"], r["actor"], r["type"],
        r["step"], data, r["data"], r["prev_hash"], r["hash"], r["gseq"], r["gprev"],
        sets if isinstance(sets, dict) else None,
    )  # fmt: skip


def ts(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class RunRow:
    id: int
    runbook: str
    environment: str
    version: str
    status: RunStatus
    initiator: str
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    runbook_file: str
    runbook_text: str
    runbook_digest: str
    params: dict[str, Any]
    failure: str | None
    abort_requested: str | None
    lease_owner: str | None
    lease_expires: datetime | None
    event_count: int
    head_hash: str
    revision: int | None
    kind: str
    legacy_until: int = 0
    lease_epoch: int = 0

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL


@dataclass(frozen=True)
class StepRow:
    run_id: int
    section: str
    idx: int
    phase: str
    name: str
    kind: str
    spec: dict[str, Any]
    status: StepStatus
    undo_status: UndoStatus | None
    attempts: int
    started_at: datetime | None
    finished_at: datetime | None
    summary: str | None
    output: str
    data: dict[str, Any]


@dataclass(frozen=True)
class EventRow:
    id: int
    run_id: int
    seq: int
    at: datetime
    actor: str
    type: str
    step: str | None
    data: dict[str, Any]
    data_text: str
    prev_hash: str
    hash: str
    gseq: int | None = None
    gprev: str | None = None
    sets: dict[str, Any] | None = None  # the row fields this event set (sealed in its data)

    @property
    def sealed(self) -> Sealed:
        return Sealed(
            self.run_id,
            self.seq,
            self.at,
            self.actor,
            self.type,
            self.step,
            self.data_text,
            self.prev_hash,
            self.gseq,
            self.gprev,
        )


@dataclass(frozen=True)
class ApprovalRow:
    run_id: int
    gate: str
    kind: str
    item: int | None
    user: str
    note: str
    at: datetime
    via: str = "os"


@dataclass(frozen=True)
class RevisionRow:
    runbook: str
    environment: str
    number: int
    version: str
    run_id: int
    runbook_digest: str
    deployed_by: str
    at: datetime
    state: dict[str, Any]


@dataclass(frozen=True)
class NewStep:
    section: str
    idx: int
    phase: str
    name: str
    kind: str
    spec: dict[str, Any]


@dataclass(frozen=True)
class StepUpdate:
    section: str
    idx: int
    values: Mapping[str, Any] = field(default_factory=dict)
    append_output: str = ""


@dataclass(frozen=True)
class Entry:
    """One event to append and the state change it records."""

    actor: str
    type: str
    at: datetime
    step: str | None
    data: Mapping[str, Any]
    run_values: Mapping[str, Any] | None = None
    step_update: StepUpdate | None = None


def dumps(data: Mapping[str, Any]) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)


def run_row(r: Any) -> RunRow:
    return RunRow(
        id=int(r["id"]),
        runbook=r["runbook"],
        environment=r["environment"],
        version=r["version"],
        status=RunStatus(r["status"]),
        initiator=r["initiator"],
        created_at=utc(r["created_at"]) or r["created_at"],
        updated_at=utc(r["updated_at"]) or r["updated_at"],
        finished_at=utc(r["finished_at"]),
        runbook_file=r["runbook_file"],
        runbook_text=r["runbook_text"],
        runbook_digest=r["runbook_digest"],
        params=json.loads(r["params"] or "{}"),
        failure=r["failure"],
        abort_requested=r["abort_requested"],
        lease_owner=r["lease_owner"],
        lease_expires=utc(r["lease_expires"]),
        event_count=int(r["event_count"] or 0),
        head_hash=r["head_hash"] or GENESIS,
        revision=r["revision"],
        kind=r["kind"],
        legacy_until=int(r["legacy_until"] or 0),
        lease_epoch=int(r.get("lease_epoch") or 0),
    )


def step_row(r: Any) -> StepRow:
    return StepRow(
        run_id=int(r["run_id"]),
        section=r["section"],
        idx=int(r["idx"]),
        phase=r["phase"],
        name=r["name"],
        kind=r["kind"],
        spec=json.loads(r["spec"]),
        status=StepStatus(r["status"]),
        undo_status=UndoStatus(r["undo_status"]) if r["undo_status"] else None,
        attempts=int(r["attempts"] or 0),
        started_at=utc(r["started_at"]),
        finished_at=utc(r["finished_at"]),
        summary=r["summary"],
        output=r["output"] or "",
        data=json.loads(r["data"] or "{}"),
    )


def step_values(run_id: int, s: NewStep) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "section": s.section,
        "idx": s.idx,
        "phase": s.phase,
        "name": s.name,
        "kind": s.kind,
        "spec": dumps(s.spec),
        "status": StepStatus.PENDING,
        "attempts": 0,
        "output": "",
        "data": "{}",
    }


def decision_values(d: ApprovalRow) -> dict[str, Any]:
    return {
        "run_id": d.run_id,
        "gate": d.gate,
        "kind": d.kind,
        "item": d.item,
        "user": d.user,
        "note": d.note,
        "at": d.at,
    }

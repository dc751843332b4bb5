"""Revisions: the numbered record of what each successful deploy or rollback left running,
trusted only as far as the run's chain proves its ``revision.recorded`` event.
"""

from __future__ import annotations

import json
from datetime import datetime

import sqlalchemy as sa

from runwright.engine import tables as t
from runwright.engine.journal import Journal
from runwright.engine.proof import proven
from runwright.engine.rows import RevisionRow, run_row, utc
from runwright.model.event_type import EventType
from runwright.model.status import RunStatus

REVISED_KINDS = frozenset({"deploy", "rollback"})


class Revisions(Journal):
    """Reading revisions, and numbering one a succeeded run lacks."""

    def record_missing_revision(self, run_id: int, *, actor: str, at: datetime) -> int | None:
        """Number the revision of a run that succeeded without one (it ended before revisions
        were written in its final transaction); None if it has one or needs none."""
        with self._tx() as conn:
            found = conn.execute(sa.select(t.runs).where(t.runs.c.id == run_id)).mappings().first()
            run = run_row(found) if found is not None else None
            if run is None or run.status != RunStatus.SUCCEEDED or run.revision is not None:
                return None
            if run.kind not in REVISED_KINDS:
                return None
            return self._record_revision(conn, run_id, actor, at)

    def revisions(self, runbook: str, environment: str) -> list[RevisionRow]:
        """The environment's revisions, newest first: only those whose ``revision.recorded``
        event the chain proves (a row inserted by hand is ignored; audit verify reports it)."""
        proofs: dict[int, set[tuple[int, str]]] = {}
        out = []
        for r in self.revision_rows(runbook, environment):
            if r.run_id not in proofs:
                events = self.events(r.run_id)  # none for a run that does not exist
                proofs[r.run_id] = {
                    (int(e.data.get("revision", 0)), str(e.data.get("version")))
                    for e in proven(self.key, events)
                    if e.type == EventType.REVISION_RECORDED
                }
            if (r.number, r.version) in proofs[r.run_id]:
                out.append(r)
        return out

    def revision_rows(
        self, runbook: str | None = None, environment: str | None = None
    ) -> list[RevisionRow]:
        query = sa.select(t.revisions).order_by(t.revisions.c.number.desc())
        if runbook is not None:
            query = query.where(t.revisions.c.runbook == runbook)
        if environment is not None:
            query = query.where(t.revisions.c.environment == environment)
        with self._tx() as conn:
            return [
                RevisionRow(
                    r["runbook"],
                    r["environment"],
                    r["number"],
                    r["version"],
                    r["run_id"],
                    r["runbook_digest"],
                    r["deployed_by"],
                    utc(r["at"]) or r["at"],
                    json.loads(r["state"] or "{}"),
                )
                for r in conn.execute(query).mappings()
            ]

"""Approvals and attestations: read from the run's sealed decision events, and the table of them
as written (which ``audit verify`` compares with the chain).
"""

from __future__ import annotations

import sqlalchemy as sa

from runwright.engine import tables as t
from runwright.engine.journal import Journal
from runwright.engine.proof import DECISIONS, decisions_of, proven
from runwright.engine.rows import ApprovalRow, utc


class Approvals(Journal):
    """The decisions a run's chain proves, and the rows written beside them."""

    def approvals(self, run_id: int, gate: str | None = None) -> list[ApprovalRow]:
        """Approvals and attestations as the run's audit chain proves them: read from its
        sealed decision events (up to the first broken link), never from a row anyone with
        write access to the database could insert."""
        out = [
            a
            for e in proven(self.key, self.events(run_id))
            if e.type in DECISIONS
            for a in decisions_of(e)
        ]
        return [a for a in out if gate is None or a.gate == gate]

    def approval_rows(self, run_id: int | None = None) -> list[ApprovalRow]:
        """The approvals table as written (``audit verify`` compares it with the chain), or
        one run's rows of it."""
        query = sa.select(t.approvals).order_by(t.approvals.c.id)
        if run_id is not None:
            query = query.where(t.approvals.c.run_id == run_id)
        with self._tx() as conn:
            return [
                ApprovalRow(
                    r["run_id"],
                    r["gate"],
                    r["kind"],
                    r["item"],
                    r["user"],
                    r["note"],
                    utc(r["at"]) or r["at"],
                )  # fmt: skip
                for r in conn.execute(query).mappings()
            ]

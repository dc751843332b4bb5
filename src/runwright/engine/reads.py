"""Queries the read models need that no use case does: which environments runs have gone to."""

from __future__ import annotations

import sqlalchemy as sa

from runwright.engine import tables as t
from runwright.engine.store import Store


def deployed_pairs(store: Store) -> list[tuple[str, str]]:
    """Every (runbook, environment) a run was ever started for, sorted."""
    query = (
        sa.select(t.runs.c.runbook, t.runs.c.environment)
        .distinct()
        .order_by(t.runs.c.runbook, t.runs.c.environment)
    )
    with store.engine.connect() as conn:
        return [(str(r[0]), str(r[1])) for r in conn.execute(query)]

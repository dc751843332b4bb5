"""Measurements: the metric samples analysis steps took during a run, kept for its report."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from runwright.engine import tables as t
from runwright.engine.rows import utc
from runwright.engine.storebase import StoreBase


class Measurements(StoreBase):
    """Adding and reading a run's measurements."""

    def add_measurements(self, run_id: int, rows: Sequence[Mapping[str, Any]]) -> None:
        if not rows:
            return
        with self._tx() as conn:
            conn.execute(sa.insert(t.measurements), [{"run_id": run_id, **r} for r in rows])

    def measurements(self, run_id: int) -> list[dict[str, Any]]:
        query = (
            sa.select(t.measurements)
            .where(t.measurements.c.run_id == run_id)
            .order_by(t.measurements.c.id)
        )
        with self._tx() as conn:
            return [dict(r) | {"at": utc(r["at"])} for r in conn.execute(query).mappings()]

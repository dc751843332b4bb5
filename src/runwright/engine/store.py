"""The durable store of runs: SQLite by default, PostgreSQL for teams, one code path for both.

Every state change of a run is one transaction that appends a hash-chained event and updates
the current-state rows beside it, so the audit trail and the state can never disagree, and a
run killed at any instant is found again exactly as far as it got. The schema is created and
upgraded by Alembic when a store is opened.

``Store`` is composed of rooms, one concept each: its footing (engines, transactions:
storebase.py), opening and Alembic (opening.py), the journal (journal.py), runs and their locks
(runs.py), leases and fencing (fences.py), approvals (approvals.py), revisions (revisions.py)
and measurements (measurements.py); the records they return are in rows.py and what a run's
chain proves in proof.py. The names below stay importable from here for every caller.
"""

from __future__ import annotations

from runwright.engine.approvals import Approvals
from runwright.engine.chain import ChainKey
from runwright.engine.fences import Fences
from runwright.engine.journal import (
    OUTPUT_LIMIT,
    SEALED_RUN_FIELDS,
    SEALED_STEP_FIELDS,
    Journal,
)
from runwright.engine.measurements import Measurements
from runwright.engine.opening import (
    IDLE_TX_TIMEOUT_MS,
    RESEAL_REVISION,
    key_beside,
    make_engine,
    migrate,
)
from runwright.engine.proof import DECISIONS, RESEALED, decisions_of, proven, resealed_until
from runwright.engine.revisions import REVISED_KINDS, Revisions
from runwright.engine.rows import (
    ApprovalRow,
    Entry,
    EventRow,
    NewStep,
    RevisionRow,
    RunRow,
    StepRow,
    StepUpdate,
    event_row,
    utc,
)
from runwright.engine.runs import QUEUE_CHANNEL, Runs, locked_message
from runwright.engine.storebase import ChainError, StoreError

_utc = utc  # the name callers imported before the rooms (engine/workers.py)

__all__ = [
    "DECISIONS",
    "IDLE_TX_TIMEOUT_MS",
    "OUTPUT_LIMIT",
    "QUEUE_CHANNEL",
    "RESEALED",
    "RESEAL_REVISION",
    "REVISED_KINDS",
    "SEALED_RUN_FIELDS",
    "SEALED_STEP_FIELDS",
    "ApprovalRow",
    "ChainError",
    "Entry",
    "EventRow",
    "Journal",
    "NewStep",
    "RevisionRow",
    "RunRow",
    "StepRow",
    "StepUpdate",
    "Store",
    "StoreError",
    "decisions_of",
    "event_row",
    "locked_message",
    "proven",
    "resealed_until",
]


class Store(Runs, Fences, Approvals, Revisions, Measurements):
    """Runs, steps, events, approvals, locks and revisions in one SQL database."""

    @classmethod
    def open(cls, url: str, *, key: ChainKey | None = None, durable: bool = True) -> Store:
        """Open (and upgrade) the store at ``url``. Without ``key``, a SQLite store uses the
        key file beside its database; other stores must be given theirs."""
        engine = make_engine(url, durable=durable)
        if key is None:
            key = key_beside(url)
        lazy = make_engine(url, durable=False) if durable and url.startswith("sqlite") else None
        store = cls(engine, key, lazy=lazy)
        store.migrate()
        return store

    def migrate(self) -> None:
        migrate(self)

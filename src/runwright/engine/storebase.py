"""The store's footing: its database engines, its transactions, and the errors it raises.

Every room of the store (the journal, runs and locks, leases, revisions, approvals,
measurements: engine/store.py composes them) works inside ``_tx``, so one place decides
durability and turns a lost database into a StoreError rather than a driver traceback.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError

from runwright.engine.chain import ChainKey
from runwright.engine.rows import EventRow
from runwright.errors import RunwrightError


class StoreError(RunwrightError):
    """The state store cannot be reached or used."""


class ChainError(StoreError):
    """The store-wide head of the audit chain does not match its seal: refuse to write."""


class StoreBase:
    """The engines and the transactions every room of the store writes in."""

    def __init__(self, engine: Engine, key: ChainKey, *, lazy: Engine | None = None) -> None:
        self.engine = engine
        self.key = key
        self.lazy = lazy or engine
        self.fences: dict[int, tuple[str, int]] = {}
        # Called with a run's last event once the transaction that ended the run commits
        # (the edge sets it to write a witness line: engine/witness.py).
        self.on_run_end: Callable[[EventRow], None] | None = None

    def close(self) -> None:
        self.engine.dispose()
        if self.lazy is not self.engine:
            self.lazy.dispose()

    @contextmanager
    def _tx(self, *, durable: bool = True) -> Iterator[Connection]:
        """A transaction; ``durable=False`` commits without waiting for the disk (SQLite
        synchronous=NORMAL, PostgreSQL synchronous_commit off): the commit survives the
        process being killed, only a power cut or OS crash may lose it."""
        try:
            with (self.engine if durable else self.lazy).begin() as conn:
                if not durable and conn.dialect.name == "postgresql":
                    conn.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
                yield conn
        except OperationalError as exc:
            raise StoreError(
                f"state store error: {exc.orig}", hint="is the database reachable and writable?"
            ) from None

    def transaction(self) -> AbstractContextManager[Connection]:
        """A durable transaction for modules that extend the store (claims, workers)."""
        return self._tx()

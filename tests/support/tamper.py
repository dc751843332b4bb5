"""Edit a store's rows behind its back, as an attacker with database access would."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from runwright.engine.chain import GENESIS, ChainKey, Sealed, head_seal, seal
from runwright.engine.store import Store


def tamper(store: Store, sql: str, params: Mapping[str, Any] | None = None) -> None:
    """Run raw SQL on the store's own database, outside every runwright code path."""
    with store.engine.begin() as conn:
        conn.execute(sa.text(sql), dict(params or {}))


def reseal_everything(db: Path, key: ChainKey, edit: Callable[[dict[str, Any]], None]) -> None:
    """What someone holding a key (the real one, or one they put in its place) can do without a
    witness: edit events with ``edit`` (called with each event row as a dict, in store-wide
    order), then recompute every seal, link, run head and the sealed store-wide head."""
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        with conn:
            rows = [dict(r) for r in conn.execute("SELECT * FROM events ORDER BY gseq")]
            run_prev: dict[int, str] = {}
            gprev = GENESIS
            for row in rows:
                edit(row)
                at = datetime.strptime(row["at"][:26], "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=UTC)
                sealed = Sealed(row["run_id"], row["seq"], at, row["actor"], row["type"],
                                row["step"], row["data"], run_prev.get(row["run_id"], GENESIS),
                                row["gseq"], gprev)  # fmt: skip
                digest = seal(key, sealed)
                conn.execute(
                    "UPDATE events SET data=?, actor=?, type=?, prev_hash=?, gprev=?, hash=? "
                    "WHERE id=?",
                    (row["data"], row["actor"], row["type"], sealed.prev_hash, gprev, digest,
                     row["id"]),
                )  # fmt: skip
                run_prev[row["run_id"]] = gprev = digest
            for run_id, head in run_prev.items():
                conn.execute("UPDATE runs SET head_hash=? WHERE id=?", (head, run_id))
            last = rows[-1]["gseq"]
            conn.execute(
                "UPDATE chain_head SET gseq=?, head=?, key_id=?, seal=?",
                (last, gprev, key.key_id, head_seal(key, last, gprev)),
            )
    finally:
        conn.close()

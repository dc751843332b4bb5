"""Edit a store's rows behind its back, as an attacker with database access would."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from runwright.engine.store import Store


def tamper(store: Store, sql: str, params: Mapping[str, Any] | None = None) -> None:
    """Run raw SQL on the store's own database, outside every runwright code path."""
    with store.engine.begin() as conn:
        conn.execute(sa.text(sql), dict(params or {}))

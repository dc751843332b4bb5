"""The delivery journal: which (event, subscription) notifications were claimed, sent or failed.

A delivery is claimed by inserting its row (the unique (event, subscription) key makes the
claim exclusive across processes), then marked sent or failed. A row still ``sending`` after
a crash is sent again with the same idempotency key, so a receiver that honours the key sees
one message. References a sink returned (Slack's message ``ts``, an open incident) are kept
here and looked up by run, or by (runbook, environment) for status pages.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from runwright.engine import tables as t
from runwright.engine.store import Store
from runwright.model.status import DeliveryStatus


@dataclass(frozen=True)
class Delivery:
    run_id: int
    event_id: int
    subscription: int
    sink: str
    event: str
    status: DeliveryStatus
    attempts: int
    refs: Mapping[str, str]
    detail: str


@dataclass(frozen=True)
class DeliveryKey:
    run_id: int
    event_id: int
    subscription: int
    sink: str
    runbook: str
    environment: str
    event: str


class Deliveries:
    def __init__(self, store: Store) -> None:
        self.engine = store.engine

    def claim(self, key: DeliveryKey, at: datetime) -> bool:
        """Claim a delivery; False when it was already sent or failed (or another holds it)."""
        row = {
            "run_id": key.run_id,
            "event_id": key.event_id,
            "subscription": key.subscription,
            "sink": key.sink,
            "runbook": key.runbook,
            "environment": key.environment,
            "event": key.event,
            "status": DeliveryStatus.SENDING.value,
            "attempts": 0,
            "refs": "{}",
            "detail": "",
            "updated_at": at,
        }
        try:
            with self.engine.begin() as conn:
                conn.execute(sa.insert(t.notifications).values(**row))
            return True
        except IntegrityError:
            existing = self.get(key.event_id, key.subscription)
            return existing is not None and existing.status == DeliveryStatus.SENDING

    def finish(
        self,
        key: DeliveryKey,
        status: DeliveryStatus,
        *,
        attempts: int,
        refs: Mapping[str, str],
        detail: str,
        at: datetime,
    ) -> None:
        query = (
            sa.update(t.notifications)
            .where(
                t.notifications.c.event_id == key.event_id,
                t.notifications.c.subscription == key.subscription,
            )
            .values(
                status=status.value,
                attempts=attempts,
                refs=json.dumps(dict(refs), sort_keys=True),
                detail=detail,
                updated_at=at,
            )
        )
        with self.engine.begin() as conn:
            conn.execute(query)

    def get(self, event_id: int, subscription: int) -> Delivery | None:
        query = sa.select(t.notifications).where(
            t.notifications.c.event_id == event_id,
            t.notifications.c.subscription == subscription,
        )
        with self.engine.begin() as conn:
            row = conn.execute(query).mappings().first()
        return None if row is None else _delivery(row)

    def for_run(self, run_id: int) -> list[Delivery]:
        query = (
            sa.select(t.notifications)
            .where(t.notifications.c.run_id == run_id)
            .order_by(t.notifications.c.id)
        )
        with self.engine.begin() as conn:
            return [_delivery(r) for r in conn.execute(query).mappings()]

    def latest_refs(
        self, *, sink: str, run_id: int | None = None, scope: tuple[str, str] | None = None
    ) -> dict[str, str]:
        """The refs of the newest sent delivery to ``sink`` of one run, or of one
        (runbook, environment) when ``scope`` is given."""
        c = t.notifications.c
        where = [c.sink == sink, c.status == DeliveryStatus.SENT.value]
        if scope is not None:
            where += [c.runbook == scope[0], c.environment == scope[1]]
        else:
            where.append(c.run_id == run_id)
        query = sa.select(c.refs).where(*where).order_by(c.id.desc()).limit(1)
        with self.engine.begin() as conn:
            text = conn.execute(query).scalar()
        refs: dict[str, str] = json.loads(text) if text else {}
        return refs


def _delivery(row: Any) -> Delivery:
    return Delivery(
        run_id=int(str(row["run_id"])),
        event_id=int(str(row["event_id"])),
        subscription=int(str(row["subscription"])),
        sink=str(row["sink"]),
        event=str(row["event"]),
        status=DeliveryStatus(str(row["status"])),
        attempts=int(str(row["attempts"])),
        refs=json.loads(str(row["refs"])),
        detail=str(row["detail"]),
    )

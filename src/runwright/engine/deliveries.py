"""The delivery journal: which (event, subscription) notifications were claimed, sent or failed.

A delivery is claimed by inserting its row (the unique (event, subscription) key makes the
claim exclusive across processes), then marked sent, failed or given up. A failed one keeps
the time of its next attempt; whichever runwright process looks next (the run's own, a
worker, ``serve``, ``runwright deliveries --retry``) claims it again by moving it back to
``sending`` in one conditional update, so one process sends each attempt. A row still
``sending`` after a crash is sent again with the same idempotency key, so a receiver that
honours the key sees one message. References a sink returned (Slack's message ``ts``, an
open incident) are kept here and looked up by run, or by (runbook, environment) for status
pages.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
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
    runbook: str = ""
    environment: str = ""
    updated_at: datetime | None = None
    next_attempt_at: datetime | None = None


@dataclass(frozen=True)
class DeliveryKey:
    """Which notification a delivery is; each field is the ``notifications`` column of its
    name, so a new row starts from ``asdict(key)``."""

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

    def claim(self, key: DeliveryKey, at: datetime) -> int | None:
        """Claim a delivery: the attempts it had so far, or None when it was sent, given up,
        not due yet, or another process holds it."""
        row = {
            **asdict(key),
            "status": DeliveryStatus.SENDING.value,
            "attempts": 0,
            "refs": "{}",
            "detail": "",
            "updated_at": at,
        }
        try:
            with self.engine.begin() as conn:
                conn.execute(sa.insert(t.notifications).values(**row))
            return 0
        except IntegrityError:
            pass
        c = t.notifications.c
        due = (
            sa.update(t.notifications)
            .where(
                c.event_id == key.event_id,
                c.subscription == key.subscription,
                c.status == DeliveryStatus.FAILED.value,
                sa.or_(c.next_attempt_at <= at, c.attempts == 0),
            )
            .values(status=DeliveryStatus.SENDING.value, updated_at=at)
        )
        with self.engine.begin() as conn:
            taken = conn.execute(due).rowcount == 1
        existing = self.get(key.event_id, key.subscription)
        if existing is None or not (taken or existing.status == DeliveryStatus.SENDING):
            return None
        return existing.attempts

    def finish(
        self,
        key: DeliveryKey,
        status: DeliveryStatus,
        *,
        attempts: int,
        refs: Mapping[str, str],
        detail: str,
        at: datetime,
        next_attempt_at: datetime | None = None,
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
                next_attempt_at=next_attempt_at,
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

    def enqueue(self, key: DeliveryKey, at: datetime, detail: str, due: datetime) -> None:
        """Record a delivery nobody tried yet as due at ``due``, unless it has a row already.
        Until then only the run's own process claims it (``claim`` takes a failed row with
        no attempts at once), so another process's retry cannot race it."""
        row = {
            **asdict(key),
            "status": DeliveryStatus.FAILED.value,
            "attempts": 0,
            "refs": "{}",
            "detail": detail,
            "updated_at": at,
            "next_attempt_at": due,
        }
        try:
            with self.engine.begin() as conn:
                conn.execute(sa.insert(t.notifications).values(**row))
        except IntegrityError:
            pass

    def reclaim(self, d: Delivery, at: datetime, *, stale: timedelta) -> int | None:
        """Claim a delivery ``due`` listed, if it is still as it was (failed and due, or
        ``sending`` and stale): its attempts so far, or None when another process took it."""
        c = t.notifications.c
        if d.status == DeliveryStatus.FAILED:
            cond = sa.and_(c.status == DeliveryStatus.FAILED.value, c.next_attempt_at <= at)
        else:
            cond = sa.and_(c.status == DeliveryStatus.SENDING.value, c.updated_at <= at - stale)
        query = (
            sa.update(t.notifications)
            .where(c.event_id == d.event_id, c.subscription == d.subscription, cond)
            .values(status=DeliveryStatus.SENDING.value, updated_at=at)
        )
        with self.engine.begin() as conn:
            taken = conn.execute(query).rowcount == 1
        fresh = self.get(d.event_id, d.subscription) if taken else None
        return None if fresh is None else fresh.attempts

    def due(self, at: datetime, *, stale: timedelta, run_id: int | None = None) -> list[Delivery]:
        """Failed deliveries whose next attempt has come, and ``sending`` ones nobody touched
        for ``stale`` (their process died), oldest first."""
        c = t.notifications.c
        query = (
            sa.select(t.notifications)
            .where(
                sa.or_(
                    sa.and_(c.status == DeliveryStatus.FAILED.value, c.next_attempt_at <= at),
                    sa.and_(c.status == DeliveryStatus.SENDING.value, c.updated_at <= at - stale),
                )
            )
            .order_by(c.id)
        )
        if run_id is not None:
            query = query.where(c.run_id == run_id)
        with self.engine.begin() as conn:
            return [_delivery(r) for r in conn.execute(query).mappings()]

    def next_attempt(self, run_id: int) -> datetime | None:
        """When the earliest failed delivery of ``run_id`` is due again, if any is."""
        c = t.notifications.c
        query = sa.select(sa.func.min(c.next_attempt_at)).where(
            c.run_id == run_id, c.status == DeliveryStatus.FAILED.value
        )
        with self.engine.begin() as conn:
            return _utc(conn.execute(query).scalar())

    def undelivered(self, limit: int = 500) -> list[Delivery]:
        """Deliveries not (yet) sent: sending, failed and waiting for a retry, given up."""
        c = t.notifications.c
        query = (
            sa.select(t.notifications)
            .where(c.status != DeliveryStatus.SENT.value)
            .order_by(c.id.desc())
            .limit(limit)
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
        runbook=str(row["runbook"]),
        environment=str(row["environment"]),
        updated_at=_utc(row["updated_at"]),
        next_attempt_at=_utc(row["next_attempt_at"]),
    )


def _utc(value: Any) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)

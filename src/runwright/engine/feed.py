"""The event table read as a feed: events after a position, and a wake-up when new ones commit.

The event table is the one bus between processes: whoever follows a run (the CLI's live view,
the dashboard's stream, notifications) reads committed events by position, so it sees exactly
what the audit trail holds and nothing that was rolled back. A run's events are read by their
sequence number, gap-free and committed in order under the run's row lock; all runs' events by
their global id. On PostgreSQL a trigger (migration 0003_bus) sends NOTIFY on every insert, so a
follower wakes at once; the position query stays the truth and a periodic poll catches any
notification lost while reconnecting. SQLite has no notifications: followers poll.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from runwright.engine import tables as t
from runwright.engine.clock import SystemClock
from runwright.engine.store import EventRow, StoreError, event_row

_SYSTEM = SystemClock()  # for callers that pass no clock of theirs
log = logging.getLogger(__name__)

CHANNEL = "runwright_events"
GAP_GRACE = 10.0
"""Seconds an id missing below a seen one may still commit (PostgreSQL hands out ids before
commit); older gaps are ids of rolled-back transactions and are passed over."""


def read_events(engine: Engine, run_id: int | None, after: int, limit: int = 500) -> list[EventRow]:
    """A run's events with ``seq > after``, or every run's with ``id > after``, in order."""
    query = sa.select(t.events).limit(limit)
    if run_id is not None:
        query = query.where(t.events.c.run_id == run_id, t.events.c.seq > after)
        query = query.order_by(t.events.c.seq)
    else:
        query = query.where(t.events.c.id > after).order_by(t.events.c.id)
    try:
        with engine.connect() as conn:
            return [event_row(r) for r in conn.execute(query).mappings()]
    except OperationalError as exc:
        raise StoreError(f"state store error: {exc.orig}") from None


def read_after(engine: Engine, cursor: Cursor, limit: int = 500) -> list[EventRow]:
    """The events ``cursor`` has not taken yet: a run's after its sequence number; of every
    run, those above the highest id seen plus the ids still missing below it (so a long gap
    held open by a slow transaction never makes a reader fetch what it has seen again)."""
    if cursor.run_id is not None:
        return read_events(engine, cursor.run_id, cursor.floor, limit)
    top, missing = cursor.unseen()
    if not missing:
        return read_events(engine, None, top, limit)
    query = (
        sa.select(t.events)
        .where(sa.or_(t.events.c.id > top, t.events.c.id.in_(missing)))
        .order_by(t.events.c.id)
        .limit(limit)
    )
    try:
        with engine.connect() as conn:
            return [event_row(r) for r in conn.execute(query).mappings()]
    except OperationalError as exc:
        raise StoreError(f"state store error: {exc.orig}") from None


class Cursor:
    """Where a follower is: a run's last sequence number, or the global id below which every
    event has been seen (plus the ids seen above it, while an earlier one may still commit)."""

    def __init__(self, run_id: int | None, after: int, grace: float = GAP_GRACE) -> None:
        self.run_id = run_id
        self.floor = after
        self.grace = grace
        self._seen: set[int] = set()
        self._gaps: dict[int, float] = {}

    def take(self, rows: Iterable[EventRow], now: float | None = None) -> list[EventRow]:
        """The rows not yielded before, and the cursor moved past them."""
        if self.run_id is not None:
            fresh = [r for r in rows if r.seq > self.floor]
            if fresh:
                self.floor = fresh[-1].seq
            return fresh
        fresh = [r for r in rows if r.id > self.floor and r.id not in self._seen]
        self._seen.update(r.id for r in fresh)
        self._advance(_SYSTEM.monotonic() if now is None else now)
        return fresh

    def unseen(self) -> tuple[int, list[int]]:
        """The highest id seen and the ids below it not seen yet (still allowed to commit)."""
        top = max(self._seen, default=self.floor)
        return top, [i for i in range(self.floor + 1, top) if i not in self._seen]

    def _advance(self, now: float) -> None:
        top = max(self._seen, default=self.floor)
        for missing in range(self.floor + 1, top):
            if missing not in self._seen:
                self._gaps.setdefault(missing, now)
        while True:
            nxt = self.floor + 1
            if nxt in self._seen:
                self._seen.discard(nxt)
            elif nxt in self._gaps and now - self._gaps[nxt] >= self.grace:
                del self._gaps[nxt]
            else:
                return
            self.floor = nxt


class Waker(Protocol):
    async def wait(self, timeout: float) -> None:  # noqa: ASYNC109
        """Return when new events may have committed, or after ``timeout`` seconds."""

    async def close(self) -> None: ...


class PollWaker:
    """SQLite: nothing tells us; wait the poll interval (``sleep``: a clock's, if given)."""

    def __init__(self, sleep: Callable[[float], Awaitable[None]] = _SYSTEM.sleep) -> None:
        self.sleep = sleep

    async def wait(self, timeout: float) -> None:  # noqa: ASYNC109
        await self.sleep(timeout)

    async def close(self) -> None:
        return None


class ListenWaker:
    """PostgreSQL: LISTEN on the channel the events trigger notifies (or another one)."""

    def __init__(self, conn: Any, sleep: Callable[[float], Awaitable[None]]) -> None:
        self.conn = conn
        self.sleep = sleep

    @classmethod
    async def connect(
        cls,
        engine: Engine,
        channel: str = CHANNEL,
        sleep: Callable[[float], Awaitable[None]] = _SYSTEM.sleep,
    ) -> ListenWaker | PollWaker:
        import psycopg

        url = engine.url.set(drivername="postgresql")
        try:
            conn = await psycopg.AsyncConnection.connect(
                url.render_as_string(hide_password=False), autocommit=True
            )
            await conn.execute(f"LISTEN {channel}")
        except psycopg.Error as exc:
            log.warning("cannot LISTEN on %s (%s); polling instead", channel, exc)
            return PollWaker(sleep)
        return cls(conn, sleep)

    async def wait(self, timeout: float) -> None:  # noqa: ASYNC109
        try:
            async for _ in self.conn.notifies(timeout=timeout, stop_after=1):
                pass
        except Exception as exc:  # a dropped connection: fall back to the poll interval
            log.warning("notifications lost (%s); polling", exc)
            await self.sleep(timeout)

    async def close(self) -> None:
        await self.conn.close()


async def waker_for(
    engine: Engine,
    channel: str = CHANNEL,
    sleep: Callable[[float], Awaitable[None]] = _SYSTEM.sleep,
) -> Waker:
    """Woken by NOTIFY on ``channel`` (PostgreSQL), else by the poll interval."""
    if engine.dialect.name == "postgresql":
        return await ListenWaker.connect(engine, channel, sleep)
    return PollWaker(sleep)

"""Live updates as Server-Sent Events, read from the event feed (the one bus).

One follower per server (``app.runs.follow``, on ``engine.feed``) takes the events committed by
any process, woken by LISTEN/NOTIFY on PostgreSQL and by its poll on SQLite, and fans them out to
every connected client. The feed's cursor, not ``id > last``, decides what is new: on
PostgreSQL an id can commit after a higher one, and the feed still delivers it (once) within
its grace window. A client that reconnects sends ``Last-Event-ID`` and first gets what it
missed from the table; an event it gets twice that way (replayed, then fanned out) is sent once.
A quiet stream gets a keepalive comment every ``KEEPALIVE`` seconds of the runtime's clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from runwright.app.runs.follow import FollowSettings, follow
from runwright.app.runtime.runtime import Runtime
from runwright.engine import tables as t
from runwright.engine.store import EventRow, StoreError

log = logging.getLogger(__name__)
KEEPALIVE = 15.0
BATCH = 500


@dataclass(frozen=True)
class Ev:
    id: int
    run: int
    seq: int
    type: str
    step: str | None
    actor: str
    at: str
    environment: str = ""

    @classmethod
    def of(cls, event: EventRow, environment: str) -> Ev:
        return cls(
            event.id, event.run_id, event.seq, event.type, event.step, event.actor,
            event.at.isoformat(), environment,
        )  # fmt: skip

    def frame(self) -> str:
        body = json.dumps(
            {
                "id": self.id,
                "run": self.run,
                "seq": self.seq,
                "type": self.type,
                "step": self.step,
                "actor": self.actor,
                "at": self.at,
            }
        )
        return f"id: {self.id}\ndata: {body}\n\n"


def _fetch(engine: Engine, after: int, run: int | None, limit: int = BATCH) -> list[Ev]:
    e = t.events.c
    query = (
        sa.select(e.id, e.run_id, e.seq, e.type, e.step, e.actor, e.at, t.runs.c.environment)
        .join(t.runs, t.runs.c.id == e.run_id)
        .where(e.id > after)
        .order_by(e.id)
        .limit(limit)
    )
    if run is not None:
        query = query.where(e.run_id == run)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [Ev(r[0], r[1], r[2], r[3], r[4], r[5], r[6].isoformat(), r[7]) for r in rows]


def _environment(engine: Engine, run: int) -> str:
    with engine.connect() as conn:
        query = sa.select(t.runs.c.environment).where(t.runs.c.id == run)
        return str(conn.execute(query).scalar() or "")


def latest(engine: Engine) -> int:
    """The newest event's id: a page rendered after reading it streams from there."""
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.max(t.events.c.id))).scalar() or 0)


class Hub:
    """Follows the event feed once for every client of this server."""

    def __init__(self, rt: Runtime, interval: float) -> None:
        self.rt = rt
        self.engine = rt.store.engine
        self.interval = interval
        self.queues: dict[asyncio.Queue[Ev], int | None] = {}
        self._environments: dict[int, str] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        after = await asyncio.to_thread(latest, self.engine)
        self._task = asyncio.create_task(self._follow(after))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _follow(self, after: int) -> None:
        """Fan out every event from the feed; if the database goes away, follow it again
        from the newest event seen once it is back."""
        settings = FollowSettings(poll_interval=self.interval, batch=BATCH)
        while True:
            try:
                async with aclosing(follow(self.rt, None, after, settings=settings)) as events:
                    async for event in events:
                        after = max(after, event.id)
                        await self._fan_out(event)
            except StoreError as exc:
                log.warning("the event stream cannot read the store (%s); trying again", exc)
                await self.rt.clock.sleep(self.interval)

    async def _fan_out(self, event: EventRow) -> None:
        if not self.queues:
            return
        ev = Ev.of(event, await self._environment_of(event.run_id))
        for queue, run in self.queues.items():
            if run is None or run == ev.run:
                queue.put_nowait(ev)

    async def _environment_of(self, run: int) -> str:
        if run not in self._environments:
            self._environments[run] = await asyncio.to_thread(_environment, self.engine, run)
        return self._environments[run]

    async def stream(
        self, run: int | None, after: int | None, environments: frozenset[str] | None = None
    ) -> AsyncIterator[str]:
        """SSE frames for ``run`` (or every run): the missed ones after ``after``, then live;
        only of runs in ``environments`` (the reader's; None: all)."""

        def visible(ev: Ev) -> bool:
            return environments is None or ev.environment in environments

        queue: asyncio.Queue[Ev] = asyncio.Queue()
        self.queues[queue] = run
        try:
            yield "retry: 1000\n\n"
            replayed = await self._missed(run, after) if after is not None else []
            for ev in replayed:
                if visible(ev):
                    yield ev.frame()
            sent = {ev.id for ev in replayed}
            while True:
                try:
                    async with self.rt.clock.timeout(KEEPALIVE):
                        ev = await queue.get()
                except TimeoutError:
                    yield ": keepalive\n\n"
                    continue
                if ev.id in sent:
                    sent.discard(ev.id)  # replayed already; the feed yields each id once
                elif visible(ev):
                    yield ev.frame()
        finally:
            self.queues.pop(queue, None)

    async def _missed(self, run: int | None, after: int) -> list[Ev]:
        """What a reconnecting client missed: the committed events after its last one."""
        missed: list[Ev] = []
        while True:
            batch = await asyncio.to_thread(_fetch, self.engine, after, run)
            missed.extend(batch)
            if len(batch) < BATCH:
                return missed
            after = batch[-1].id


def last_event_id(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None

"""Live updates as Server-Sent Events, streamed from the event table (the one bus).

One poller per server reads events committed after the last one it saw (by the table's
increasing id, so events from any process arrive) and fans them out to every connected
client; a client that reconnects sends ``Last-Event-ID`` and first gets what it missed from
the table, so nothing is lost or repeated. The poller reads the table directly until the app
layer's ``follow`` is available to this branch.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from runwright.engine import tables as t

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


def latest(engine: Engine) -> int:
    """The newest event's id: a page rendered after reading it streams from there."""
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.max(t.events.c.id))).scalar() or 0)


class Hub:
    """Reads new events once for every client of this server."""

    def __init__(self, engine: Engine, interval: float) -> None:
        self.engine = engine
        self.interval = interval
        self.last = 0
        self.queues: dict[asyncio.Queue[Ev], int | None] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.last = await asyncio.to_thread(latest, self.engine)
        self._task = asyncio.create_task(self._poll())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _poll(self) -> None:
        while True:
            if self.queues:
                rows = await asyncio.to_thread(_fetch, self.engine, self.last, None)
                for ev in rows:
                    self.last = ev.id
                    for queue, run in self.queues.items():
                        if run is None or run == ev.run:
                            queue.put_nowait(ev)
                if len(rows) == BATCH:
                    continue
            else:
                self.last = await asyncio.to_thread(latest, self.engine)
            await asyncio.sleep(self.interval)

    async def stream(
        self, run: int | None, after: int | None, environments: frozenset[str] | None = None
    ) -> AsyncIterator[str]:
        """SSE frames for ``run`` (or every run): the missed ones after ``after``, then live;
        only of runs in ``environments`` (the reader's; None: all)."""

        def visible(ev: Ev) -> bool:
            return environments is None or ev.environment in environments

        queue: asyncio.Queue[Ev] = asyncio.Queue()
        self.queues[queue] = run
        sent = self.last if after is None else after
        try:
            yield "retry: 1000\n\n"
            if after is not None:
                while True:
                    missed = await asyncio.to_thread(_fetch, self.engine, sent, run)
                    for ev in missed:
                        sent = ev.id
                        if visible(ev):
                            yield ev.frame()
                    if len(missed) < BATCH:
                        break
            while True:
                try:
                    ev = await asyncio.wait_for(queue.get(), KEEPALIVE)
                except TimeoutError:
                    yield ": keepalive\n\n"
                    continue
                if ev.id > sent:
                    sent = ev.id
                    if visible(ev):
                        yield ev.frame()
        finally:
            self.queues.pop(queue, None)


def last_event_id(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None

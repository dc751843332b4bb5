"""``follow``: the events of one run (or of every run) as they are committed, from any process.

The event table is the bus: ``runwright logs RUN --follow``, ``deploy --wait``, the dashboard's
stream and notifications all read it here, so what they show is what the audit trail holds,
in order, whichever process (or machine) wrote it. ``follow`` is an async iterator meant for
an event loop: it yields the backlog after ``after`` first, then each new event within one
poll interval of its commit (at once on PostgreSQL, woken by LISTEN/NOTIFY).

``after`` is a run's sequence number when following one run (``EventRow.seq``), else the
global event id (``EventRow.id``): resume a stream by passing the last one seen.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import dataclass

from runwright.app.runtime.runtime import Runtime
from runwright.engine.feed import Cursor, read_after, waker_for
from runwright.engine.store import EventRow
from runwright.model.event_type import EventType

POLL_INTERVAL = 0.5
FINISHED = EventType.RUN_FINISHED


@dataclass(frozen=True)
class FollowSettings:
    poll_interval: float = POLL_INTERVAL
    """Seconds between two reads when nothing wakes the follower earlier."""
    batch: int = 500


async def follow(
    rt: Runtime,
    run: int | None = None,
    after: int = 0,
    *,
    settings: FollowSettings | None = None,
    until_finished: bool = False,
) -> AsyncGenerator[EventRow, None]:
    """Yield events after ``after`` as they commit; forever, or (``until_finished``, with a
    run) until that run's ``run.finished`` event has been yielded."""
    conf = settings or FollowSettings()
    engine = rt.store.engine
    if run is not None:
        rt.store.run(run)  # InputError for a run that does not exist
    cursor = Cursor(run, after)
    waker = await waker_for(engine)
    try:
        while True:
            rows = await asyncio.to_thread(read_after, engine, cursor, conf.batch)
            for event in cursor.take(rows):
                yield event
                if until_finished and run is not None and event.type == FINISHED:
                    return
            if len(rows) < conf.batch:
                await waker.wait(conf.poll_interval)
    finally:
        await waker.close()


async def next_event(
    rt: Runtime,
    run: int,
    after: int,
    types: frozenset[str],
    settings: FollowSettings | None = None,
) -> EventRow:
    """The first event of one of ``types`` in run ``run`` after sequence ``after``."""
    async with aclosing(follow(rt, run, after, settings=settings)) as events:
        async for event in events:
            if event.type in types:
                return event
    raise AssertionError("follow ended")  # pragma: no cover - follow without until never ends

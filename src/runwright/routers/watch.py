"""Following a router's counters as they change, for checks that judge every request.

A sequential check (``engine/sequential.py``) decides as soon as the evidence is there, so it
must learn of each counted request when it happens, not on a timer. The builtin router tells
it: its admin API answers ``GET /stats?after=G&wait=S`` once a request was counted after
generation ``G`` (a long poll over one keep-alive connection), see ``BuiltinRouter.watch``.
Other routers (HAProxy's stats socket, the in-memory fake) are read every ``poll`` seconds
on the injected clock by ``PollingWatch``; ``watch_counters`` picks the way a router allows.

    next(after, wait) -> (generation, counters)   counters once they moved past ``after``
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from runwright.engine.clock import Clock
from runwright.routers.base import BackendCounters, Router


class CounterWatch(Protocol):
    async def next(self, after: int, wait: float) -> tuple[int, dict[str, BackendCounters]]:
        """The counters once they moved past generation ``after`` (or ``wait`` s later)."""
        ...

    async def aclose(self) -> None: ...


@runtime_checkable
class WatchableRouter(Protocol):
    def watch(self) -> CounterWatch:
        """A watch that is told of every counted request."""
        ...


class PollingWatch:
    """Reads ``counters()`` every ``poll`` seconds; the generation moves when they differ."""

    def __init__(self, router: Router, clock: Clock, poll: float) -> None:
        self.router, self.clock, self.poll = router, clock, poll
        self.generation = 0
        self.last: dict[str, BackendCounters] | None = None

    async def next(self, after: int, wait: float) -> tuple[int, dict[str, BackendCounters]]:
        deadline = self.clock.monotonic() + wait
        while True:
            if self.last is not None:
                await self.clock.sleep(self.poll)
            counters = await self.router.counters()
            if counters != self.last:
                self.generation += 1
                self.last = counters
            if self.generation != after or self.clock.monotonic() >= deadline:
                return self.generation, counters

    async def aclose(self) -> None:
        return None


def watch_counters(router: Router, clock: Clock, poll: float) -> CounterWatch:
    """The way ``router`` allows: told of each change, or read every ``poll`` seconds."""
    if isinstance(router, WatchableRouter):
        return router.watch()
    return PollingWatch(router, clock, poll)

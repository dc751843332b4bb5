"""The built-in proxy's backend table: each backend's idle connections and counters, and the
smooth weighted schedule a request's backend is picked from (one index step per request, so a
canary at 10% gets 10% of requests even from clients that hold one connection).

Kept apart from ``proxy.py``'s protocols so the data path's framing and this bookkeeping can
each be read alone; it does no I/O beyond closing connections it is told to drop.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from runwright.routers.base import LATENCY_BUCKETS, Backend, smooth_schedule


class Target:
    """A backend as the proxy sees it: address, weight, idle connections and counters."""

    def __init__(self, spec: Backend) -> None:
        self.spec = spec
        self.addr = (spec.host, spec.port)
        self.idle: list[Any] = []  # the proxy's idle Upstream connections
        self.in_flight = 0
        self.statuses: dict[int, int] = {}
        self.failures = 0
        self.buckets = [0] * (len(LATENCY_BUCKETS) + 1)
        self.latency_sum = 0.0
        self.down_until = 0.0
        self.live = True

    def drop_idle(self) -> None:
        idle, self.idle = self.idle, []
        for conn in idle:
            conn.transport.close()


class Table:
    """The backend table and the weighted schedule picked from, one index step per request."""

    def __init__(self) -> None:
        self.targets: dict[str, Target] = {}
        self.order: list[Target] = []
        self.cycle: list[Target] = []
        self.pos = 0
        self.no_backend = 0

    def set(self, backends: Sequence[Backend]) -> None:
        keep: dict[str, Target] = {}
        for spec in backends:
            old = self.targets.get(spec.name)
            if old is not None and old.addr == (spec.host, spec.port):
                old.spec = spec
                old.live = True
                keep[spec.name] = old
            else:
                if old is not None:
                    old.live = False
                    old.drop_idle()
                keep[spec.name] = Target(spec)
        for name, old in self.targets.items():
            if name not in keep:
                old.live = False
                old.drop_idle()
                if old.in_flight:
                    keep[name] = old
                    old.spec = Backend(old.spec.name, old.spec.host, old.spec.port, 0)
        self.targets = keep
        self.order = [t for t in keep.values() if t.live]
        schedule = smooth_schedule([t.spec.weight for t in self.order])
        self.cycle = [self.order[i] for i in schedule]
        self.pos = 0

    def backends(self) -> list[Backend]:
        return [t.spec for t in self.order]

    def forget_drained(self) -> None:
        for name in [n for n, t in self.targets.items() if not t.live and not t.in_flight]:
            del self.targets[name]

    def pick(self, now: float, tried: list[Target] | None) -> Target | None:
        cycle = self.cycle
        n = len(cycle)
        if not n:
            return None
        for _ in range(n):
            t = cycle[self.pos]
            self.pos = self.pos + 1 if self.pos + 1 < n else 0
            if (tried is None or t not in tried) and t.down_until <= now:
                return t
        for t in cycle:
            if tried is None or t not in tried:
                return t
        return None

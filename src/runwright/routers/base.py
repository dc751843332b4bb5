"""The contract of a router: how traffic moves between versions of a service on one machine.

A release starts the new version beside the old one and then moves traffic between them. The
``traffic`` and ``service`` steps do that through four calls, whatever carries the traffic
(runwright's own proxy, HAProxy, or an in-memory fake in tests):

    ensure_started()        start the router, or attach to the one a previous runwright left
                            running (found through its state file); idempotent
    apply(backends)         set the whole table of backends and weights, make-before-break
    drain(name, timeout)    wait until ``name`` has no request in flight (DriverError if not)
    counters()              what each backend served: requests, 5xx, failures, latency

Make-before-break is the router's job, not the caller's: ``transition`` computes the tables a
router goes through (raise and add first, then lower and remove), so at no moment does no
backend take traffic, and a backend lowered to 0 keeps its requests in flight until they end.
The helpers here are pure, shared by every router and unit-tested on their own.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from runwright.errors import DriverError, InputError

MAX_WEIGHT = 256
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


@dataclass(frozen=True)
class Backend:
    """One version's address and its share of traffic (weights are relative, 0 = drained)."""

    name: str
    host: str
    port: int
    weight: int

    def __post_init__(self) -> None:
        if not self.name or any(c.isspace() or c in '"\\' for c in self.name):
            raise InputError(f"bad backend name {self.name!r}", hint="use a version name like v2")
        if not 0 < self.port < 65536:
            raise InputError(f"bad port {self.port} for backend {self.name}")
        if not 0 <= self.weight <= MAX_WEIGHT:
            raise InputError(
                f"weight {self.weight} of backend {self.name} is out of range",
                hint=f"use 0..{MAX_WEIGHT} (a percentage is fine)",
            )

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "host": self.host, "port": self.port, "weight": self.weight}

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Backend:
        try:
            return cls(
                name=str(data["name"]),
                host=str(data["host"]),
                port=int(str(data["port"])),
                weight=int(str(data["weight"])),
            )
        except (KeyError, ValueError) as exc:
            raise InputError(f"bad backend record {dict(data)!r}: {exc}") from None


@dataclass(frozen=True)
class BackendCounters:
    """What one backend served since the router started.

    ``failures`` are requests the router could not complete (connection errors, broken
    answers), ``errors_5xx`` answers with a 5xx status. ``latency_buckets`` are cumulative
    ``(upper bound in seconds, count)`` pairs when the router keeps a histogram (builtin);
    HAProxy only gives an average, in ``latency_avg_ms``.
    """

    name: str
    requests: int = 0
    errors_5xx: int = 0
    failures: int = 0
    in_flight: int = 0
    weight: int = 0
    latency_count: int = 0
    latency_sum: float = 0.0
    latency_buckets: tuple[tuple[float, int], ...] = ()
    latency_avg_ms: float | None = None

    @property
    def mean_latency_ms(self) -> float | None:
        if self.latency_count:
            return self.latency_sum / self.latency_count * 1000
        return self.latency_avg_ms


@dataclass(frozen=True)
class RouterSettings:
    """What every router kind is told: where its files live, where users connect, how long
    it may take to start and stop. Each kind extends it with its own options
    (``BuiltinSettings``, ``HAProxySettings``); ``settings_for`` builds the right one."""

    state_dir: Path
    listen: str = "127.0.0.1:8080"
    start_timeout: float = 10.0
    stop_timeout: float = 10.0
    poll_interval: float = 0.05

    def addresses(self) -> tuple[str, ...]:
        """Every address the router binds (a driver must not give these to a version)."""
        return (self.listen,)


@runtime_checkable
class Router(Protocol):
    async def ensure_started(self) -> None:
        """Start the router, or attach to the running one its state file names. Idempotent."""
        ...

    async def apply(self, backends: Sequence[Backend]) -> None:
        """Make ``backends`` the whole table, raising before lowering; absent ones drain."""
        ...

    async def drain(self, name: str, timeout: float) -> None:  # noqa: ASYNC109
        """Wait until ``name`` has no request in flight; DriverError after ``timeout`` s."""
        ...

    async def counters(self) -> dict[str, BackendCounters]:
        """Per-backend counters since the router started."""
        ...


def split_address(address: str) -> tuple[str, int]:
    """``'127.0.0.1:8080'`` -> ``('127.0.0.1', 8080)``; InputError when malformed."""
    host, _, port = address.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise InputError(f"bad address {address!r}", hint="write HOST:PORT, e.g. 127.0.0.1:8080")
    return host, int(port)


def check_table(backends: Sequence[Backend]) -> None:
    """Refuse a table with duplicate names or in which no backend takes traffic."""
    names = [b.name for b in backends]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InputError(f"backend {dupes[0]} appears twice", hint="give each version once")
    if not any(b.weight > 0 for b in backends):
        raise DriverError(
            "refusing a traffic table in which no backend takes traffic",
            retryable=False,
            hint="give at least one running version a weight above 0",
        )


def transition(current: Sequence[Backend], target: Sequence[Backend]) -> list[list[Backend]]:
    """The tables to apply, in order, to go from ``current`` to ``target`` make-before-break.

    First every backend that gains (new, or a higher weight) gets its target weight while the
    others keep theirs; then the table becomes ``target`` (lowered backends drop, absent ones
    leave). A backend that keeps its name but moves to another address is new. The result has
    one or two tables and never one in which no backend takes traffic.
    """
    check_table(target)
    now = {b.name: b for b in current}
    wanted = {b.name: b for b in target}
    make: list[Backend] = []
    for name in sorted(set(now) | set(wanted)):
        old, new = now.get(name), wanted.get(name)
        if new is None:
            assert old is not None
            make.append(old)
        elif old is None or (old.host, old.port) != (new.host, new.port):
            make.append(new)
        else:
            make.append(new if new.weight >= old.weight else old)
    final = sorted(target, key=lambda b: b.name)
    if not current or make == final:
        return [final]
    if make == sorted(current, key=lambda b: b.name):
        return [final]
    return [make, final]


def shares(backends: Sequence[Backend]) -> dict[str, float]:
    """Each backend's expected share of requests (0..1)."""
    total = sum(b.weight for b in backends)
    return {b.name: (b.weight / total if total else 0.0) for b in backends}


def smooth_schedule(weights: Sequence[int]) -> list[int]:
    """A cycle of backend indexes that honours ``weights`` exactly and interleaves them.

    Smooth weighted round robin (as nginx does): weights 90/10 give one pick of the second in
    every ten, spread out rather than bunched, so any window of requests sees the right
    proportion. Zero weights never appear; the cycle length is ``sum(weights) / gcd``.
    """
    positive = [w for w in weights if w > 0]
    if not positive:
        return []
    g = math.gcd(*positive)
    scaled = [w // g for w in weights]
    total = sum(scaled)
    current = [0] * len(scaled)
    out: list[int] = []
    for _ in range(total):
        best = -1
        for i, w in enumerate(scaled):
            if w <= 0:
                continue
            current[i] += w
            if best < 0 or current[i] > current[best]:
                best = i
        current[best] -= total
        out.append(best)
    return out

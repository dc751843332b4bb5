"""What the builtin proxy shows of itself: a frozen copy of its table and counters.

The admin server (``admin.py``) answers ``/status``, ``/stats`` and ``/metrics`` from a
``ProxySnapshot`` (and waits for counters to move with ``changed``), changes the table
through ``set_backends``, the ``Steerable`` contract
the proxy (``proxy.py``) fulfils; it never reaches into the proxy's data path, and neither
module imports the other's internals (an import-linter contract keeps admin off proxy).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from runwright.routers.base import Backend


@dataclass(frozen=True)
class TargetSnapshot:
    """One backend as the proxy sees it, live or draining, with what it served."""

    name: str
    host: str
    port: int
    weight: int
    """0 once the backend was lowered or removed and only drains."""
    live: bool
    in_flight: int
    statuses: Mapping[int, int]
    failures: int
    buckets: tuple[int, ...]
    """Latency histogram counts per bound of ``LATENCY_BUCKETS``, then the overflow."""
    latency_sum: float


@dataclass(frozen=True)
class ProxySnapshot:
    backends: tuple[Backend, ...]
    """The table as last set: the backends that take traffic by weight."""
    targets: tuple[TargetSnapshot, ...]
    no_backend: int
    """Requests refused because no backend was configured."""
    generation: int = 0
    """Moves whenever a request is counted (``/stats?after=G`` waits for it to move)."""

    def target(self, name: str) -> TargetSnapshot | None:
        return next((t for t in self.targets if t.name == name), None)


class Steerable(Protocol):
    """What the admin server needs of a proxy."""

    def snapshot(self) -> ProxySnapshot: ...

    def set_backends(self, backends: Sequence[Backend]) -> None: ...

    def forget_drained(self) -> None:
        """Drop removed backends that have no request in flight any more."""

    async def changed(self, generation: int, wait: float) -> None:
        """Return once the counters moved past ``generation``, or after ``wait`` seconds."""

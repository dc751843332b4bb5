"""A scripted provider, so checks, steps and the demo can be exercised without a metrics backend.

Give it, per query, the values to return in order: a number, ``None`` for no data, or an
exception (usually a ProviderError) to raise. When a script runs out, its last entry repeats,
so ``{"errors": [0.0]}`` is a healthy service forever. ``samples`` returns the lists in
``series``. Every call is recorded in ``calls`` for assertions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from runwright.engine.clock import Clock
from runwright.errors import ProviderError
from runwright.providers.base import Measurement

Scripted = float | None | BaseException


@dataclass
class FakeProvider:
    """Returns scripted values; a query with no script raises ProviderError (a typo in a test)."""

    clock: Clock
    script: Mapping[str, Sequence[Scripted]] = field(default_factory=dict)
    series: Mapping[str, Sequence[float]] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list, init=False)
    closed: bool = field(default=False, init=False)
    _positions: dict[str, int] = field(default_factory=dict, init=False)

    async def measure(self, query: str) -> Measurement:
        self.calls.append(query)
        entries = self.script.get(query)
        if not entries:
            raise ProviderError(
                f"the fake provider has no script for query {query!r}", retryable=False
            )
        index = self._positions.get(query, 0)
        self._positions[query] = index + 1
        entry = entries[min(index, len(entries) - 1)]
        if isinstance(entry, BaseException):
            raise entry
        return Measurement(
            query=query,
            value=entry,
            at=self.clock.now(),
            note="" if entry is not None else "scripted no data",
        )

    async def samples(
        self, query: str, *, window_seconds: float, step_seconds: float | None = None
    ) -> list[float]:
        self.calls.append(query)
        if query not in self.series:
            raise ProviderError(
                f"the fake provider has no series for query {query!r}", retryable=False
            )
        return list(self.series[query])

    async def aclose(self) -> None:
        self.closed = True

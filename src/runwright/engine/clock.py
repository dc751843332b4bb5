"""Time as a dependency, so a five-minute bake takes milliseconds in a test.

Everything in runwright that waits or timestamps asks a ``Clock``. ``SystemClock`` is the
real one; ``FakeClock`` jumps forward instantly when slept on and is what tests inject.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """Wall-clock time, timezone-aware UTC: for records people read."""
        ...

    def monotonic(self) -> float:
        """Seconds from an arbitrary origin: for measuring intervals and deadlines."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` (instantly on a fake clock)."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class FakeClock:
    """A clock that only moves when slept on or advanced; deterministic for tests."""

    def __init__(self, start: datetime | None = None) -> None:
        self._start = start or datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
        self._elapsed = 0.0

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self._elapsed)

    def monotonic(self) -> float:
        return self._elapsed

    def advance(self, seconds: float) -> None:
        self._elapsed += max(0.0, seconds)

    async def sleep(self, seconds: float) -> None:
        self.advance(seconds)
        await asyncio.sleep(0)

"""Time as a dependency, so a five-minute bake takes milliseconds in a test.

Everything in runwright that waits or timestamps asks a ``Clock``: step timeouts, retries and
their backoff, lease renewal, the abort watch, analysis intervals. ``SystemClock`` is the real
one. ``FakeClock`` is what tests inject: it keeps a heap of sleepers and, once every task has
had its turn and is waiting again, jumps to the earliest deadline and wakes whoever it was
(as Trio's ``MockClock`` with autojump does). Two tasks sleeping 10 s side by side therefore
move it by 10 s, and ``timeout(60)`` around a ten-minute wait fails after one fake minute.

The fake clock cannot see real I/O, so what may move it is named: housekeeping waits (lease
renewal, the abort watch) sleep with ``background=True``. They come due when time moves but
never move it themselves, so a step waiting on a real child process or socket is not overtaken
by the abort watch ticking on beside it; time jumps only while some task is in a plain
``sleep``. A ``timeout``'s watchdog is such a plain sleep: as with Trio's autojump, a block
that waits on real work under a fake clock reaches its deadline at once (a hung process is
timed out without waiting). ``autojump_threshold`` adds real seconds of quiet before each
jump, for a test that wants real work to finish first. ``deadline_grace`` is the narrower
tool: plain sleeps still jump at once, but when every task waits on real work under a
``timeout`` (no task in a plain sleep), the jump that would expire it waits up to that many
real seconds for the work to finish first. A test whose real child process must succeed
under fake time then does not depend on how loaded the machine is, a hung one is still
timed out after the grace, and a ten-minute wait under a one-minute timeout still times out
at once.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """Wall-clock time, timezone-aware UTC: for records people read."""
        ...

    def monotonic(self) -> float:
        """Seconds from an arbitrary origin: for measuring intervals and deadlines."""
        ...

    async def sleep(self, seconds: float, *, background: bool = False) -> None:
        """Wait ``seconds`` of this clock's time. ``background``: a housekeeping wait, which
        a fake clock wakes when time gets there but never jumps for on its own."""
        ...

    def timeout(self, seconds: float | None) -> AbstractAsyncContextManager[object]:
        """Cancel the block after ``seconds`` of this clock's time and raise TimeoutError
        (``None``: no limit), as ``asyncio.timeout`` does on the loop's clock."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float, *, background: bool = False) -> None:
        await asyncio.sleep(max(0.0, seconds))

    def timeout(self, seconds: float | None) -> AbstractAsyncContextManager[object]:
        return asyncio.timeout(None if seconds is None else max(0.0, seconds))


SETTLE_ROUNDS = 20
"""Loop iterations the fake clock lets pass before it decides every task is waiting."""

GRACE_POLL = 0.005
"""Real seconds between looks at a timeout's work while ``deadline_grace`` runs."""


class FakeClock:
    """A clock that moves only when every task waits on it (or when advanced by hand)."""

    def __init__(
        self,
        start: datetime | None = None,
        *,
        autojump_threshold: float = 0.0,
        deadline_grace: float = 0.0,
    ) -> None:
        self._start = start or datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
        self._elapsed = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._jumper: asyncio.Task[None] | None = None
        self._foreground: set[asyncio.Future[None]] = set()
        self._deadlines: set[asyncio.Future[None]] = set()
        self.autojump_threshold = autojump_threshold
        self.deadline_grace = deadline_grace

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self._elapsed)

    def monotonic(self) -> float:
        return self._elapsed

    def advance(self, seconds: float) -> None:
        """Move time forward by hand, waking every sleeper whose deadline passed."""
        self._elapsed += max(0.0, seconds)
        self._wake()

    async def sleep(self, seconds: float, *, background: bool = False) -> None:
        await self._sleep(seconds, background=background, deadline=False)

    async def _deadline(self, seconds: float) -> None:
        await self._sleep(seconds, background=False, deadline=True)

    async def _sleep(self, seconds: float, *, background: bool, deadline: bool) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        if deadline:
            self._deadlines.add(done)
        heapq.heappush(self._sleepers, (self._elapsed + seconds, next(self._order), done))
        if not background:
            self._foreground.add(done)
            if self._jumper is None or self._jumper.done() or self._jumper.get_loop() is not loop:
                self._jumper = loop.create_task(self._autojump())
        try:
            await done
        finally:
            done.cancel()
            self._foreground.discard(done)
            self._deadlines.discard(done)

    def timeout(self, seconds: float | None) -> AbstractAsyncContextManager[object]:
        return clock_timeout(self, seconds, sleep=self._deadline)

    def _wake(self) -> None:
        while self._sleepers and self._sleepers[0][0] <= self._elapsed:
            _, _, done = heapq.heappop(self._sleepers)
            if not done.done():
                done.set_result(None)

    def _drop_gone(self) -> None:
        while self._sleepers and (
            self._sleepers[0][2].done() or self._sleepers[0][2].get_loop().is_closed()
        ):
            heapq.heappop(self._sleepers)

    async def _autojump(self) -> None:
        while True:
            for _ in range(SETTLE_ROUNDS):
                await asyncio.sleep(0)
            if self.autojump_threshold > 0:
                await asyncio.sleep(self.autojump_threshold)
            self._drop_gone()
            if not self._waiting():
                return
            if self._on_real_work() and not await self._grace(self._sleepers[0][2]):
                continue
            self._elapsed = max(self._elapsed, self._sleepers[0][0])
            self._wake()

    def _waiting(self) -> bool:
        return bool(self._sleepers) and any(
            not f.done() and not f.get_loop().is_closed() for f in self._foreground
        )

    def _on_real_work(self) -> bool:
        """Whether the next thing due is a timeout while no task waits on a plain sleep: every
        task still in the clock's hands then waits on real work, which gets the grace."""
        if self.deadline_grace <= 0 or self._sleepers[0][2] not in self._deadlines:
            return False
        return all(f in self._deadlines for f in self._foreground if not f.done())

    async def _grace(self, watchdog: asyncio.Future[None]) -> bool:
        """Give the work under a timeout up to ``deadline_grace`` real seconds; True when
        its watchdog is still the next thing due after that, so time may jump to it."""
        loop = asyncio.get_running_loop()
        until = loop.time() + self.deadline_grace
        while loop.time() < until:
            await asyncio.sleep(GRACE_POLL)
            self._drop_gone()
            if not self._waiting() or self._sleepers[0][2] is not watchdog:
                return False
        return True


@asynccontextmanager
async def clock_timeout(
    clock: Clock, seconds: float | None, *, sleep: Callable[[float], Awaitable[None]] | None = None
) -> AsyncIterator[None]:
    """``Clock.timeout`` for any clock: a watchdog task sleeps on ``clock`` (or with
    ``sleep``) and then cancels the task running the block; the cancellation it caused comes
    out as TimeoutError."""
    if seconds is None:
        yield
        return
    task = asyncio.current_task()
    assert task is not None, "timeout() needs a running task"
    fired = False
    inside = True

    async def alarm() -> None:
        nonlocal fired
        await (sleep or clock.sleep)(seconds)
        if inside:  # the task is suspended inside the block: the cancellation lands there
            fired = True
            task.cancel()

    watchdog = asyncio.get_running_loop().create_task(alarm())
    try:
        yield
    except asyncio.CancelledError:
        if fired and task.uncancel() == 0:
            raise TimeoutError(f"timed out after {seconds:g}s") from None
        raise
    finally:
        inside = False
        watchdog.cancel()

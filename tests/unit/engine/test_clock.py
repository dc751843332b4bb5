"""The fake clock moves only when every task waits on it, to the earliest deadline."""

from __future__ import annotations

import asyncio
import time

import pytest

from runwright.engine.clock import FakeClock, SystemClock


async def test_two_concurrent_ten_second_sleeps_advance_the_clock_by_ten_seconds() -> None:
    clock = FakeClock()
    await asyncio.gather(clock.sleep(10), clock.sleep(10))
    assert clock.monotonic() == 10.0


async def test_sleepers_wake_in_deadline_order_each_at_its_own_time() -> None:
    clock = FakeClock()
    woke: list[tuple[str, float]] = []

    async def nap(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append((name, clock.monotonic()))

    await asyncio.gather(nap("long", 30), nap("short", 5), nap("middle", 12))
    assert woke == [("short", 5.0), ("middle", 12.0), ("long", 30.0)]
    assert clock.monotonic() == 30.0


async def test_a_sleep_that_starts_after_some_work_still_shares_the_jump() -> None:
    clock = FakeClock()

    async def late() -> None:
        for _ in range(5):
            await asyncio.sleep(0)
        await clock.sleep(10)

    await asyncio.gather(clock.sleep(10), late())
    assert clock.monotonic() == 10.0


async def test_timeout_cancels_a_longer_wait_at_its_deadline() -> None:
    clock = FakeClock()
    with pytest.raises(TimeoutError):
        async with clock.timeout(60):
            await clock.sleep(600)
    assert clock.monotonic() == 60.0


async def test_a_block_that_ends_in_time_is_not_cancelled_and_time_stops_there() -> None:
    clock = FakeClock()
    async with clock.timeout(60):
        await clock.sleep(20)
    await asyncio.sleep(0)
    await clock.sleep(1)
    assert clock.monotonic() == 21.0


async def test_no_limit_means_no_watchdog() -> None:
    clock = FakeClock()
    async with clock.timeout(None):
        await clock.sleep(3600)
    assert clock.monotonic() == 3600.0


async def test_advancing_by_hand_wakes_the_sleepers_it_passes() -> None:
    clock = FakeClock(autojump_threshold=3600)
    sleeper = asyncio.ensure_future(clock.sleep(30))
    await asyncio.sleep(0)
    clock.advance(29)
    await asyncio.sleep(0)
    assert not sleeper.done()
    clock.advance(1)
    await asyncio.sleep(0)
    assert sleeper.done()
    sleeper.result()


async def test_the_system_clock_times_out_too() -> None:
    with pytest.raises(TimeoutError):
        async with SystemClock().timeout(0.01):
            await asyncio.Event().wait()


async def test_background_sleeps_do_not_move_time_while_a_task_waits_on_real_work() -> None:
    clock = FakeClock()
    ticks: list[float] = []

    async def abort_watch() -> None:
        while True:
            await clock.sleep(0.5, background=True)
            ticks.append(clock.monotonic())

    watch = asyncio.ensure_future(abort_watch())
    await asyncio.to_thread(lambda: None)  # real work: no fake time passes during it
    for _ in range(50):
        await asyncio.sleep(0)
    assert clock.monotonic() == 0.0
    await clock.sleep(2)  # a step's own wait moves time, and the watch ticks along
    assert clock.monotonic() == 2.0
    assert ticks == [0.5, 1.0, 1.5, 2.0][: len(ticks)]
    assert len(ticks) >= 3
    watch.cancel()


async def test_without_a_grace_a_timeout_around_real_work_expires_at_once() -> None:
    clock = FakeClock()
    with pytest.raises(TimeoutError):
        async with clock.timeout(5):
            await asyncio.to_thread(time.sleep, 0.05)
    assert clock.monotonic() == 5.0


async def test_a_deadline_grace_lets_real_work_under_a_timeout_finish_in_fake_time() -> None:
    clock = FakeClock(deadline_grace=10)
    began = time.monotonic()
    async with clock.timeout(5):
        await asyncio.to_thread(time.sleep, 0.2)
    assert clock.monotonic() == 0.0
    assert time.monotonic() - began < 5


async def test_a_deadline_grace_still_times_out_work_that_hangs() -> None:
    clock = FakeClock(deadline_grace=0.1)
    with pytest.raises(TimeoutError):
        async with clock.timeout(5):
            await asyncio.Event().wait()
    assert clock.monotonic() == 5.0


async def test_a_deadline_grace_does_not_slow_plain_sleeps_inside_a_timeout() -> None:
    clock = FakeClock(deadline_grace=30)
    began = time.monotonic()
    async with clock.timeout(60):
        for _ in range(10):
            await clock.sleep(5)
    assert clock.monotonic() == 50.0
    assert time.monotonic() - began < 1


async def test_a_deadline_grace_is_not_spent_on_a_timeout_around_a_fake_wait() -> None:
    clock = FakeClock(deadline_grace=30)
    began = time.monotonic()
    with pytest.raises(TimeoutError):
        async with clock.timeout(60):
            await clock.sleep(600)
    assert clock.monotonic() == 60.0
    assert time.monotonic() - began < 1

"""The event stream waits on the runtime's clock: a quiet stream's keepalive comes after
``KEEPALIVE`` seconds of that clock, so under a FakeClock it comes at once in real time, and
an event that arrives first is sent first."""

from __future__ import annotations

import asyncio
import time

from runwright.app.runtime.runtime import Runtime
from runwright.web.sse import KEEPALIVE, Ev, Hub


def test_a_quiet_stream_keeps_alive_on_the_runtimes_clock(rt: Runtime) -> None:
    async def frames() -> list[tuple[str, float]]:
        hub = Hub(rt, 0.05)
        stream = hub.stream(None, None)
        out = []
        for _ in range(3):
            out.append((await anext(stream), rt.clock.monotonic()))
        await stream.aclose()
        return out

    began = time.monotonic()
    got = asyncio.run(frames())
    assert time.monotonic() - began < 5  # two keepalives of 15 s each, in fake time
    assert got == [
        ("retry: 1000\n\n", 0.0),
        (": keepalive\n\n", KEEPALIVE),
        (": keepalive\n\n", 2 * KEEPALIVE),
    ]


def test_an_event_before_the_keepalive_is_sent_then(rt: Runtime) -> None:
    ev = Ev(7, 1, 1, "run.created", None, "alice", "2026-01-05T10:00:00+00:00", "staging")

    async def frames() -> tuple[str, float]:
        hub = Hub(rt, 0.05)
        stream = hub.stream(None, None)
        await anext(stream)
        nxt = asyncio.ensure_future(anext(stream))
        await asyncio.sleep(0)
        for queue in hub.queues:
            queue.put_nowait(ev)
        frame = await nxt
        await stream.aclose()
        return frame, rt.clock.monotonic()

    frame, at = asyncio.run(frames())
    assert frame == ev.frame()
    assert at < KEEPALIVE

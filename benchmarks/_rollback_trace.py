"""Where the time from fault to restore goes: timestamps on the path, as this process sees it.

``rollback_latency.py --method sequential`` runs the release in its own process, so it can
wrap the few functions on the path from the canary's fault to the router restored and note
when each ran (``time.monotonic``, the clock the poller and the fault use too):

    reading      a watch wake: the router's counters reached the sequential test (and the
                 canary's failures and requests in them), with the time the test took and
                 whether it rejected (its e-value crossed 1 / alpha)
    worded       the verdict's words were written (after the restore's router write)
    router       a request to the router's admin API was sent / answered (the PUT /backends
                 after the fault are the rollback's)
    failed       the engine recorded the step failed (``step.failed`` journaled)
    journal      every journal write (event type, time it took: a durable commit each)

Wrapping adds a few microseconds a call; nothing here changes what runs.
"""

from __future__ import annotations

import functools
import statistics
import threading
import time
from collections.abc import Callable
from typing import Any

from runwright.engine.scheduler import Scheduler
from runwright.routers.builtin import BuiltinRouter
from runwright.steps.sequential_watch import SequentialWatch


class Trace:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.marks: list[tuple[float, str, dict[str, Any]]] = []
        self._patched: list[tuple[Any, str, Any]] = []

    def mark(self, what: str, **data: Any) -> None:
        with self.lock:
            self.marks.append((time.monotonic(), what, data))

    def clear(self) -> None:
        with self.lock:
            self.marks = []

    def since(self, t0: float) -> list[tuple[float, str, dict[str, Any]]]:
        with self.lock:
            return [m for m in self.marks if m[0] >= t0]

    def _wrap(self, owner: Any, name: str, make: Callable[[Any], Any]) -> None:
        original = getattr(owner, name)
        self._patched.append((owner, name, original))
        setattr(owner, name, functools.wraps(original)(make(original)))

    def install(self) -> None:
        trace = self

        def judge(original: Any) -> Any:
            def wrapped(self: SequentialWatch, counters: Any) -> bool:
                began = time.monotonic()
                out: bool = original(self, counters)
                done = time.monotonic()
                t = self.test
                trace.mark(
                    "reading",
                    cpu=done - began,
                    canary_failures=t.canary_failures,
                    canary_requests=t.canary_requests,
                    rejected=out,
                )
                return out

            return wrapped

        def fail(original: Any) -> Any:
            def wrapped(self: SequentialWatch, verdict: Any, reason: str) -> str:
                trace.mark("rejected")
                out: str = original(self, verdict, reason)
                trace.mark("worded")
                return out

            return wrapped

        def request(original: Any) -> Any:
            async def wrapped(self: BuiltinRouter, method: str, path: str, body: Any = None) -> Any:
                trace.mark("router sent", method=method, path=path)
                out = await original(self, method, path, body)
                trace.mark("router answered", method=method, path=path)
                return out

            return wrapped

        def journal(original: Any) -> Any:
            def wrapped(self: Scheduler[Any], run_id: int, type_: str, **kw: Any) -> None:
                began = time.monotonic()
                original(self, run_id, type_, **kw)
                trace.mark("journal", type=type_, took=time.monotonic() - began, began=began)

            return wrapped

        self._wrap(SequentialWatch, "_judge", judge)
        self._wrap(SequentialWatch, "_fail", fail)
        self._wrap(BuiltinRouter, "_request", request)
        self._wrap(Scheduler, "_journal", journal)

    def uninstall(self) -> None:
        for owner, name, original in reversed(self._patched):
            setattr(owner, name, original)
        self._patched = []


def phases(
    marks: list[tuple[float, str, dict[str, Any]]], t0: float, restored: float | None
) -> dict[str, float | None]:
    """Milliseconds from the fault to each point of the path, for one trial."""
    readings = [(at, d) for at, what, d in marks if what == "reading"]
    first_failure = next(
        (at for at, d in readings if d["canary_failures"] > _failures_at(readings, t0)), None
    )
    rejected = next((at for at, d in readings if d["rejected"]), None)
    worded = next((at for at, what, _ in marks if what == "worded"), None)
    failed = next(
        (d["began"] + d["took"] for _, what, d in marks
         if what == "journal" and d["type"] == "step.failed"),
        None,
    )  # fmt: skip
    # The canary's own PUT came before the fault (it took traffic first): every PUT after it
    # is the rollback's.
    puts = [
        (at, what)
        for at, what, d in marks
        if at >= t0 and what.startswith("router") and d["method"] == "PUT"
    ]
    put_sent = next((at for at, what in puts if what == "router sent"), None)
    put_done = max((at for at, what in puts if what == "router answered"), default=None)
    before = [(at, d) for at, d in readings if at >= t0 and (rejected is None or at <= rejected)]
    gaps = [b[0] - a[0] for a, b in zip(before, before[1:], strict=False)]
    journal_before_put = [
        d["took"]
        for _, what, d in marks
        if what == "journal" and put_sent is not None and t0 <= d["began"] <= put_sent
    ]

    def ms(at: float | None) -> float | None:
        return None if at is None else (at - t0) * 1000

    return {
        "first failure read": ms(first_failure),
        "rejected": ms(rejected),
        "verdict worded": ms(worded),
        "step.failed journaled": ms(failed),
        "first rollback PUT sent": ms(put_sent),
        "last rollback PUT answered": ms(put_done),
        "100% on stable": None if restored is None else restored * 1000,
        "readings fault->rejection": float(len(before)),
        "reading gap median ms": statistics.median(gaps) * 1000 if gaps else None,
        "reading gap max ms": max(gaps) * 1000 if gaps else None,
        "test cpu per reading ms": (
            statistics.median(d["cpu"] for _, d in before) * 1000 if before else None
        ),
        "canary requests to rejection": (
            float(before[-1][1]["canary_requests"] - _requests_at(readings, t0)) if before else None
        ),
        "journal writes before PUT": float(len(journal_before_put)),
        "journal ms before PUT": sum(journal_before_put) * 1000 if journal_before_put else 0.0,
    }


def _requests_at(readings: list[tuple[float, dict[str, Any]]], t0: float) -> int:
    return max((d["canary_requests"] for at, d in readings if at < t0), default=0)


def _failures_at(readings: list[tuple[float, dict[str, Any]]], t0: float) -> int:
    return max((d["canary_failures"] for at, d in readings if at < t0), default=0)


def summary(rows: list[dict[str, float | None]]) -> list[str]:
    """One line per point: the median over trials (and how many trials had it)."""
    if not rows:
        return []
    out = []
    for key in rows[0]:
        values = [r[key] for r in rows if r.get(key) is not None]
        if not values:
            out.append(f"    {key:<30} n/a")
            continue
        med = statistics.median(v for v in values if v is not None)
        out.append(f"    {key:<30} {med:9.2f}   ({len(values)} trials)")
    return out

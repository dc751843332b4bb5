"""A ``method: sequential`` check in a window: the router's counts, judged as they change.

``engine/sequential.py`` holds the test; this runs it for one window. It follows the router's
counters (told of every counted request by the builtin router, else read every ``poll``), feeds
each change of the canary's and the stable version's counts to the test, and returns the moment
the test rejects, so the rollback starts then: ``on_reject`` (a canary pause puts all traffic
back on the stable version) runs before anything is written, the verdict's words and rows
after. Every evaluation is stored like a measurement,
on change, up to ``max_rows`` per window; past that one row a second, and always the deciding
one. A window where the stable version takes no traffic (a bake: ``compare: none``) has
nothing to compare with and does not run this check.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from runwright.engine.clock import Clock
from runwright.engine.sequential import (
    Counts,
    Increments,
    MixtureSPRT,
    SequentialSpec,
    Traffic,
    bound_for_quantile,
    expected_requests,
    slower_than,
)
from runwright.errors import DriverError, InputError
from runwright.model.durations import format_duration
from runwright.model.status import Verdict
from runwright.routers.base import BackendCounters, Router
from runwright.routers.watch import watch_counters

FLUSH_SECONDS = 0.5
LONG_POLL_SECONDS = 1.0
ERROR_LIMIT = 3


@dataclass(frozen=True)
class Sides:
    canary: str
    baseline: str


class SequentialWatch:
    """One sequential check over one window; ``run`` returns when it fails or time is up."""

    def __init__(
        self,
        spec: SequentialSpec,
        sides: Sides,
        *,
        split: int,
        router: Router,
        clock: Clock,
        measured: Callable[[list[Mapping[str, Any]]], None],
        on_reject: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.spec, self.sides, self.split = spec, sides, max(1, split)
        self.on_reject = on_reject
        self.alpha = spec.alpha / self.split
        self.router, self.clock, self.measured = router, clock, measured
        self.test = MixtureSPRT(self.alpha, spec.min_ratio)
        self.increments = Increments()
        self.bound: float | None = None
        self.verdict = Verdict.RUNNING
        self.reason = "measuring"
        self.evaluations = 0
        self.stored = 0
        self.buffer: list[Mapping[str, Any]] = []
        self.last_stored = -math.inf
        self.last_flush = clock.monotonic()
        self.errors_in_a_row = 0
        self.seen = (0, 0)
        self.warming = 0

    @property
    def query(self) -> str:
        return f"sequential: {self.sides.canary} vs {self.sides.baseline}, {self.spec.what}"

    @property
    def condition(self) -> str:
        null = f"ratio > {self.spec.min_ratio:g}" if self.spec.min_ratio > 1 else "ratio > 1"
        return f"e-value >= {1 / self.alpha:g} ({null}, alpha {self.alpha:g})"

    async def run(self, end: float) -> str | None:
        """Judge until monotonic ``end``; the failure's reason, or None."""
        watch = watch_counters(self.router, self.clock, self.spec.poll_seconds)
        try:
            generation, counters = await watch.next(-1, 0.0)
            self._start(counters)
            while self.clock.monotonic() < end:
                wait = min(LONG_POLL_SECONDS, max(0.0, end - self.clock.monotonic()))
                try:
                    generation, counters = await watch.next(generation, wait)
                except DriverError as exc:
                    self.errors_in_a_row += 1
                    if self.errors_in_a_row > ERROR_LIMIT:
                        return self._fail(Verdict.ERROR, f"the router's counters: {exc}")
                    await self.clock.sleep(self.spec.poll_seconds)
                    continue
                self.errors_in_a_row = 0
                if self._judge(counters):
                    if self.on_reject is not None:
                        await self.on_reject()
                    self._fail(Verdict.FAILED, self._words(rejected=True))
                    self._row(force=True)
                    return self.reason
        except DriverError as exc:
            return self._fail(Verdict.ERROR, f"the router's counters could not be read: {exc}")
        except InputError as exc:
            # Nothing to judge against (no stable latency histogram): a person decides.
            self.verdict, self.reason = Verdict.PAUSED, f"{self.spec.name}: {exc}; a person decides"
            return None
        finally:
            self.flush()
            await watch.aclose()
        return None

    def _fail(self, verdict: Verdict, reason: str) -> str:
        self.verdict, self.reason = verdict, f"{self.spec.name}: {reason}"
        return self.reason

    def _start(self, counters: Mapping[str, BackendCounters]) -> None:
        if self.spec.quantile is not None:
            stable = counters.get(self.sides.baseline)
            buckets = stable.latency_buckets if stable else ()
            self.bound = bound_for_quantile(buckets, self.spec.quantile)
            if self.bound is None:
                raise InputError(
                    f"no latency histogram of {self.sides.baseline} to take its "
                    f"p{self.spec.quantile * 100:g} from (HAProxy keeps none; the builtin "
                    "router needs requests to the stable version first)"
                )
        self._counts(counters)

    def _counts(self, counters: Mapping[str, BackendCounters]) -> tuple[Any, Any]:
        return tuple(  # type: ignore[return-value]
            self.increments.step(side, self._side(counters.get(side)))
            for side in (self.sides.canary, self.sides.baseline)
        )

    def _side(self, c: BackendCounters | None) -> Counts | None:
        if c is None:
            return None
        if self.bound is None:
            return Counts(c.requests, c.errors_5xx + c.failures)
        return Counts(c.latency_count, slower_than(c.latency_buckets, c.latency_count, self.bound))

    def _judge(self, counters: Mapping[str, BackendCounters]) -> bool:
        canary, baseline = self._counts(counters)
        if canary == (0, 0) and baseline == (0, 0):
            return False
        if self.warming < self.spec.warmup:
            self.warming += canary[0]  # both sides' counts until then are left out
            return False
        self.seen = (self.seen[0] + canary[0], self.seen[1] + baseline[0])
        judged = self.test.observe(canary, baseline)
        self.evaluations += 1
        if judged and self.test.rejected:
            self.verdict = Verdict.FAILED
            return True
        self._row(force=False)
        return False

    def _words(self, *, rejected: bool) -> str:
        t, s = self.test, self.sides
        sides = (
            f"{s.canary} {t.canary_failures} of {t.canary_requests} "
            f"({_pct(t.canary_failures, t.canary_requests)}) "
            f"vs {s.baseline} {t.baseline_failures} of {t.baseline_requests} "
            f"({_pct(t.baseline_failures, t.baseline_requests)})"
        )
        what = self.spec.what if self.bound is None else f"{self.spec.what} ({self.bound:g}s)"
        estimate = t.estimate().describe(self.alpha)
        split = f", split over {self.split} checks" if self.split > 1 else ""
        evidence = f"e-value {t.e_value:.3g} {'>=' if rejected else '<'} {1 / self.alpha:g}"
        head = (
            f"the canary {s.canary} fails more often than the stable {s.baseline}"
            if rejected
            else f"no evidence that the canary {s.canary} is worse than {s.baseline}"
        )
        warm = f" after the canary's first {self.spec.warmup}" if self.spec.warmup else ""
        return (
            f"{head} in {what}: {sides}, {t.canary_requests + t.baseline_requests} requests"
            f"{warm}; "
            f"{estimate}; {evidence} (alpha {self.alpha:g}{split}; sequential test)"
        )

    def _row(self, *, force: bool) -> None:
        now = self.clock.monotonic()
        if not force and self.stored >= self.spec.max_rows and now - self.last_stored < 1.0:
            return
        t = self.test
        self.buffer.append(
            {
                "check": self.spec.name,
                "at": self.clock.now(),
                "query": self.query,
                "value": t.e_value,
                "condition": self.condition,
                "verdict": self.verdict.value,
                "detail": self.reason
                if force
                else f"{self.sides.canary} {t.canary_failures}/{t.canary_requests}, "
                f"{self.sides.baseline} {t.baseline_failures}/{t.baseline_requests}",
                "breached": force,
            }
        )
        self.stored += 1
        self.last_stored = now
        if force or now - self.last_flush >= FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        if self.buffer:
            rows, self.buffer = self.buffer, []
            self.measured(rows)
        self.last_flush = self.clock.monotonic()

    def conclude(self, duration: float) -> tuple[Verdict, str]:
        """The window ended without a rejection: passed, or paused when nothing was compared."""
        if self.verdict is not Verdict.RUNNING:
            return self.verdict, self.reason
        t, name = self.test, self.spec.name
        if self.seen[0] == 0:
            self.verdict = Verdict.PAUSED
            self.reason = (
                f"{name}: the canary {self.sides.canary} served no request in "
                f"{format_duration(duration)}; a person decides"
            )
        elif self.seen[1] == 0 or t.canary_requests == 0:
            self.verdict = Verdict.PAUSED
            self.reason = (
                f"{name}: the stable {self.sides.baseline} served no request beside the canary, "
                "so nothing was compared; a person decides"
            )
        else:
            self.verdict = Verdict.PASSED
            self.reason = f"{name}: {self._words(rejected=False)}"
        self.buffer.append(
            {
                "check": name,
                "at": self.clock.now(),
                "query": self.query,
                "value": t.e_value,
                "condition": self.condition,
                "verdict": self.verdict.value,
                "detail": self.reason,
                "breached": False,
            }
        )
        self.flush()
        return self.verdict, self.reason


def _pct(part: int, whole: int) -> str:
    return f"{part / whole:.2%}" if whole else "no requests"


ASSUMED_SHARE = 0.1
ASSUMED_FAILURE_RATE = 0.001


def plan_sequential(
    spec: SequentialSpec,
    split: int,
    compare: str | None,
    traffic: Traffic | None,
    share: float | None,
) -> list[str]:
    """What ``plan`` says of a sequential check: the test, and the expected requests and time
    to a verdict for each effect the check declares, at the traffic the service had recently."""
    name = spec.name
    if compare == "none":
        return [f"check {name}: sequential; not judged here (the stable version takes no traffic)"]
    alpha = spec.alpha / max(1, split)
    split_text = f" ({spec.alpha:g} split over {split} checks)" if split > 1 else ""
    null = f", min_effect ratio > {spec.min_ratio:g}" if spec.min_ratio > 1 else ""
    lines = [
        f"check {name}: sequential test of the canary against the stable version on "
        f"{spec.what}, evaluated as the router counts them (mixture SPRT, alpha {alpha:g}"
        f"{split_text}{null}); rollback starts the moment it rejects"
        + (f"; the canary's first {spec.warmup} requests are a warm-up, not judged"
           if spec.warmup else "")
    ]  # fmt: skip
    traffic = traffic or Traffic(None)
    share_text = f"{share:.0%}" if share else f"{ASSUMED_SHARE:.0%} (assumed)"
    share = share or ASSUMED_SHARE
    if spec.quantile is not None:
        base, base_text = 1 - spec.quantile, f"{1 - spec.quantile:.0%} by construction"
    elif traffic.failure_rate is not None:
        base, base_text = traffic.failure_rate, f"{traffic.failure_rate:.2%} ({traffic.source})"
    else:
        base, base_text = ASSUMED_FAILURE_RATE, f"{ASSUMED_FAILURE_RATE:.1%} (assumed)"
    rate = traffic.requests_per_second
    lines.append(
        f"check {name}: at a canary share of {share_text}, the stable version failing "
        f"{base_text}, "
        + (f"{rate:.4g} requests/s ({traffic.source})" if rate else "unknown traffic")
        + ":"
    )
    for effect in spec.effects:
        lines.append(
            f"  canary {_effect(spec, effect)}: {_expect(spec, effect, base, share, alpha, rate)}"
        )
    return lines


def _effect(spec: SequentialSpec, effect: float) -> str:
    if spec.quantile is None:
        return f"failing {effect:.0%}"
    return f"with {effect:.0%} of requests slower than the stable p{spec.quantile * 100:g}"


def _expect(
    spec: SequentialSpec, effect: float, base: float, share: float, alpha: float, rate: float | None
) -> str:
    odds = (effect / (1 - effect)) / (base / (1 - base)) if 0 < base < 1 else math.inf
    if odds <= spec.min_ratio:
        return "no worse than the stable version by the declared ratio: no verdict expected"
    found = expected_requests(
        effect, baseline_rate=base, share=share, alpha=alpha, null_ratio=spec.min_ratio,
        streams=60,
    )  # fmt: skip
    if found.canary_requests is None:
        return "more than 200,000 canary requests"
    n = found.canary_requests + spec.warmup
    if not rate:
        return f"about {n:,.0f} canary requests (time unknown: unknown traffic)"
    seconds = n / (rate * share)
    return f"about {n:,.0f} canary requests, about {format_duration(seconds)} at that traffic"

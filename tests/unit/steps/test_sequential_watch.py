"""Sequential checks in an analysis window, over a router whose counters follow generated
per-request streams on a fake clock: the window ends the moment the test rejects."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np
from tests.unit.steps.test_analysis import Harness

from runwright.engine.clock import FakeClock
from runwright.engine.sequential import Traffic
from runwright.model.checks import check_from
from runwright.routers.base import BackendCounters
from runwright.steps.analysis_plan import plan_lines

SEQUENTIAL = {"provider": "router", "method": "sequential", "alpha": 0.01}


class StreamRouter:
    """Counters of ``rate`` requests a second, each routed to v2 with probability ``share``
    and failing with its version's probability; what has arrived by the clock's time."""

    def __init__(
        self,
        clock: FakeClock,
        *,
        rate: float,
        share: float,
        canary: float,
        stable: float,
        seed: int,
        length: int = 200_000,
    ) -> None:
        rng = np.random.default_rng(seed)
        self.clock, self.rate = clock, rate
        routes = rng.random(length) < share
        fails = rng.random(length) < np.where(routes, canary, stable)
        self.canary_n = np.cumsum(routes)
        self.canary_f = np.cumsum(routes & fails)
        self.stable_n = np.cumsum(~routes)
        self.stable_f = np.cumsum(~routes & fails)
        self.reset_at: float | None = None
        self.reads = 0

    async def counters(self) -> dict[str, BackendCounters]:
        self.reads += 1
        now = self.clock.monotonic()
        base = 0
        if self.reset_at is not None and now >= self.reset_at:
            base = int(self.reset_at * self.rate)  # the router restarted: counting from 0
        i = int(now * self.rate) - 1
        if i < 0:
            return {}
        j = base - 1

        def side(n: np.ndarray, f: np.ndarray) -> tuple[int, int]:
            return int(n[i] - (n[j] if j >= 0 else 0)), int(f[i] - (f[j] if j >= 0 else 0))

        (cn, cf), (sn, sf) = side(self.canary_n, self.canary_f), side(self.stable_n, self.stable_f)
        return {
            "v2": BackendCounters("v2", requests=cn, errors_5xx=cf),
            "v1": BackendCounters("v1", requests=sn, errors_5xx=sf),
        }


def harness(router: StreamRouter, checks: Mapping[str, Any], **kw: Any) -> Harness:
    h = Harness(checks, {}, **kw)
    h.clock = router.clock
    services = dataclasses.replace(h.ctx.services, router=router)  # type: ignore[arg-type]
    h.ctx = dataclasses.replace(h.ctx, clock=router.clock, services=services)
    return h


async def test_a_canary_failing_20_percent_is_rolled_back_within_a_second_with_words() -> None:
    clock = FakeClock()
    router = StreamRouter(clock, rate=200, share=0.2, canary=0.2, stable=0.001, seed=1)
    h = harness(router, {"errors": SEQUENTIAL})
    outcome = await h.run(["errors"], 60)
    assert outcome.status == "failed"
    assert clock.monotonic() < 1.0
    reason = outcome.summary or ""
    for words in ("the canary v2 fails more often than the stable v1", "failed requests",
                  "requests;", "ratio", "confidence interval", "alpha 0.01"):  # fmt: skip
        assert words in reason
    rows = h.rows_of("errors")
    assert rows[-1]["verdict"] == "failed"
    assert rows[-1]["detail"] == reason
    assert all(r["query"].startswith("sequential: v2 vs v1") for r in rows)


async def test_a_good_canary_passes_and_rows_stay_bounded() -> None:
    clock = FakeClock()
    router = StreamRouter(clock, rate=500, share=0.2, canary=0.01, stable=0.01, seed=2)
    h = harness(router, {"errors": {**SEQUENTIAL, "max_rows": 50}})
    outcome = await h.run(["errors"], 120)
    assert outcome.status == "succeeded"
    assert "no evidence that the canary v2 is worse than v1" in (outcome.summary or "")
    rows = h.rows_of("errors")
    assert router.reads > 1000
    assert len(rows) <= 50 + 120 + 1
    assert rows[-1]["verdict"] == "passed"


async def test_no_canary_traffic_pauses_for_a_person() -> None:
    clock = FakeClock()
    router = StreamRouter(clock, rate=100, share=0.0, canary=0.0, stable=0.01, seed=3)
    h = harness(router, {"errors": SEQUENTIAL})
    outcome = await h.run(["errors"], 5)
    assert outcome.status == "blocked"
    assert "served no request" in (outcome.summary or "")


async def test_a_counter_reset_mid_window_is_survived_and_the_fault_still_caught() -> None:
    clock = FakeClock()
    router = StreamRouter(clock, rate=20, share=0.1, canary=0.5, stable=0.0, seed=4)
    router.reset_at = 0.5
    h = harness(router, {"errors": SEQUENTIAL})
    outcome = await h.run(["errors"], 120)
    assert outcome.status == "failed"
    assert "fails more often" in (outcome.summary or "")


async def test_a_bake_does_not_judge_a_sequential_check_and_says_so() -> None:
    clock = FakeClock()
    router = StreamRouter(clock, rate=100, share=1.0, canary=0.5, stable=0.0, seed=5)
    h = harness(router, {"errors": SEQUENTIAL})
    outcome = await h.run(["errors"], 5, compare="none")
    assert outcome.status == "succeeded"
    assert any("not judged here" in line for line in h.lines)
    assert router.reads == 0


async def test_alpha_is_split_across_the_windows_sequential_checks() -> None:
    clock = FakeClock()
    router = StreamRouter(clock, rate=200, share=0.2, canary=0.3, stable=0.0, seed=6)
    latency = {**SEQUENTIAL, "alpha": 0.02}
    h = harness(router, {"errors": SEQUENTIAL, "errors-too": latency})
    outcome = await h.run(["errors", "errors-too"], 30)
    assert outcome.status == "failed"
    conditions = {r["check"]: r["condition"] for r in h.rows}
    assert "alpha 0.005" in conditions["errors"]
    assert "alpha 0.01" in conditions["errors-too"]


def test_plan_gives_expected_requests_and_time_or_says_unknown_traffic() -> None:
    checks = {"errors": check_from("errors", SEQUENTIAL)}
    known, worst = plan_lines(
        ["errors"], checks, traffic=Traffic(1000.0, 0.001, "the router's counters"), share=0.2
    )
    assert worst == 0.0
    text = "\n".join(known)
    assert "canary failing 20%: about" in text
    assert "canary requests, about" in text
    assert "1000 requests/s" in text
    unknown, _ = plan_lines(["errors"], checks)
    assert "unknown traffic" in "\n".join(unknown)
    assert "time unknown" in "\n".join(unknown)


RELEASE = """
name: shop
environments: {production: {}}
service: {command: "demo --port {{ port }}", router: {kind: builtin, listen: "127.0.0.1:9"}}
checks:
  errors: {provider: router, method: sequential, alpha: 0.01, min_effect: "ratio > 1.5"}
release: {strategy: canary, weights: [20, 100], pause: 1m, bake: 1m, analysis: [errors]}
"""


def test_plan_of_a_canary_gives_each_pause_its_share_and_the_bake_no_judgement() -> None:
    from runwright.app.plans.expansion import build_plan
    from runwright.model.loader import load_text
    from runwright.steps.registry import step_kinds

    book = load_text(RELEASE, "shop.yaml", step_kinds())
    plan = build_plan(
        book,
        "production",
        book.environments["production"],
        "v2",
        {"version": "v2", "previous_version": "v1"},
        traffic=Traffic(500.0, 0.002, "the router's counters over 0.5s"),
    )
    pause = next(s for s in plan.steps if s.name == "pause at 20%")
    text = "\n".join(pause.lines)
    assert "min_effect ratio > 1.5" in text
    assert "canary share of 20%" in text
    assert "the stable version failing 0.20%" in text
    assert "500 requests/s" in text
    assert pause.worst_case_abort_seconds is None
    bake = next(s for s in plan.steps if s.name == "bake")
    assert "not judged here" in "\n".join(bake.lines)


class Ticking:
    """A router whose counters grow by 100 requests (1 failed on v1) at every read."""

    def __init__(self) -> None:
        self.reads = 0

    async def counters(self) -> dict[str, BackendCounters]:
        self.reads += 1
        n = 100 * self.reads
        return {"v1": BackendCounters("v1", requests=n, errors_5xx=self.reads)}


def test_recent_traffic_reads_the_router_twice_and_says_when_it_cannot() -> None:
    from runwright.app.plans.expansion import recent_traffic
    from runwright.errors import DriverError

    clock = FakeClock()
    found = asyncio.run(recent_traffic(Ticking(), "v1", seconds=0.5, clock=clock))  # type: ignore[arg-type]
    assert found.requests_per_second == 200.0
    assert found.failure_rate == 0.01

    class Down:
        async def counters(self) -> dict[str, BackendCounters]:
            raise DriverError("no router")

    gone = asyncio.run(recent_traffic(Down(), "v1", clock=clock))  # type: ignore[arg-type]
    assert gone.requests_per_second is None
    assert gone.source.startswith("unknown traffic")


def test_a_sequential_check_is_validated_when_the_runbook_loads() -> None:
    import pytest

    from runwright.errors import InputError
    from runwright.steps.analysis import validate_check

    validate_check("errors", check_from("errors", SEQUENTIAL))
    with pytest.raises(InputError, match="does not apply to method: sequential"):
        validate_check("errors", check_from("errors", {**SEQUENTIAL, "query": "x"}))
    other = {"provider": "command", "query": "echo 1", "fail_if": "> 1", "for": "1m",
             "failure_limit": 2}  # fmt: skip
    with pytest.raises(InputError, match="give either 'for'"):
        validate_check("other", check_from("other", other))


async def test_a_latency_check_with_no_stable_histogram_pauses_for_a_person() -> None:
    clock = FakeClock()
    router = StreamRouter(clock, rate=100, share=0.2, canary=0.0, stable=0.0, seed=7)
    h = harness(router, {"slow": {**SEQUENTIAL, "latency": {"quantile": "p90"}}})
    outcome = await h.run(["slow"], 5)
    assert outcome.status == "blocked"
    assert "no latency histogram of v1" in outcome.summary
    assert "a person decides" in outcome.summary


async def test_a_latency_regression_is_caught_on_requests_slower_than_the_stable_p90() -> None:
    clock = FakeClock()
    router = LatencyRouter(clock)
    h = harness(router, {"slow": {**SEQUENTIAL, "latency": {"quantile": "p90"}}})
    outcome = await h.run(["slow"], 60)
    assert outcome.status == "failed"
    assert "requests slower than the stable version's p90 (0.005s)" in outcome.summary


class LatencyRouter:
    """v1 answers 90% of requests within 5 ms, v2 (20% of traffic) only half: 50 requests a
    second, histograms as the builtin router keeps them."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock

    async def counters(self) -> dict[str, BackendCounters]:
        n = int(self.clock.monotonic() * 50) + 100
        v1, v2 = n * 4 // 5 + 100, n // 5

        def side(name: str, total: int, fast: float) -> BackendCounters:
            buckets = ((0.001, int(total * fast * 0.5)), (0.005, int(total * fast)),
                       (0.01, total))  # fmt: skip
            return BackendCounters(name, requests=total, latency_count=total,
                                   latency_buckets=buckets)  # fmt: skip

        return {"v1": side("v1", v1, 0.9), "v2": side("v2", v2, 0.5)}


async def test_the_restore_runs_at_the_rejection_before_its_verdict_is_written() -> None:
    clock = FakeClock()
    router = StreamRouter(clock, rate=200, share=0.2, canary=0.2, stable=0.001, seed=1)
    h = harness(router, {"errors": SEQUENTIAL})
    seen: list[tuple[float, list[str]]] = []

    async def restore() -> None:
        seen.append((clock.monotonic(), [r["verdict"] for r in h.rows_of("errors")]))

    outcome = await h.run(["errors"], 60, restore=restore)
    assert outcome.status == "failed"
    assert len(seen) == 1
    at, verdicts_then = seen[0]
    assert at == clock.monotonic()  # at the deciding reading, not a wake-up later
    assert "failed" not in verdicts_then
    assert h.rows_of("errors")[-1]["verdict"] == "failed"


async def test_a_good_canary_is_never_restored() -> None:
    clock = FakeClock()
    router = StreamRouter(clock, rate=500, share=0.2, canary=0.01, stable=0.01, seed=2)
    h = harness(router, {"errors": SEQUENTIAL})
    calls: list[float] = []

    async def restore() -> None:
        calls.append(clock.monotonic())

    outcome = await h.run(["errors"], 30, restore=restore)
    assert outcome.status == "succeeded"
    assert calls == []


class ColdCanaryRouter(LatencyRouter):
    """v2 is as fast as v1 but for its first 60 requests, which all take 10 ms (new
    connections, cold code): 50 requests a second, v2 a fifth of them."""

    async def counters(self) -> dict[str, BackendCounters]:
        n = int(self.clock.monotonic() * 50) + 100
        v1, v2 = n * 4 // 5 + 100, n // 5
        cold = min(v2, 60)
        warm = v2 - cold

        def buckets(fast: int, slow: int) -> tuple[tuple[float, int], ...]:
            return ((0.001, fast // 2), (0.005, fast), (0.01, fast + slow))

        v1_fast = v1 * 9 // 10
        return {
            "v1": BackendCounters("v1", requests=v1, latency_count=v1,
                                  latency_buckets=buckets(v1_fast, v1 - v1_fast)),
            "v2": BackendCounters("v2", requests=v2, latency_count=v2,
                                  latency_buckets=buckets(warm * 9 // 10, cold + warm
                                                          - warm * 9 // 10)),
        }  # fmt: skip


async def test_a_latency_check_leaves_a_fresh_canarys_first_requests_out() -> None:
    """Without the warm-up the cold start alone rolls a healthy canary back; with the default
    one the window passes and its verdict says what was left out."""
    slow = {**SEQUENTIAL, "latency": {"quantile": "p90"}}
    cold = harness(ColdCanaryRouter(FakeClock()), {"slow": {**slow, "warmup": 0}})
    outcome = await cold.run(["slow"], 120)
    assert outcome.status == "failed", outcome.summary
    warmed = harness(ColdCanaryRouter(FakeClock()), {"slow": slow})
    outcome = await warmed.run(["slow"], 120)
    assert outcome.status == "succeeded", outcome.summary
    assert "after the canary's first 100" in outcome.summary


async def test_a_failure_check_judges_from_the_first_request() -> None:
    """Errors do not warm up: no warm-up unless the check asks for one."""
    clock = FakeClock()
    router = StreamRouter(clock, rate=200, share=0.2, canary=0.2, stable=0.001, seed=1)
    h = harness(router, {"errors": SEQUENTIAL})
    outcome = await h.run(["errors"], 60)
    assert outcome.status == "failed"
    assert "after the canary's first" not in outcome.summary
    lines, _ = plan_lines(["slow"], {"slow": check_from("slow", {**SEQUENTIAL, "latency": {
        "quantile": "p90"}})}, traffic=Traffic(100.0))  # fmt: skip
    assert any("first 100 requests are a warm-up, not judged" in line for line in lines)

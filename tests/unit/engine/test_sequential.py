"""The sequential test on generated per-request streams (seeded): how fast it catches a bad
canary, how rarely it rolls back a good one, and what it does with odd counter readings."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import nchypergeom_fisher

from runwright.engine.sequential import (
    Counts,
    Increments,
    MixtureSPRT,
    SequentialSpec,
    _log_fnch,
    bound_for_quantile,
    expected_requests,
    parse_sequential,
    slower_than,
)
from runwright.errors import InputError
from runwright.model.checks import check_from

BATCH = 10
"""Requests per reading of the counters: 5 ms between reads at 2,000 requests/s."""


def streams(
    rng: np.random.Generator, n: int, length: int, *, share: float, canary: float, stable: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` per-request streams: each request routed to the canary with probability
    ``share`` and failing with its side's probability; summed per reading of BATCH requests."""
    routes = rng.random((n, length)) < share
    fails = rng.random((n, length)) < np.where(routes, canary, stable)
    shape = (n, length // BATCH, BATCH)
    return (
        routes.reshape(shape).sum(2),
        (routes & fails).reshape(shape).sum(2),
        (~routes & fails).reshape(shape).sum(2),
    )


def run_stream(
    m1: np.ndarray, x: np.ndarray, y: np.ndarray, *, alpha: float, null: float = 1.0
) -> int | None:
    """Canary requests when the test rejected, or None if it never did."""
    test = MixtureSPRT(alpha, null)
    for a, b, c in zip(m1.tolist(), x.tolist(), y.tolist(), strict=True):
        if test.observe((a, b), (BATCH - a, c)) and test.rejected:
            return test.canary_requests
    return None


def test_the_batch_likelihood_is_fishers_noncentral_hypergeometric() -> None:
    log_psi = np.log(np.array([0.25, 1.0, 3.0, 40.0]))
    for x, m1, m2, t in [(3, 20, 50, 6), (1, 5, 40, 1), (0, 5, 40, 1), (9, 12, 30, 20)]:
        mine = _log_fnch(x, m1, m2, t, log_psi)
        ref = [nchypergeom_fisher.logpmf(x, m1 + m2, m1, t, np.exp(lp)) for lp in log_psi]
        assert mine == pytest.approx(ref, rel=1e-9, abs=1e-9)


def test_a_canary_failing_20_percent_is_rejected_within_the_expected_requests() -> None:
    rng = np.random.default_rng(20)
    expected = expected_requests(0.2, baseline_rate=0.001, share=0.1, alpha=0.01)
    assert expected.canary_requests is not None
    assert expected.canary_requests < 25  # the issue's figure is about 16
    m1, x, y = streams(rng, 400, 2000, share=0.1, canary=0.2, stable=0.001)
    found = [run_stream(m1[i], x[i], y[i], alpha=0.01) for i in range(400)]
    assert None not in found
    assert np.mean(found) <= expected.canary_requests * 1.1


def test_smaller_faults_take_more_requests_in_the_order_the_issue_gives() -> None:
    figures = [
        expected_requests(rate, baseline_rate=0.001, share=0.1, alpha=0.01, streams=60)
        for rate in (0.2, 0.05, 0.01)
    ]
    n = [f.canary_requests for f in figures]
    assert all(v is not None for v in n)
    assert n[0] < 30  # type: ignore[operator]
    assert 50 < n[1] < 120  # type: ignore[operator]
    assert 400 < n[2] < 900  # type: ignore[operator]


@pytest.mark.slow
def test_a_good_canary_is_rolled_back_at_most_alpha_of_the_time_in_10000_streams() -> None:
    rng = np.random.default_rng(10_000)
    rejected = 0
    for _ in range(5):
        m1, x, y = streams(rng, 2000, 2000, share=0.1, canary=0.02, stable=0.02)
        rejected += sum(run_stream(m1[i], x[i], y[i], alpha=0.05) is not None for i in range(2000))
    assert rejected / 10_000 <= 0.05
    assert rejected > 0  # it does look: a test that never rejects would also pass


def test_a_canary_worse_by_less_than_min_effect_is_not_rolled_back_more_than_alpha() -> None:
    rng = np.random.default_rng(15)
    odds = 1.5 * (0.05 / 0.95)
    canary = odds / (1 + odds)
    m1, x, y = streams(rng, 200, 2000, share=0.5, canary=canary, stable=0.05)
    with_floor = [run_stream(m1[i], x[i], y[i], alpha=0.05, null=1.5) for i in range(200)]
    without = [run_stream(m1[i], x[i], y[i], alpha=0.05) for i in range(200)]
    assert sum(r is not None for r in with_floor) / 200 <= 0.05
    assert sum(r is not None for r in without) > sum(r is not None for r in with_floor)


def test_readings_are_pooled_until_both_sides_served_a_request() -> None:
    test = MixtureSPRT(0.01)
    assert not test.observe((1, 1), (0, 0))  # a canary failure alone: nothing to compare yet
    assert not test.observe((1, 1), (0, 0))
    assert test.observe((0, 0), (1, 0))  # now the pool holds both: judged as one batch
    assert test.log_e > 0
    assert test.pending == (0, 0, 0, 0)


def test_zero_traffic_and_one_sided_traffic_carry_no_evidence() -> None:
    test = MixtureSPRT(0.01)
    for _ in range(100):
        test.update((0, 0), (0, 0))
    assert test.log_e == 0.0
    assert not test.rejected
    for _ in range(1000):
        test.update((10, 10), (0, 0))  # the canary alone, failing everything
    assert test.log_e == 0.0
    assert not test.rejected
    assert test.canary_requests == 10_000
    estimate = test.estimate()
    assert estimate.low == 0.0
    assert estimate.high == float("inf")


def test_a_bad_batch_is_refused() -> None:
    with pytest.raises(ValueError, match="bad batch"):
        MixtureSPRT(0.01).update((2, 3), (5, 0))


def test_counter_resets_start_a_new_base_and_keep_nothing_negative() -> None:
    inc = Increments()
    assert inc.step("v2", Counts(100, 5)) == (0, 0)
    assert inc.step("v2", Counts(110, 7)) == (10, 2)
    assert inc.step("v2", Counts(3, 0)) == (0, 0)  # the router restarted
    assert inc.resets == 1
    assert inc.step("v2", Counts(8, 1)) == (5, 1)
    assert inc.step("v3", None) == (0, 0)


def test_the_estimate_brackets_the_true_ratio() -> None:
    rng = np.random.default_rng(3)
    m1, x, y = streams(rng, 1, 200_000, share=0.5, canary=0.04, stable=0.01)
    test = MixtureSPRT(0.01)
    for a, b, c in zip(m1[0].tolist(), x[0].tolist(), y[0].tolist(), strict=True):
        test.observe((a, b), (BATCH - a, c))
    estimate = test.estimate()
    true_odds = (0.04 / 0.96) / (0.01 / 0.99)
    assert estimate.low <= true_odds <= estimate.high
    assert estimate.high / estimate.low < 2
    assert "confidence interval" in estimate.describe(0.01)


def test_latency_bounds_come_from_the_stable_histogram() -> None:
    buckets = [(0.001, 50), (0.0025, 85), (0.005, 95), (0.01, 100)]
    assert bound_for_quantile(buckets, 0.9) == 0.005
    assert bound_for_quantile(buckets, 0.5) == 0.001
    assert bound_for_quantile([], 0.9) is None
    assert slower_than(buckets, 100, 0.005) == 5


def _sequential(name: str, data: dict[str, object]) -> SequentialSpec:
    return parse_sequential(name, check_from(name, data))


def test_parsing_names_the_fix() -> None:
    router = {"provider": "router", "method": "sequential"}
    spec = _sequential("errors", {**router, "alpha": 0.02, "min_effect": "ratio > 1.5"})
    assert (spec.alpha, spec.min_ratio, spec.quantile) == (0.02, 1.5, None)
    slow = _sequential("slow", {**router, "latency": {"quantile": "p90"}})
    assert slow.quantile == pytest.approx(0.9)
    assert "p90" in slow.what
    with pytest.raises(InputError, match="provider: router"):
        _sequential("x", {"method": "sequential", "provider": "scrape"})
    with pytest.raises(InputError, match="does not apply"):
        _sequential("x", {**router, "fail_if": "> 1%"})
    with pytest.raises(InputError, match="min_effect"):
        _sequential("x", {**router, "min_effect": "big"})
    with pytest.raises(InputError, match="alpha"):
        _sequential("x", {**router, "alpha": 2})

"""Baseline versus canary: doubled latency fails, unchanged passes, too little is unknown."""

from __future__ import annotations

import random

import pytest

from runwright.engine.stats import Comparison, compare_baseline, mann_whitney, ranks


def latencies(seed: int, n: int, scale: float = 1.0) -> list[float]:
    """Skewed, realistic-looking request latencies in seconds (log-normal around 100ms)."""
    rng = random.Random(seed)
    return [round(rng.lognormvariate(-2.3, 0.4) * scale, 4) for _ in range(n)]


def test_ranks_share_the_mean_rank_on_ties() -> None:
    assert ranks([10, 20, 20, 30]) == [1.0, 2.5, 2.5, 4.0]


def test_exact_test_on_a_textbook_example() -> None:
    result = mann_whitney([20, 11, 17, 12], [19, 22, 16, 29, 24])
    assert result.method == "exact"
    assert result.u == 17.0
    assert result.p_value == pytest.approx(1 / 9)


def test_normal_approximation_with_continuity_correction() -> None:
    result = mann_whitney([20, 11, 17, 12], [19, 22, 16, 29, 24], method="normal")
    assert result.p_value == pytest.approx(0.111346886533, rel=1e-9)


def test_complete_separation_gives_the_smallest_exact_p_and_full_effect() -> None:
    result = mann_whitney([1, 2, 3], [4, 5, 6])
    assert result.p_value == pytest.approx(0.1)
    assert result.effect_size == 1.0
    assert mann_whitney([4, 5, 6], [1, 2, 3]).effect_size == -1.0


def test_ties_use_the_normal_approximation_with_tie_correction() -> None:
    result = mann_whitney([1, 1, 2, 2, 3], [2, 3, 3, 4, 4])
    assert result.method == "normal"
    assert 0.0 < result.p_value < 0.2
    assert mann_whitney([5.0] * 12, [5.0] * 12).p_value == 1.0


def test_doubled_latency_fails_and_the_sentence_names_metric_medians_and_p() -> None:
    baseline = latencies(1, 40)
    canary = latencies(2, 40, scale=2.0)
    outcome = compare_baseline(baseline, canary, metric="p95-latency")
    assert outcome.verdict is Comparison.FAIL
    assert outcome.p_value is not None
    assert outcome.p_value < 0.001
    assert outcome.canary_median is not None
    assert outcome.baseline_median is not None
    assert outcome.canary_median > 1.5 * outcome.baseline_median
    assert outcome.reason.startswith("p95-latency: significantly higher")
    assert f"canary median {outcome.canary_median:.4g}" in outcome.reason
    assert f"baseline {outcome.baseline_median:.4g}" in outcome.reason
    assert "p=" in outcome.reason


@pytest.mark.parametrize("seed", range(5))
def test_unchanged_latency_passes(seed: int) -> None:
    outcome = compare_baseline(latencies(seed, 40), latencies(seed + 100, 40), metric="latency")
    assert outcome.verdict is Comparison.PASS
    assert "no significant difference" in outcome.reason


def test_a_faster_canary_passes_when_higher_is_worse() -> None:
    outcome = compare_baseline(latencies(1, 40), latencies(2, 40, scale=0.5))
    assert outcome.verdict is Comparison.PASS
    assert "better" in outcome.reason


def test_direction_lower_is_worse_fails_a_drop() -> None:
    throughput = compare_baseline(
        latencies(1, 40), latencies(2, 40, scale=0.5), direction="lower_is_worse"
    )
    assert throughput.verdict is Comparison.FAIL


def test_too_few_samples_is_inconclusive_never_a_pass() -> None:
    outcome = compare_baseline(
        latencies(1, 40), latencies(2, 5, scale=3.0), metric="latency", min_samples=10
    )
    assert outcome.verdict is Comparison.INCONCLUSIVE
    assert outcome.p_value is None
    assert "too few samples" in outcome.reason
    assert "n=5/40" in outcome.reason


def test_min_effect_ignores_a_tiny_but_significant_shift() -> None:
    baseline = latencies(1, 400)
    canary = [v * 1.02 for v in latencies(2, 400)]
    assert compare_baseline(baseline, canary, min_effect=0.3).verdict is Comparison.PASS


def test_empty_samples_are_refused() -> None:
    with pytest.raises(ValueError, match="at least one value"):
        mann_whitney([], [1.0])

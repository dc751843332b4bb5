"""Is the canary worse than the baseline? A rank test that needs no scipy and no normality.

Latency and error samples are skewed and full of ties, so a t-test would mislead. The
Mann-Whitney U test compares ranks instead: exact for small samples without ties, normal
approximation with tie correction and continuity correction otherwise, two-sided. The effect
size is the rank-biserial correlation ``r = 2 * U_canary / (n_b * n_c) - 1``: +1 when every
canary value is above every baseline value, 0 when neither tends higher, -1 the other way.

``compare_baseline`` turns that into a verdict for a canary step: fail only when the
difference is significant (p < alpha), in the bad direction, and at least ``min_effect``
strong; inconclusive when either side has fewer than ``min_samples`` values (never a pass on
too little evidence); pass otherwise.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from typing import Literal

Direction = Literal["higher_is_worse", "lower_is_worse", "either"]
_EXACT_MAX_TOTAL = 20


class Comparison(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"


@dataclass(frozen=True)
class MannWhitney:
    """The test's outcome. ``u`` counts pairs where the second sample is higher (ties half)."""

    u: float
    p_value: float
    effect_size: float
    method: Literal["exact", "normal"]
    z: float | None = None


@dataclass(frozen=True)
class BaselineComparison:
    verdict: Comparison
    reason: str
    baseline_median: float | None
    canary_median: float | None
    p_value: float | None
    effect_size: float | None
    n_baseline: int
    n_canary: int


def ranks(values: Sequence[float]) -> list[float]:
    """1-based ranks; tied values share the mean of the ranks they span."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    out = [0.0] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        mean_rank = (start + end) / 2 + 1
        for k in range(start, end + 1):
            out[order[k]] = mean_rank
        start = end + 1
    return out


def mann_whitney(
    first: Sequence[float],
    second: Sequence[float],
    *,
    method: Literal["auto", "exact", "normal"] = "auto",
) -> MannWhitney:
    """Two-sided Mann-Whitney U test of ``second`` against ``first``.

    ``auto`` is exact when there are no ties and at most 20 values in all, else normal.
    """
    n1, n2 = len(first), len(second)
    if n1 == 0 or n2 == 0:
        raise ValueError("both samples need at least one value")
    combined = [float(v) for v in first] + [float(v) for v in second]
    if any(math.isnan(v) for v in combined):
        raise ValueError("samples must not contain NaN")
    rank = ranks(combined)
    rank_second = math.fsum(rank[n1:])
    u2 = rank_second - n2 * (n2 + 1) / 2
    effect = 2 * u2 / (n1 * n2) - 1
    n = n1 + n2
    tie_sizes = _tie_sizes(combined)
    if method == "exact" and tie_sizes:
        raise ValueError("the exact test needs samples without ties")
    if method == "exact" or (method == "auto" and n <= _EXACT_MAX_TOTAL and not tie_sizes):
        return MannWhitney(u=u2, p_value=_exact_p(n1, n2, u2), effect_size=effect, method="exact")
    mean = n1 * n2 / 2
    tie_term = sum(t**3 - t for t in tie_sizes) / (n * (n - 1))
    variance = n1 * n2 / 12 * ((n + 1) - tie_term)
    if variance <= 0:
        return MannWhitney(u=u2, p_value=1.0, effect_size=effect, method="normal", z=0.0)
    distance = max(abs(u2 - mean) - 0.5, 0.0)
    z = math.copysign(distance / math.sqrt(variance), u2 - mean)
    p = min(1.0, math.erfc(abs(z) / math.sqrt(2)))
    return MannWhitney(u=u2, p_value=p, effect_size=effect, method="normal", z=z)


def compare_baseline(
    baseline: Sequence[float],
    canary: Sequence[float],
    *,
    metric: str = "metric",
    min_samples: int = 10,
    alpha: float = 0.05,
    direction: Direction = "higher_is_worse",
    min_effect: float = 0.0,
) -> BaselineComparison:
    """Judge the canary against the baseline; the reason names the metric, medians and p."""
    clean_b = [v for v in baseline if not math.isnan(v)]
    clean_c = [v for v in canary if not math.isnan(v)]
    med_b = statistics.median(clean_b) if clean_b else None
    med_c = statistics.median(clean_c) if clean_c else None
    medians = f"canary median {_fmt(med_c)} vs baseline {_fmt(med_b)}"
    sizes = f"n={len(clean_c)}/{len(clean_b)}"
    if len(clean_b) < min_samples or len(clean_c) < min_samples:
        return BaselineComparison(
            Comparison.INCONCLUSIVE,
            f"{metric}: too few samples to compare ({sizes}, need {min_samples} each); {medians}",
            med_b,
            med_c,
            None,
            None,
            len(clean_b),
            len(clean_c),
        )
    test = mann_whitney(clean_b, clean_c)
    higher = test.effect_size > 0
    worse = {
        "higher_is_worse": higher,
        "lower_is_worse": test.effect_size < 0,
        "either": test.effect_size != 0,
    }[direction]
    significant = test.p_value < alpha and abs(test.effect_size) >= min_effect
    trend = "higher" if higher else "lower"
    detail = f"{medians}, p={test.p_value:.3g} ({test.method} Mann-Whitney, {sizes})"
    if significant and worse:
        verdict = Comparison.FAIL
        summary = f"significantly {trend} (r={test.effect_size:+.2f})"
    elif significant:
        verdict = Comparison.PASS
        summary = f"significantly {trend}, which is better"
    else:
        verdict = Comparison.PASS
        summary = "no significant difference"
    return BaselineComparison(
        verdict,
        f"{metric}: {summary}: {detail}",
        med_b,
        med_c,
        test.p_value,
        test.effect_size,
        len(clean_b),
        len(clean_c),
    )


def _tie_sizes(values: Sequence[float]) -> list[int]:
    counts: dict[float, int] = {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    return [c for c in counts.values() if c > 1]


def _exact_p(n1: int, n2: int, u: float) -> float:
    total = math.comb(n1 + n2, n1)
    k = round(u)
    below = sum(_count(n1, n2, i) for i in range(0, k + 1))
    above = sum(_count(n1, n2, i) for i in range(k, n1 * n2 + 1))
    return min(1.0, 2 * min(below, above) / total)


@cache
def _count(m: int, n: int, u: int) -> int:
    """Arrangements of m and n distinct values in which U (for the n side) equals u."""
    if u < 0 or u > m * n:
        return 0
    if m == 0 or n == 0:
        return 1 if u == 0 else 0
    # The largest value is either from the n side (adds m to U) or from the m side.
    return _count(m, n - 1, u - m) + _count(m - 1, n, u)


def _fmt(value: float | None) -> str:
    return "none" if value is None else f"{value:.4g}"

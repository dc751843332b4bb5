"""Is the canary failing more often than the stable version? Answered as soon as evidence allows.

A threshold rule looks at an error ratio every interval and waits for ``failure_limit + 1``
breaches: slow when the fault is big, and at low traffic one stray error breaches it. The
router sees every request of both versions, so this module tests the two versions' per-request
outcomes directly, continuously, with a false-alarm rate fixed in advance however often it is
looked at (an *anytime-valid* test).

**The test.** Requests arrive in batches (what changed between two readings of the router's
counters): the canary served ``m1`` requests of which ``x`` failed, the stable version ``m2``
with ``t - x`` failed. If both versions fail each request independently with the same
probability, then given the batch's margins ``x`` is hypergeometric, whatever that probability
is. If the canary's odds of failing are ``psi`` times the stable version's, ``x`` follows
Fisher's noncentral hypergeometric distribution with parameter ``psi``. The product over batches
of ``f_psi(x) / f_psi0(x)`` is then a nonnegative martingale with mean 1 when the true ratio is
``psi0``, and a supermartingale for any true ratio below ``psi0`` (the family is exponential in
``log psi``, so a larger ``psi`` weighs less under a smaller truth). A mixture over a grid of
``psi`` above ``psi0`` (uniform in ``log psi`` over four decades) is still one, so by Ville's
inequality it ever reaches ``1 / alpha`` with probability at most ``alpha`` when the canary is
no worse than ``psi0`` times the stable version: that is the e-process ``MixtureSPRT`` tracks.
``psi0`` is 1, or the ``min_effect`` ratio, so trivial differences at high traffic do not roll
back. A batch where one side served nothing would carry no evidence, so readings are pooled
(``observe``) until both sides served a request; the pooling looks only at request counts,
which the routing decides, never at which side failed, so the guarantee holds. Batches with no
failure change nothing.

``psi`` is an odds ratio; for rare failures it is the ratio of the failure rates. The verdict
gives the estimate (the grid point of highest likelihood) and an anytime-valid confidence
interval at the same alpha: the ratios a two-sided mixture cannot reject.

**Latency.** The same test on counts of requests slower than a fixed bound, taken from the
stable version's own latency histogram before the canary started (``bound_for_quantile``).

``expected_requests`` estimates, by running this very test over generated streams, how many
canary requests a verdict takes for a given canary failure rate: ``runwright plan`` shows it.
Pure numpy and scipy, no I/O.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from runwright.errors import InputError
from runwright.model.checks import AnyCheck, Latency, RouterCheck

if TYPE_CHECKING:
    # numpy (like scipy below) loads when a check is first judged: planning, validating and
    # every other CLI command parse sequential checks without paying for it.
    import numpy as np
    from numpy.typing import NDArray

_STEPS_PER_DECADE = 16


@cache
def _grid() -> NDArray[np.float64]:
    """log10 of the odds ratios the likelihood is tracked at: 1e-4 .. 1e5."""
    import numpy as np

    grid: NDArray[np.float64] = (
        np.arange(-4 * _STEPS_PER_DECADE, 5 * _STEPS_PER_DECADE + 1) / _STEPS_PER_DECADE
    )
    return grid


ALTERNATIVE_DECADES = 4
_CHUNK = 4096
DEFAULT_EFFECTS = (0.2, 0.05, 0.01)
LATENCY_WARMUP = 100
"""A fresh canary's first requests are slower for reasons that pass (new connections from
the router, cold code paths): a latency check leaves its first 100 requests unjudged unless
it says ``warmup``. A failure check judges from the first request: errors do not warm up."""


@dataclass(frozen=True)
class SequentialSpec:
    """A ``method: sequential`` check of the router's per-request outcomes.

    ``quantile`` None judges failures (5xx and unanswered requests); a quantile judges the
    share of requests slower than the stable version's own quantile. ``alpha`` is the check's
    false-alarm probability per window, before the split across the window's checks.
    """

    name: str
    alpha: float = 0.01
    min_ratio: float = 1.0
    quantile: float | None = None
    effects: tuple[float, ...] = DEFAULT_EFFECTS
    poll_seconds: float = 0.02
    max_rows: int = 500
    warmup: int = 0

    def __post_init__(self) -> None:
        problem = None
        if not 0 < self.alpha < 1:
            problem = f"alpha must be between 0 and 1, got {self.alpha:g}"
        elif self.min_ratio < 1:
            problem = f"min_effect must be a ratio of at least 1, got {self.min_ratio:g}"
        elif self.quantile is not None and not 0 < self.quantile < 1:
            problem = f"latency quantile must be between 0 and 1, got {self.quantile:g}"
        elif any(not 0 < e < 1 for e in self.effects):
            problem = "effects are failure rates between 0% and 100%, e.g. [20%, 5%]"
        elif self.poll_seconds <= 0:
            problem = "poll must be more than 0s"
        elif self.max_rows < 2:
            problem = "max_rows must be at least 2"
        elif self.warmup < 0:
            problem = "warmup cannot be negative"
        if problem:
            raise InputError(f"check {self.name!r}: {problem}")

    @property
    def what(self) -> str:
        """What is compared, in words."""
        if self.quantile is None:
            return "failed requests (5xx or unanswered)"
        return f"requests slower than the stable version's p{_pct(self.quantile)}"


_KEYS = {
    "provider", "method", "alpha", "min_effect", "latency", "effects", "poll", "max_rows",
    "warmup", "draft", "line", "compare", "description",
}  # fmt: skip
_RATIO = re.compile(r"^\s*ratio\s*>=?\s*([0-9]*\.?[0-9]+)\s*$")


def is_sequential(check: AnyCheck) -> bool:
    return isinstance(check, RouterCheck) and check.method == "sequential"


def parse_sequential(name: str, check: AnyCheck) -> SequentialSpec:
    """Read a ``method: sequential`` check; every problem is an InputError naming the fix."""
    if not isinstance(check, RouterCheck):
        raise InputError(
            f"check {name!r}: method sequential needs provider: router",
            hint="it counts each version's requests at the router; add provider: router",
        )
    unknown = sorted(check.written() - _KEYS)
    if unknown:
        raise InputError(
            f"check {name!r}: {unknown[0]!r} does not apply to method: sequential",
            hint="a sequential check takes alpha, min_effect, latency, effects, poll, max_rows, "
            "warmup; "
            "it reads the router's counts itself (no query, no fail_if)",
        )
    try:
        effects = tuple(_rate(e) for e in (check.effects or DEFAULT_EFFECTS))
    except ValueError as exc:
        raise InputError(f"check {name!r}: {exc}") from None
    quantile = _quantile(name, check.latency)
    warmup = check.warmup
    if warmup is None:
        warmup = LATENCY_WARMUP if quantile is not None else 0
    return SequentialSpec(
        name=name,
        alpha=0.01 if check.alpha is None else check.alpha,
        min_ratio=_min_ratio(name, check.min_effect),
        quantile=quantile,
        effects=effects,
        poll_seconds=check.poll or 0.02,
        max_rows=500 if check.max_rows is None else check.max_rows,
        warmup=warmup,
    )


def _rate(value: str | float) -> float:
    if isinstance(value, str) and value.strip().endswith("%"):
        return float(value.strip()[:-1]) / 100
    return float(value)


def _min_ratio(name: str, raw: str | float | None) -> float:
    if raw is None:
        return 1.0
    if isinstance(raw, int | float):
        return float(raw)
    match = _RATIO.match(raw)
    if not match:
        raise InputError(
            f"check {name!r}: cannot read min_effect {raw!r}",
            hint='write the smallest ratio worth a rollback, e.g. min_effect: "ratio > 1.5"',
        )
    return float(match.group(1))


def _quantile(name: str, latency: Latency | None) -> float | None:
    if latency is None:
        return None
    value = latency.quantile
    if isinstance(value, str) and re.fullmatch(r"p\d{1,2}(\.\d+)?", value.strip()):
        return float(value.strip()[1:]) / 100
    if isinstance(value, int | float) and 0 < value < 1:
        return float(value)
    raise InputError(
        f"check {name!r}: cannot read latency {latency.model_dump()!r}",
        hint="write latency: {quantile: p90} (or p50, p99, 0.9)",
    )


def _pct(q: float) -> str:
    return f"{q * 100:g}"


# --- the test --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Estimate:
    """The ratio's point estimate and anytime-valid interval (``inf`` when unbounded)."""

    ratio: float
    low: float
    high: float

    def describe(self, alpha: float) -> str:
        level = f"{(1 - 2 * alpha) * 100:.4g}%"
        high = "unbounded" if math.isinf(self.high) else _num(self.high)
        low = "0" if self.low == 0 else _num(self.low)
        ratio = f"at least {_num(self.ratio)}" if math.isinf(self.high) else _num(self.ratio)
        return f"ratio {ratio} ({level} confidence interval {low} to {high})"


def _num(value: float) -> str:
    return f"{value:.3g}" if value < 1000 else f"{value:,.0f}"


class MixtureSPRT:
    """The e-process of one check over one window; feed it counter increments."""

    def __init__(self, alpha: float, null_ratio: float = 1.0) -> None:
        if not 0 < alpha < 1:
            raise ValueError("alpha must be between 0 and 1")
        import numpy as np

        self.alpha = alpha
        null = math.log10(null_ratio)
        grid = np.union1d(_grid(), [null])
        self.log_psi: NDArray[np.float64] = grid * math.log(10)
        self.null_index = int(np.searchsorted(grid, null))
        alternative = (grid > null + 1e-12) & (grid <= null + ALTERNATIVE_DECADES + 1e-12)
        self.alternative = np.flatnonzero(alternative)
        self.loglik: NDArray[np.float64] = np.zeros(len(grid))
        self.canary_requests = 0
        self.canary_failures = 0
        self.baseline_requests = 0
        self.baseline_failures = 0
        self.batches = 0
        self.pending = (0, 0, 0, 0)

    def observe(self, canary: tuple[int, int], baseline: tuple[int, int]) -> bool:
        """Pool a reading's increments; judge the pool once both sides served a request.
        True when a batch was judged (only then can ``rejected`` change)."""
        m1, x, m2, y = self.pending
        m1, x, m2, y = m1 + canary[0], x + canary[1], m2 + baseline[0], y + baseline[1]
        if m1 == 0 or m2 == 0:
            self.pending = (m1, x, m2, y)
            return False
        self.pending = (0, 0, 0, 0)
        self.update((m1, x), (m2, y))
        return x + y > 0

    def update(self, canary: tuple[int, int], baseline: tuple[int, int]) -> None:
        """Add a batch: ``(requests, failures)`` of each side since the last update."""
        m1, x = canary
        m2, y = baseline
        if min(m1, m2, x, y) < 0 or x > m1 or y > m2:
            raise ValueError(f"bad batch: canary {canary}, baseline {baseline}")
        self.canary_requests += m1
        self.canary_failures += x
        self.baseline_requests += m2
        self.baseline_failures += y
        t = x + y
        if m1 == 0 or m2 == 0 or t == 0 or t == m1 + m2:
            return
        self.batches += 1
        self.loglik += _log_fnch(x, m1, m2, t, self.log_psi)

    @property
    def log_e(self) -> float:
        """log of the e-value against "the canary's odds are at most the null ratio"."""
        if not len(self.alternative):
            return 0.0
        import numpy as np

        alt = self.loglik[self.alternative]
        top = float(alt.max())
        mixture = top + math.log(float(np.exp(alt - top).sum()) / len(alt))
        return mixture - float(self.loglik[self.null_index])

    @property
    def e_value(self) -> float:
        return math.exp(min(self.log_e, 700.0))

    @property
    def rejected(self) -> bool:
        return self.log_e >= math.log(1 / self.alpha)

    def estimate(self) -> Estimate:
        """Point estimate and the ratios neither one-sided test rejects at alpha: the test that
        fails the check (alternatives above) and its mirror (alternatives below). The interval
        holds the true ratio at all times with probability at least ``1 - 2 alpha``, and its
        low end is above the null ratio exactly when the check rejected."""
        import numpy as np
        from scipy.special import logsumexp

        ll = self.loglik
        psi = np.exp(self.log_psi)
        span = ALTERNATIVE_DECADES * _STEPS_PER_DECADE
        bar = math.log(1 / self.alpha)
        kept = []
        for k in range(len(ll)):
            up, down = ll[k + 1 : k + 1 + span], ll[max(0, k - span) : k]
            e_up = float(logsumexp(up)) - math.log(len(up)) - ll[k] if len(up) else 0.0
            e_down = float(logsumexp(down)) - math.log(len(down)) - ll[k] if len(down) else 0.0
            if e_up < bar and e_down < bar:
                kept.append(k)
        best = int(np.argmax(ll))
        if not kept:
            return Estimate(float(psi[best]), float(psi[best]), float(psi[best]))
        low = 0.0 if kept[0] == 0 else float(psi[kept[0]])
        high = math.inf if kept[-1] == len(psi) - 1 else float(psi[kept[-1]])
        if best == len(psi) - 1:
            return Estimate(low, low, math.inf)
        return Estimate(float(psi[best]), low, high)


def _log_fnch(
    x: int, m1: int, m2: int, t: int, log_psi: NDArray[np.float64]
) -> NDArray[np.float64]:
    """log P(x) under Fisher's noncentral hypergeometric, for every ``psi`` of the grid."""
    import numpy as np
    from scipy.special import logsumexp

    lo, hi = max(0, t - m2), min(t, m1)
    if t == 1:
        # One failure: it is the canary's with probability psi m1 / (psi m1 + m2).
        both = np.logaddexp(log_psi + math.log(m1), math.log(m2))
        out: NDArray[np.float64] = (log_psi + math.log(m1) if x else math.log(m2)) - both
        return out
    log_z = np.full(len(log_psi), -np.inf)
    for start in range(lo, hi + 1, _CHUNK):
        y = np.arange(start, min(hi, start + _CHUNK - 1) + 1, dtype=np.float64)
        h = _lcomb(m1, y) + _lcomb(m2, t - y)
        log_z = np.logaddexp(log_z, logsumexp(h[None, :] + np.outer(log_psi, y), axis=1))
    own = float(_lcomb(m1, np.float64(x)) + _lcomb(m2, np.float64(t - x)))
    result: NDArray[np.float64] = own + x * log_psi - log_z
    return result


def _lcomb(n: int, k: Any) -> Any:
    from scipy.special import gammaln  # imported when first judged: every CLI start is faster

    return gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1)


# --- counters ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Counts:
    """What one backend had served, cumulatively, at one reading."""

    requests: int
    failures: int


class Increments:
    """Turns cumulative counter readings into batches; a counter that went down was reset
    (the router restarted), so that reading becomes the new base and nothing is judged."""

    def __init__(self) -> None:
        self.last: dict[str, Counts] = {}
        self.resets = 0

    def step(self, name: str, now: Counts | None) -> tuple[int, int]:
        if now is None:
            return (0, 0)
        before = self.last.get(name)
        self.last[name] = now
        if before is None:
            return (0, 0)
        if now.requests < before.requests or now.failures < before.failures:
            self.resets += 1
            return (0, 0)
        requests = now.requests - before.requests
        return (requests, min(requests, now.failures - before.failures))


def bound_for_quantile(buckets: Sequence[tuple[float, int]], quantile: float) -> float | None:
    """The smallest bucket bound at or above ``quantile`` of a cumulative histogram."""
    finite = [(b, c) for b, c in buckets if math.isfinite(b)]
    total = max((c for _, c in buckets), default=0)
    if total <= 0 or not finite:
        return None
    for bound, count in finite:
        if count >= quantile * total:
            return bound
    return None


def slower_than(buckets: Sequence[tuple[float, int]], total: int, bound: float) -> int:
    """Requests slower than ``bound`` (a bucket bound) in a cumulative histogram."""
    at = next((c for b, c in buckets if abs(b - bound) <= 1e-12), None)
    return 0 if at is None else max(0, total - at)


# --- planning ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Traffic:
    """What the service saw recently: requests a second through the router (None: unknown)
    and the stable version's failure rate then, and where the figures come from."""

    requests_per_second: float | None
    failure_rate: float | None = None
    source: str = "unknown traffic"


@dataclass(frozen=True)
class Expectation:
    rate: float
    canary_requests: float | None
    """Mean canary requests to a rejection over the simulated streams; None: not within cap."""


def expected_requests(
    rate: float,
    *,
    baseline_rate: float,
    share: float,
    alpha: float,
    null_ratio: float = 1.0,
    batch: int = 10,
    streams: int = 200,
    cap: int = 200_000,
    seed: int = 17,
) -> Expectation:
    """Mean canary requests before this test rejects a canary failing ``rate`` of requests
    beside a stable version failing ``baseline_rate``, the canary taking ``share`` of traffic:
    the test itself run over ``streams`` generated streams (seeded), read every ``batch``
    requests (what a reading of the router's counters holds)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    counts: list[int] = []
    for _ in range(streams):
        test = MixtureSPRT(alpha, null_ratio)
        while True:
            m1 = int(rng.binomial(batch, share))
            x, y = int(rng.binomial(m1, rate)), int(rng.binomial(batch - m1, baseline_rate))
            if test.observe((m1, x), (batch - m1, y)) and test.rejected:
                break
            if test.canary_requests > cap:
                return Expectation(rate, None)
        counts.append(test.canary_requests)
    return Expectation(rate, float(np.mean(counts)))

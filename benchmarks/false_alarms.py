"""How often is a good canary rolled back? A/A canaries: the stable version released as its own
canary, judged by the sequential check and by the current threshold rule, side by side.

This is a simulation, not real processes: 400 canaries of two minutes each at two traffic
levels would take over 26 hours of real releases. It is driven by runwright's real code over
generated per-request streams (seeded): requests are routed by the builtin router's own
smooth weighted round robin (``routers.base.smooth_schedule``, 10% to the canary), both
versions fail each request independently with the same probability (1% by default), and

- the sequential check is ``engine.sequential.MixtureSPRT`` fed the counts of each reading of
  the router's counters, as ``SequentialWatch`` feeds it: at 10 requests/s the builtin router
  wakes the watch on every request, at 1,000 requests/s the watch reads about every 10 ms
  (what its long poll achieved on this machine), so a reading holds 10 requests;
- the current rule is ``engine.checks.CheckEvaluator`` with the benchmark's and the demo's
  rule (the canary's router error ratio ``fail_if > 5%``, ``interval`` 0.5 s,
  ``failure_limit`` 2, ``no_data: ignore``: an interval with no canary request is not judged).

Printed per traffic level and method: canaries rolled back, the share, and its 95%
Clopper-Pearson interval. The sequential check's share must be at most alpha.

    PYTHONPATH=src python benchmarks/false_alarms.py [--canaries 400] [--seconds 120]
        [--rates 10,1000] [--error-rate 0.01] [--alpha 0.01] [--seed 17]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from scipy.stats import beta

from runwright.engine.checks import CheckEvaluator, Verdict, parse_check
from runwright.engine.sequential import MixtureSPRT
from runwright.model.checks import check_from
from runwright.routers.base import smooth_schedule

CURRENT_RULE = {
    "query": "canary error ratio",
    "fail_if": "> 5%",
    "interval": 0.5,
    "failure_limit": 2,
    "no_data": "ignore",
}


@dataclass(frozen=True)
class Stream:
    """One A/A canary's requests: which went to the canary, which failed, when."""

    canary: np.ndarray
    failed: np.ndarray
    rate: float


def generate(rng: np.random.Generator, rate: float, seconds: float, p: float) -> Stream:
    n = int(rate * seconds)
    cycle = np.array(smooth_schedule([90, 10])) == 1
    canary = np.resize(cycle, n)
    return Stream(canary=canary, failed=rng.random(n) < p, rate=rate)


def sequential_rejects(stream: Stream, alpha: float, per_reading: int) -> bool:
    c, f = stream.canary, stream.failed
    usable = len(c) // per_reading * per_reading
    shape = (-1, per_reading)
    m1 = c[:usable].reshape(shape).sum(1).tolist()
    x = (c & f)[:usable].reshape(shape).sum(1).tolist()
    y = (~c & f)[:usable].reshape(shape).sum(1).tolist()
    test = MixtureSPRT(alpha)
    for a, b, d in zip(m1, x, y, strict=True):
        if test.observe((a, b), (per_reading - a, d)) and test.rejected:
            return True
    return False


def threshold_rejects(stream: Stream) -> bool:
    spec = parse_check("error-rate", check_from("error-rate", CURRENT_RULE))
    start = datetime(2026, 1, 1, tzinfo=UTC)
    evaluator = CheckEvaluator(spec, start)
    per = int(stream.rate * spec.interval_seconds)
    c, f = stream.canary, stream.failed
    # The first reading only primes the rates (as a scrape of counters does).
    for k in range(1, len(c) // per):
        window = slice((k - 1) * per, k * per)
        requests = int(c[window].sum())
        value = int((c[window] & f[window]).sum()) / requests if requests else None
        evaluator.observe(start + timedelta(seconds=k * spec.interval_seconds), value)
        if evaluator.verdict is Verdict.FAILED:
            return True
    return False


def clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    a = (1 - level) / 2
    low = 0.0 if k == 0 else float(beta.ppf(a, k, n - k + 1))
    high = 1.0 if k == n else float(beta.ppf(1 - a, k + 1, n - k))
    return low, high


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--canaries", type=int, default=400)
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--rates", default="10,1000")
    parser.add_argument("--error-rate", type=float, default=0.01)
    parser.add_argument("--alpha", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    rows: list[dict[str, Any]] = []
    print(
        f"SIMULATION (not real processes): {args.canaries} A/A canaries per traffic level, "
        f"{args.seconds:g} s each, canary at 10% by the builtin router's schedule, both "
        f"versions failing {args.error_rate:.2%} of requests; runwright's own test code judges"
    )
    print(f"{'req/s':>6}  {'method':<44} {'rolled back':>12} {'share':>7}  95% Clopper-Pearson")
    ok = True
    for rate in (float(r) for r in args.rates.split(",")):
        per_reading = max(1, round(rate * 0.01))
        seq = cur = 0
        began = time.monotonic()
        for _ in range(args.canaries):
            stream = generate(rng, rate, args.seconds, args.error_rate)
            seq += sequential_rejects(stream, args.alpha, per_reading)
            cur += threshold_rejects(stream)
        took = time.monotonic() - began
        for method, k in (
            (f"sequential (alpha {args.alpha:g}, {per_reading} req/reading)", seq),
            ("current rule (> 5%, 0.5 s, failure_limit 2)", cur),
        ):
            low, high = clopper_pearson(k, args.canaries)
            share = k / args.canaries
            print(
                f"{rate:>6,.0f}  {method:<44} {k:>5} of {args.canaries:<4} {share:>7.2%}  "
                f"[{low:.2%}, {high:.2%}]"
            )
            rows.append(
                {"rate": rate, "method": method, "rolled_back": k, "canaries": args.canaries,
                 "share": share, "clopper_pearson_95": [low, high]}
            )  # fmt: skip
        ok = ok and seq / args.canaries <= args.alpha
        print(f"        ({took:.1f} s to simulate)", file=sys.stderr)
    print(f"{'MEETS' if ok else 'MISSES'}: the sequential check's share is at most alpha")
    if args.json:
        print(json.dumps(rows, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

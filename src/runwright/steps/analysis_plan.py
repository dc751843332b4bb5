"""What ``runwright plan`` shows of an analysis: each check's rule and the worst-case time from
a fault to the start of rollback (a sequential check: the requests and time it expects).

Apart from steps/analysis.py, which runs the checks, so the plan's wording changes alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from runwright.engine.checks import worst_case_abort_seconds as worst_case
from runwright.engine.sequential import SequentialSpec, Traffic
from runwright.model.checks import AnyCheck
from runwright.model.durations import format_duration
from runwright.steps.analysis import (
    check_rules,
    compare_settings,
    compares,
    definitions,
    sequential_count,
)
from runwright.steps.sequential_watch import plan_sequential


def plan_lines(
    names: Sequence[str],
    checks: Mapping[str, AnyCheck],
    *,
    compare: str | None = None,
    traffic: Traffic | None = None,
    share: float | None = None,
) -> tuple[list[str], float]:
    """Lines describing each check and the worst-case seconds from a fault to rollback start
    (a sequential check has none: its lines give the expected requests and time instead)."""
    lines: list[str] = []
    worst = 0.0
    found = definitions(names, checks)
    split = sequential_count(found)
    for name, check in found.items():
        rules = check_rules(name, check)
        if isinstance(rules, SequentialSpec):
            lines += plan_sequential(rules, split, compare, traffic, share)
            continue
        spec = rules
        seconds = worst_case(spec)
        rule = (
            f"for {format_duration(spec.for_seconds)}"
            if spec.for_seconds is not None
            else f"failure_limit {spec.limit}"
        )
        delay = (
            f" after the initial delay of {format_duration(spec.initial_delay_seconds)}"
            if spec.initial_delay_seconds
            else ""
        )
        lines.append(
            f"check {name}: {spec.condition} on {check.provider} "
            f"'{spec.query}' every {format_duration(spec.interval_seconds)}, {rule}: "
            f"worst case {format_duration(seconds)} from a fault to the start of rollback{delay}"
        )
        if compares(compare, check):
            c = compare_settings(name, check)
            lines.append(
                f"check {name}: compared with the stable version when the window ends "
                f"(Mann-Whitney p < {c.alpha:g}, {c.direction}, at least {c.min_samples} "
                "samples each, else a person decides)"
            )
        worst = max(worst, seconds + spec.initial_delay_seconds)
    return lines, worst

"""The rules that decide a rollback: sustained breach, failure limit, no data, provider errors."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import pytest

from runwright.engine.checks import (
    CheckEvaluator,
    CheckSpec,
    Condition,
    NoDataPolicy,
    Observation,
    Verdict,
    parse_check,
    replay,
    worst_case_abort_seconds,
)
from runwright.engine.clock import FakeClock
from runwright.errors import InputError
from runwright.model.checks import check_from

ERRORS = Condition.parse("> 0.01", mode="fail_if")


def spec(**overrides: object) -> CheckSpec:
    values: dict[str, object] = {
        "name": "error-rate",
        "condition": ERRORS,
        "query": "rate(errors) / rate(requests)",
        "interval_seconds": 10.0,
    }
    values.update(overrides)
    return CheckSpec(**values)  # type: ignore[arg-type]


def feed(check: CheckSpec, values: Sequence[float | None | str]) -> CheckEvaluator:
    """Measure ``values`` one interval apart on a fake clock; a str is a provider error."""
    clock = FakeClock()
    evaluator = CheckEvaluator(check, clock.now())
    for value in values:
        if isinstance(value, str):
            evaluator.observe_error(clock.now(), value)
        else:
            evaluator.observe(clock.now(), value)
        clock.advance(check.interval_seconds)
    return evaluator


# --- conditions -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "op", "threshold"),
    [
        ("> 0.01", ">", 0.01),
        (">=2", ">=", 2.0),
        ("> 1%", ">", 0.01),
        ("< 2s", "<", 2.0),
        ("<= 500ms", "<=", 0.5),
        ("= 1", "==", 1.0),
        ("!= 0", "!=", 0.0),
    ],
)
def test_conditions_read_as_people_write_them(text: str, op: str, threshold: float) -> None:
    condition = Condition.parse(text, mode="fail_if")
    assert condition.operator == op
    assert condition.threshold == pytest.approx(threshold)


@pytest.mark.parametrize("text", ["0.01", "> lots", "> 5 parsecs", 3, ""])
def test_unreadable_conditions_are_refused_with_an_example(text: object) -> None:
    with pytest.raises(InputError, match="cannot read condition"):
        Condition.parse(text, mode="fail_if")


def test_pass_if_breaches_when_the_condition_does_not_hold() -> None:
    latency = Condition.parse("< 2", mode="pass_if")
    assert latency.breached(2.5)
    assert latency.breached(2.0)
    assert not latency.breached(1.9)
    assert latency.short == "needs < 2"


# --- for: sustained breach ------------------------------------------------------------------


def test_breach_just_short_of_the_span_does_not_fail() -> None:
    evaluator = feed(spec(for_seconds=30.0), [0.21, 0.19, 0.23])
    assert evaluator.verdict is Verdict.RUNNING
    assert evaluator.records[-1].reason == "breached for 20s of 30s"


def test_breach_over_the_full_span_fails_naming_values_condition_and_span() -> None:
    evaluator = feed(spec(for_seconds=30.0), [0.0, 0.21, 0.19, 0.23, 0.25])
    assert evaluator.verdict is Verdict.FAILED
    assert evaluator.result.reason == "error-rate was 0.21, 0.19, 0.23, 0.25 (> 0.01) for 30s"
    assert [r.verdict for r in evaluator.records] == [Verdict.RUNNING] * 4 + [Verdict.FAILED]


def test_one_good_measurement_resets_the_streak() -> None:
    evaluator = feed(spec(for_seconds=30.0), [0.2, 0.2, 0.2, 0.0, 0.2, 0.2, 0.2])
    assert evaluator.result.verdict is Verdict.RUNNING
    evaluator.observe(evaluator.next_due(), 0.2)
    assert evaluator.verdict is Verdict.FAILED
    assert "for 30s" in evaluator.result.reason


def test_provider_errors_do_not_reset_a_sustained_breach() -> None:
    evaluator = feed(spec(for_seconds=30.0), [0.2, "timeout", 0.2, 0.2])
    assert evaluator.verdict is Verdict.FAILED
    assert evaluator.result.reason == "error-rate was 0.2, 0.2, 0.2 (> 0.01) for 30s"


def test_window_ending_mid_breach_pauses_rather_than_passes() -> None:
    evaluator = feed(spec(for_seconds=30.0), [0.0, 0.2, 0.2])
    result = evaluator.conclude(evaluator.next_due())
    assert result.verdict is Verdict.PAUSED
    assert "short of the 30s" in result.reason


def test_pass_if_latency_sustained() -> None:
    latency = spec(
        name="p95-latency", condition=Condition.parse("< 2s", mode="pass_if"), for_seconds=20.0
    )
    evaluator = feed(latency, [1.2, 2.4, 2.6, 3.1])
    assert evaluator.verdict is Verdict.FAILED
    assert evaluator.result.reason == "p95-latency was 2.4, 2.6, 3.1 (needs < 2) for 20s"


# --- failure_limit --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("breaches", "verdict"),
    [(1, Verdict.RUNNING), (2, Verdict.RUNNING), (3, Verdict.FAILED)],
    ids=["below", "at", "above"],
)
def test_failure_limit_tolerates_exactly_n_breaches(breaches: int, verdict: Verdict) -> None:
    values = [0.0, 0.5] * breaches + [0.0]
    evaluator = feed(spec(failure_limit=2), values)
    assert evaluator.verdict is verdict


def test_failure_limit_counts_breaches_that_are_not_consecutive() -> None:
    evaluator = feed(spec(failure_limit=2), [0.3, 0.0, 0.4, 0.0, 0.0, 0.5])
    assert evaluator.verdict is Verdict.FAILED
    assert evaluator.result.reason == (
        "error-rate was 0.3, 0.4, 0.5 (> 0.01): 3 breaches, more than failure_limit 2"
    )


def test_no_rule_means_the_first_breach_fails() -> None:
    evaluator = feed(spec(), [0.0, 0.02])
    assert evaluator.verdict is Verdict.FAILED
    assert "more than failure_limit 0" in evaluator.result.reason


def test_clean_window_passes_and_says_so() -> None:
    evaluator = feed(spec(failure_limit=1), [0.0, 0.5, 0.0])
    result = evaluator.conclude(evaluator.next_due())
    assert result.verdict is Verdict.PASSED
    assert result.reason == (
        "error-rate met its condition (fail_if > 0.01) in 3 measurements, "
        "1 tolerated by failure_limit 1"
    )


# --- no data --------------------------------------------------------------------------------


def test_no_data_pauses_by_default_for_a_person_to_decide() -> None:
    evaluator = feed(spec(), [0.0, None])
    assert evaluator.verdict is Verdict.PAUSED
    assert evaluator.result.reason == (
        "error-rate returned no data at 10:00:10; a person decides (no_data: pause)"
    )


def test_no_data_can_fail() -> None:
    evaluator = feed(spec(no_data=NoDataPolicy.FAIL), [None])
    assert evaluator.verdict is Verdict.FAILED
    assert evaluator.result.reason.endswith("(no_data: fail)")


def test_ignored_no_data_is_recorded_but_not_judged() -> None:
    evaluator = feed(spec(no_data=NoDataPolicy.IGNORE), [None, 0.0, None])
    assert evaluator.verdict is Verdict.RUNNING
    assert [r.reason for r in evaluator.records][0] == "no data (ignored)"
    assert evaluator.conclude(evaluator.next_due()).verdict is Verdict.PASSED


def test_a_window_with_no_data_at_all_never_passes_even_when_ignored() -> None:
    evaluator = feed(spec(no_data=NoDataPolicy.IGNORE), [None, None])
    assert evaluator.conclude(evaluator.next_due()).verdict is Verdict.PAUSED


def test_a_paused_check_still_fails_on_a_clear_breach() -> None:
    evaluator = feed(spec(), [None, 0.5])
    assert evaluator.verdict is Verdict.FAILED


def test_resume_after_a_pause_continues_measuring() -> None:
    evaluator = feed(spec(), [None])
    evaluator.resume()
    evaluator.observe(evaluator.next_due(), 0.0)
    assert evaluator.conclude(evaluator.next_due()).verdict is Verdict.PASSED


# --- provider errors ------------------------------------------------------------------------


def test_errors_up_to_the_limit_keep_running_and_one_more_is_an_error() -> None:
    evaluator = feed(spec(consecutive_error_limit=2), ["refused", "refused"])
    assert evaluator.result.verdict is Verdict.RUNNING
    evaluator.observe_error(evaluator.next_due(), "connection refused")
    assert evaluator.verdict is Verdict.ERROR
    assert evaluator.result.reason == (
        "error-rate could not be measured 3 times in a row "
        "(more than consecutive_error_limit 2): connection refused"
    )


def test_a_good_measurement_resets_the_error_count() -> None:
    evaluator = feed(spec(consecutive_error_limit=2), ["x", "x", 0.0, "x", "x"])
    assert evaluator.verdict is Verdict.RUNNING


# --- records, schedule, replay --------------------------------------------------------------


def test_every_measurement_becomes_a_record_with_query_value_condition_and_verdict() -> None:
    clock = FakeClock()
    evaluator = CheckEvaluator(spec(failure_limit=0), clock.now())
    evaluator.observe(clock.now(), 0.002, query="sent query")
    clock.advance(10)
    evaluator.observe(clock.now(), 0.3)
    first, second = evaluator.records
    assert (first.at, first.query, first.value, first.condition, first.verdict) == (
        clock.now() - timedelta(seconds=10),
        "sent query",
        0.002,
        "fail_if > 0.01",
        Verdict.RUNNING,
    )
    assert (second.query, second.breached, second.verdict) == (
        "rate(errors) / rate(requests)",
        True,
        Verdict.FAILED,
    )


def test_measurements_after_a_final_verdict_do_not_change_it() -> None:
    evaluator = feed(spec(), [0.5, 0.0])
    assert evaluator.verdict is Verdict.FAILED
    assert evaluator.records[-1].reason == "measured after the verdict"


def test_schedule_starts_after_the_initial_delay() -> None:
    clock = FakeClock()
    evaluator = CheckEvaluator(spec(initial_delay_seconds=30.0), clock.now())
    assert evaluator.next_due() == clock.now() + timedelta(seconds=30)
    evaluator.observe(evaluator.next_due(), 0.0)
    assert evaluator.next_due() == clock.now() + timedelta(seconds=40)


def test_replay_of_stored_observations_reaches_the_same_verdict() -> None:
    live = feed(spec(for_seconds=20.0), [0.0, 0.2, "timeout", 0.3])
    stored = [Observation(r.at, r.value, r.query, r.error) for r in live.records]
    again = replay(live.spec, live.started_at, stored)
    assert again.result == live.result
    assert again.records == live.records


# --- worst-case time to abort ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "seconds"),
    [
        ({}, 10.0),
        ({"failure_limit": 2}, 30.0),
        ({"failure_limit": 4, "interval_seconds": 60.0}, 300.0),
        ({"for_seconds": 30.0}, 40.0),
        ({"for_seconds": 25.0}, 40.0),
        ({"for_seconds": 300.0, "interval_seconds": 60.0}, 360.0),
        ({"for_seconds": 0.0}, 10.0),
        ({"failure_limit": 1, "initial_delay_seconds": 120.0}, 20.0),
    ],
)
def test_worst_case_abort(overrides: dict[str, float], seconds: float) -> None:
    assert worst_case_abort_seconds(spec(**overrides)) == pytest.approx(seconds)


@pytest.mark.parametrize(("fault_after", "limit"), [(0.1, 2), (9.9, 2), (5.0, 0)])
def test_worst_case_abort_bounds_a_simulated_fault(fault_after: float, limit: int) -> None:
    check = spec(failure_limit=limit)
    clock = FakeClock()
    evaluator = CheckEvaluator(check, clock.now())
    fault_at = clock.now() + timedelta(seconds=fault_after)
    while evaluator.verdict is Verdict.RUNNING:
        at = evaluator.next_due()
        evaluator.observe(at, 0.5 if at >= fault_at else 0.0)
    took = (evaluator.records[-1].at - fault_at).total_seconds()
    assert took <= worst_case_abort_seconds(check)


# --- specs from a runbook -------------------------------------------------------------------


def test_parse_check_reads_a_runbook_mapping() -> None:
    check = parse_check(
        "error-rate",
        check_from("error-rate", {
            "provider": "prometheus",
            "query": "q",
            "fail_if": "> 1%",
            "interval": "30s",
            "for": "5m",
            "initial_delay": "1m",
            "no_data": "fail",
        }),
    )  # fmt: skip
    assert (check.condition.threshold, check.interval_seconds, check.for_seconds) == (
        0.01,
        30.0,
        300.0,
    )
    assert (check.initial_delay_seconds, check.no_data) == (60.0, NoDataPolicy.FAIL)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"query": "q"}, "exactly one of fail_if or pass_if"),
        ({"fail_if": "> 1", "pass_if": "< 1"}, "exactly one of fail_if or pass_if"),
        ({"fail_if": "> 1", "for": "1m", "failure_limit": 2}, "not both"),
        ({"fail_if": "> 1", "no_data": "pass"}, "no_data must be"),
        ({"fail_if": "> 1", "interval": "0s"}, "interval must be"),
        ({"fail_if": "> 1", "failure_limit": "two"}, "whole number"),
    ],
)
def test_parse_check_refuses_ambiguous_rules(data: dict[str, object], message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_check("c", check_from("c", data))

"""The scrape query language: what it accepts, what it refuses, and the numbers it computes."""

from __future__ import annotations

import pytest

from runwright.errors import ProviderError
from runwright.providers.promtext import Exposition, parse
from runwright.providers.scrape import evaluate, needs_previous, parse_query

ERROR_RATIO = 'rate(demo_requests_total{status=~"5.."}) / rate(demo_requests_total)'
P95 = "histogram_quantile(0.95, demo_request_duration_seconds_bucket)"


def page(requests: dict[str, float], buckets: dict[str, float] | None = None) -> Exposition:
    lines = ["# TYPE demo_requests_total counter"]
    lines += [f'demo_requests_total{{status="{k}"}} {v}' for k, v in requests.items()]
    lines.append("# TYPE demo_request_duration_seconds histogram")
    for le, count in (buckets or {}).items():
        lines.append(f'demo_request_duration_seconds_bucket{{le="{le}",route="/"}} {count}')
    lines.append("demo_inflight 3")
    return parse("\n".join(lines) + "\n")


def value(query: str, cur: Exposition, prev: Exposition | None, seconds: float = 10.0) -> float:
    result, note = evaluate(parse_query(query), cur, prev, seconds)
    assert result is not None, note
    return result


def test_error_ratio_between_two_scrapes() -> None:
    before = page({"200": 1000, "500": 10})
    after = page({"200": 1180, "500": 30})
    assert value(ERROR_RATIO, after, before) == pytest.approx(20 / 200)


def test_rate_is_per_second_and_increase_is_not() -> None:
    before, after = page({"200": 100}), page({"200": 400})
    assert value("rate(demo_requests_total)", after, before, seconds=30) == pytest.approx(10.0)
    assert value("increase(demo_requests_total)", after, before) == pytest.approx(300.0)


def test_counter_reset_counts_from_zero_and_new_series_count_in_full() -> None:
    before = page({"200": 5000})
    after = page({"200": 40, "503": 10})
    assert value("increase(demo_requests_total)", after, before) == pytest.approx(50.0)
    assert value(ERROR_RATIO, after, before) == pytest.approx(10 / 50)


def test_no_matching_series_of_a_known_metric_is_zero_errors_not_no_data() -> None:
    before, after = page({"200": 100}), page({"200": 200})
    assert value(ERROR_RATIO, after, before) == 0.0


def test_unknown_metric_is_no_data_so_a_typo_cannot_pass() -> None:
    result, note = evaluate(parse_query("rate(demo_requets_total)"), page({}), page({}), 10.0)
    assert result is None
    assert "not on the page" in note


def test_no_traffic_makes_a_ratio_no_data() -> None:
    same = page({"200": 100})
    result, note = evaluate(parse_query(ERROR_RATIO), same, same, 10.0)
    assert (result, note) == (None, "division by zero (no traffic between the scrapes?)")


def test_first_scrape_has_no_data_for_rates_but_gauges_read_at_once() -> None:
    result, note = evaluate(parse_query(ERROR_RATIO), page({"200": 1}), None, 0.0)
    assert result is None
    assert "first scrape" in note
    assert value("demo_inflight", page({}), None) == 3.0
    assert needs_previous(parse_query(P95))
    assert not needs_previous(parse_query("demo_inflight"))


def test_histogram_quantile_interpolates_over_observations_between_scrapes() -> None:
    before = page({}, {"0.1": 100, "0.5": 100, "1": 100, "+Inf": 100})
    after = page({}, {"0.1": 150, "0.5": 190, "1": 200, "+Inf": 200})
    # 100 new observations: 50 <= 0.1s, 40 in (0.1, 0.5], 10 in (0.5, 1].
    assert value(P95, after, before) == pytest.approx(0.5 + 0.5 * (95 - 90) / 10)
    assert value(
        "histogram_quantile(0.5, demo_request_duration_seconds_bucket)", after, before
    ) == pytest.approx(0.1)
    assert value(
        "histogram_quantile(0.25, rate(demo_request_duration_seconds_bucket))", after, before
    ) == pytest.approx(0.05)


def test_histogram_quantile_in_the_inf_bucket_is_the_highest_finite_bound() -> None:
    before = page({}, {"0.1": 0, "1": 0, "+Inf": 0})
    after = page({}, {"0.1": 0, "1": 1, "+Inf": 20})
    assert value(P95, after, before) == 1.0


def test_histogram_with_no_new_observations_is_no_data() -> None:
    same = page({}, {"0.1": 5, "+Inf": 5})
    result, note = evaluate(parse_query(P95), same, same, 10.0)
    assert result is None
    assert "no observations" in note


def test_arithmetic_precedence_negation_and_parentheses() -> None:
    gauges = parse("a 6\nb 2\nc 4\n")
    assert value("a - b * c", gauges, None) == -2.0
    assert value("(a - b) * c / 8", gauges, None) == 2.0
    assert value("-a + 10", gauges, None) == 4.0
    assert value("100 * a", gauges, None) == 600.0


def test_label_matchers_follow_promql_semantics() -> None:
    gauges = parse('q{code="200"} 1\nq{code="404"} 2\nq{code="500"} 4\nq 8\n')
    assert value('q{code="404"}', gauges, None) == 2.0
    assert value('q{code!="404"}', gauges, None) == 13.0
    assert value('q{code=~"4.."}', gauges, None) == 2.0
    assert evaluate(parse_query('q{code=~"5"}'), gauges, None, 0.0)[0] is None, "anchored"
    assert value('q{code!~"[45].."}', gauges, None) == 9.0
    assert value('q{code=""}', gauges, None) == 8.0


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("rate(demo_requests_total[5m])", "range selectors such as \\[5m\\] are not needed"),
        ("sum(rate(demo_requests_total))", "function sum\\(\\) is not supported"),
        ("rate(x) by (status)", "unexpected 'by'"),
        ("rate(x) > 0.01", "belongs in the check's condition"),
        ("histogram_quantile(1.5, x_bucket)", "between 0 and 1"),
        ("histogram_quantile(0.9, x_count)", "needs a \\*_bucket metric"),
        ('x{code=~"("}', "bad regular expression"),
        ("x{code=200}", "must be a quoted string"),
        ("rate(x", "expected '\\)' but the query ended"),
        ("x @ 5", "cannot read '@ 5'"),
    ],
)
def test_unsupported_queries_are_refused_with_a_clear_message(query: str, message: str) -> None:
    with pytest.raises(ProviderError, match=message) as caught:
        parse_query(query)
    assert caught.value.retryable is False
    assert caught.value.hint is not None
    assert "rate()" in caught.value.hint

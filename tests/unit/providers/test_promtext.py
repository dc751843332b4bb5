"""Reading /metrics pages as real exporters write them."""

from __future__ import annotations

import math

import pytest

from runwright.providers.promtext import PromTextError, parse

PAGE = r"""# HELP demo_requests_total Requests served, by status.
# TYPE demo_requests_total counter
demo_requests_total{method="GET",status="200"} 1027
demo_requests_total{method="POST",status="500"} 3 1395066363000
# A comment that is neither HELP nor TYPE.

# HELP demo_request_duration_seconds Request latency.
# TYPE demo_request_duration_seconds histogram
demo_request_duration_seconds_bucket{le="0.1"} 80
demo_request_duration_seconds_bucket{le="0.5"} 95
demo_request_duration_seconds_bucket{le="+Inf"} 100
demo_request_duration_seconds_sum 17.5
demo_request_duration_seconds_count 100
demo_info{version="v1.2.3",path="C:\\srv\\app",quote="say \"hi\"",multi="a\nb"} 1
process_start_time_seconds 1.7e+09
go_gc_pause{quantile="0.5",} NaN
weird_gauge   -Inf
"""


def test_a_realistic_page_parses_into_samples_types_and_help() -> None:
    page = parse(PAGE)
    assert page.types["demo_requests_total"] == "counter"
    assert page.types["demo_request_duration_seconds"] == "histogram"
    assert page.helps["demo_requests_total"] == "Requests served, by status."
    requests = page.named("demo_requests_total")
    assert [(s.labels["status"], s.value) for s in requests] == [("200", 1027.0), ("500", 3.0)]
    assert requests[1].timestamp_ms == 1395066363000
    buckets = page.named("demo_request_duration_seconds_bucket")
    assert [s.labels["le"] for s in buckets] == ["0.1", "0.5", "+Inf"]
    assert page.named("process_start_time_seconds")[0].value == 1.7e9


def test_escaped_label_values_are_unescaped() -> None:
    (info,) = parse(PAGE).named("demo_info")
    assert info.labels == {
        "version": "v1.2.3",
        "path": "C:\\srv\\app",
        "quote": 'say "hi"',
        "multi": "a\nb",
    }


def test_special_values_and_a_trailing_comma_in_labels() -> None:
    page = parse(PAGE)
    assert math.isnan(page.named("go_gc_pause")[0].value)
    assert page.named("go_gc_pause")[0].labels == {"quantile": "0.5"}
    assert page.named("weird_gauge")[0].value == -math.inf


def test_openmetrics_eof_ends_the_page() -> None:
    page = parse("a_total 1\n# EOF\nthis is not parsed\n")
    assert [s.name for s in page.samples] == ["a_total"]


def test_label_value_with_braces_and_commas_stays_whole() -> None:
    (sample,) = parse('x{path="/a{b},c",code="200"} 2\n').samples
    assert sample.labels == {"path": "/a{b},c", "code": "200"}


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("demo 1 2 3", "only a value and an optional timestamp"),
        ('demo{a="1" 1', "expected ',' or '}'"),
        ("demo{a=1} 1", "double quotes"),
        ('demo{a="1} 1', "closing quote"),
        ("demo one", "not a number"),
        ('{a="1"} 1', "must start with a metric name"),
        ('demo{a="1",a="2"} 1', "appears twice"),
    ],
)
def test_malformed_lines_are_refused_naming_the_line(line: str, message: str) -> None:
    with pytest.raises(PromTextError, match=message) as caught:
        parse(f"ok_total 1\n{line}\n")
    assert str(caught.value).startswith("line 2:")

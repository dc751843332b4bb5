"""Durations as runbooks write them, and back into the short form reports print."""

from __future__ import annotations

import pytest

from runwright.model.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90.0),
        ("5m", 300.0),
        ("1h30m", 5400.0),
        ("1h 30m", 5400.0),
        ("250ms", 0.25),
        ("0.2s", 0.2),
        ("2 minutes", 120.0),
        ("1 hour", 3600.0),
        ("1d", 86400.0),
        ("45", 45.0),
        (" 10 SEC ", 10.0),
        (30, 30.0),
        (1.5, 1.5),
        (0, 0.0),
    ],
)
def test_parse(text: object, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("5 parsecs", "unknown unit 'parsecs' in duration '5 parsecs'; use ms, s, m, h or d"),
        ("soon", "cannot read duration 'soon'; write it like '30s', '5m' or '1h30m'"),
        ("5m!", "cannot read duration '5m!'"),
        ("", "expected a duration such as '30s' or '5m', got ''"),
        (True, "expected a duration such as '30s' or '5m', got True"),
        (None, "expected a duration"),
        ([5], "expected a duration"),
        (-1, "a duration cannot be negative"),
    ],
)
def test_parse_refuses_with_a_reason(value: object, message: str) -> None:
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(").replace("?", r"\?")):
        parse_duration(value)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.25, "250ms"),
        (0, "0ms"),
        (1, "1s"),
        (1.5, "1.5s"),
        (59, "59s"),
        (60, "1m"),
        (90, "1m30s"),
        (300, "5m"),
        (3600, "1h"),
        (5400, "1h30m"),
        (3661, "1h1m"),
    ],
)
def test_format(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize("text", ["250ms", "1s", "5m", "1h30m", "90s", "2h"])
def test_format_reads_back(text: str) -> None:
    seconds = parse_duration(text)
    assert parse_duration(format_duration(seconds)) == pytest.approx(seconds)

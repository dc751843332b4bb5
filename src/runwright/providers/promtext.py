"""A parser of the Prometheus text exposition format, so runwright can read ``/metrics`` itself.

The scrape provider judges a release with no Prometheus server at all: it fetches a service's
(or a router's) ``/metrics`` page and parses it here. The format (version 0.0.4, which
OpenMetrics text mostly shares) is one sample per line::

    # HELP http_requests_total Requests served.
    # TYPE http_requests_total counter
    http_requests_total{method="post",code="200"} 1027 1395066363000
    http_request_duration_seconds_bucket{le="+Inf"} 144320

Label values escape ``\\``, ``"`` and newline as ``\\\\``, ``\\"`` and ``\\n``; values may be
``NaN``, ``+Inf`` or ``-Inf``; the timestamp (milliseconds) is optional. Other ``#`` lines
are comments, and an OpenMetrics ``# EOF`` ends the page. A line that does not follow the
format raises ``PromTextError`` naming the line, rather than being guessed at.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_SPECIAL = {"nan": float("nan"), "+inf": float("inf"), "inf": float("inf"), "-inf": float("-inf")}


class PromTextError(ValueError):
    """The page is not in the Prometheus text format; the message names the line."""


@dataclass(frozen=True)
class TextSample:
    """One line of a metrics page."""

    name: str
    labels: Mapping[str, str]
    value: float
    timestamp_ms: int | None = None


@dataclass(frozen=True)
class Exposition:
    """A parsed metrics page: its samples in order, and the declared types and help texts."""

    samples: tuple[TextSample, ...]
    types: Mapping[str, str] = field(default_factory=dict)
    helps: Mapping[str, str] = field(default_factory=dict)

    def named(self, name: str) -> list[TextSample]:
        return [s for s in self.samples if s.name == name]

    def names(self) -> set[str]:
        return {s.name for s in self.samples}


def parse_value(text: str) -> float:
    """A sample value: a Go-style float, or NaN / +Inf / -Inf in any case."""
    special = _SPECIAL.get(text.lower())
    if special is not None:
        return special
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number") from None


def parse(text: str) -> Exposition:
    """Parse a whole page; raise PromTextError on the first malformed line."""
    samples: list[TextSample] = []
    types: dict[str, str] = {}
    helps: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            parts = line[1:].strip().split(None, 2)
            if parts[:1] == ["EOF"]:
                break
            if len(parts) >= 2 and parts[0] == "TYPE":
                types[parts[1]] = parts[2].strip() if len(parts) > 2 else "untyped"
            elif len(parts) >= 2 and parts[0] == "HELP":
                helps[parts[1]] = _unescape_help(parts[2]) if len(parts) > 2 else ""
            continue
        try:
            samples.append(_parse_sample(line))
        except ValueError as exc:
            raise PromTextError(f"line {number}: {exc}: {raw[:120]!r}") from None
    return Exposition(samples=tuple(samples), types=types, helps=helps)


def _parse_sample(line: str) -> TextSample:
    match = _NAME.match(line)
    if not match:
        raise ValueError("a sample line must start with a metric name")
    name = match.group()
    pos = match.end()
    labels: dict[str, str] = {}
    if pos < len(line) and line[pos] == "{":
        labels, pos = _parse_labels(line, pos + 1)
    rest = line[pos:].split()
    if not rest or (pos < len(line) and not line[pos].isspace()):
        raise ValueError("expected a space and a value after the metric name and labels")
    if len(rest) > 2:
        raise ValueError("expected only a value and an optional timestamp")
    value = parse_value(rest[0])
    timestamp: int | None = None
    if len(rest) == 2:
        try:
            timestamp = int(float(rest[1]))
        except ValueError:
            raise ValueError(f"timestamp {rest[1]!r} is not a number") from None
    return TextSample(name=name, labels=labels, value=value, timestamp_ms=timestamp)


def _parse_labels(line: str, pos: int) -> tuple[dict[str, str], int]:
    """Read ``name="value",...}`` from ``pos``; return the labels and the position after ``}``."""
    labels: dict[str, str] = {}
    while True:
        pos = _skip_spaces(line, pos)
        if pos < len(line) and line[pos] == "}":
            return labels, pos + 1
        match = _LABEL_NAME.match(line, pos)
        if not match:
            raise ValueError("expected a label name or '}'")
        label = match.group()
        pos = _skip_spaces(line, match.end())
        if line[pos : pos + 1] != "=":
            raise ValueError(f"expected '=' after label {label!r}")
        pos = _skip_spaces(line, pos + 1)
        if line[pos : pos + 1] != '"':
            raise ValueError(f"the value of label {label!r} must be in double quotes")
        value, pos = _read_quoted(line, pos + 1)
        if label in labels:
            raise ValueError(f"label {label!r} appears twice")
        labels[label] = value
        pos = _skip_spaces(line, pos)
        if pos < len(line) and line[pos] == ",":
            pos += 1
        elif pos >= len(line) or line[pos] != "}":
            raise ValueError("expected ',' or '}' after a label value")


def _read_quoted(line: str, pos: int) -> tuple[str, int]:
    out: list[str] = []
    while pos < len(line):
        char = line[pos]
        if char == "\\" and pos + 1 < len(line):
            nxt = line[pos + 1]
            out.append({"n": "\n", "\\": "\\", '"': '"'}.get(nxt, "\\" + nxt))
            pos += 2
        elif char == '"':
            return "".join(out), pos + 1
        else:
            out.append(char)
            pos += 1
    raise ValueError("a label value is missing its closing quote")


def _skip_spaces(line: str, pos: int) -> int:
    while pos < len(line) and line[pos] in " \t":
        pos += 1
    return pos


def _unescape_help(text: str) -> str:
    return text.replace("\\n", "\n").replace("\\\\", "\\")

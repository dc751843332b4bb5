"""Durations as people write them in runbooks (``90s``, ``5m``, ``1h30m``, ``250ms``).

Runbooks copy thresholds out of prose ("for 5 minutes"), so parsing is forgiving about
format but strict about meaning: a bare number is seconds, an unknown unit is an error.
"""

from __future__ import annotations

import re

UNITS = {
    "ms": 0.001,
    "s": 1.0,
    "sec": 1.0,
    "secs": 1.0,
    "second": 1.0,
    "seconds": 1.0,
    "m": 60.0,
    "min": 60.0,
    "mins": 60.0,
    "minute": 60.0,
    "minutes": 60.0,
    "h": 3600.0,
    "hr": 3600.0,
    "hour": 3600.0,
    "hours": 3600.0,
    "d": 86400.0,
    "day": 86400.0,
    "days": 86400.0,
}
_PART = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*")


def parse_duration(value: object) -> float:
    """Return seconds for ``value``; raise ValueError with a readable reason."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration such as '30s' or '5m', got {value!r}")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return float(value)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"expected a duration such as '30s' or '5m', got {value!r}")
    text = value.strip().lower()
    total = 0.0
    pos = 0
    while pos < len(text):
        match = _PART.match(text, pos)
        if not match or match.end() == pos:
            raise ValueError(
                f"cannot read duration {value!r}; write it like '30s', '5m' or '1h30m'"
            )
        number, unit = match.groups()
        if unit and unit not in UNITS:
            raise ValueError(f"unknown unit {unit!r} in duration {value!r}; use ms, s, m, h or d")
        total += float(number) * UNITS[unit or "s"]
        pos = match.end()
    return total


def format_duration(seconds: float) -> str:
    """Short human form: ``1.2s``, ``5m``, ``1h30m``."""
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.1f}s".replace(".0s", "s")
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    out = ""
    if hours:
        out += f"{hours}h"
    if minutes:
        out += f"{minutes}m"
    if secs and not hours:
        out += f"{secs}s"
    return out or "0s"

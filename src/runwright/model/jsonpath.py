"""A small JSON path (``$.data.items[0].id``) for assertions and captures in runbooks.

Only dotted keys and integer indexes: enough for health and smoke checks, simple enough that
a runbook author never wonders what a path means.
"""

from __future__ import annotations

import re
from typing import Any

_TOKEN = re.compile(r"\.([A-Za-z_][A-Za-z0-9_\-]*)|\[(\d+)\]|\[['\"]([^'\"]+)['\"]\]")

MISSING = object()


def parse(path: str) -> list[str | int]:
    text = path.strip()
    if not text.startswith("$"):
        raise ValueError(f"JSON path {path!r} must start with '$', e.g. '$.status'")
    parts: list[str | int] = []
    pos = 1
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match:
            raise ValueError(f"cannot read JSON path {path!r} at {text[pos:]!r}")
        key, index, quoted = match.groups()
        parts.append(int(index) if index is not None else (key or quoted))
        pos = match.end()
    return parts


def lookup(document: Any, path: str) -> Any:
    """The value at ``path``, or ``MISSING``."""
    value = document
    for part in parse(path):
        if isinstance(part, int):
            if not isinstance(value, list) or not -len(value) <= part < len(value):
                return MISSING
            value = value[part]
        else:
            if not isinstance(value, dict) or part not in value:
                return MISSING
            value = value[part]
    return value

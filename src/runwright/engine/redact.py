"""Secret redaction at the one place everything passes: what is stored, shown or reported.

A declared secret's value, and the obvious forms derived from it (shell-quoted, URL-encoded,
base64), is replaced by ``***`` before any text leaves the engine: terminal lines, step
output, event data, summaries, reports.
"""

from __future__ import annotations

import base64
import shlex
import urllib.parse
from collections.abc import Iterable
from typing import Any

MASK = "***"


class Redactor:
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._needles: list[str] = []
        for value in secrets:
            self.add(value)

    def add(self, value: str) -> None:
        if not value or len(value) < 3:
            return
        forms = {
            value,
            shlex.quote(value),
            urllib.parse.quote(value, safe=""),
            urllib.parse.quote_plus(value),
            base64.b64encode(value.encode()).decode().rstrip("="),
        }
        for line in value.splitlines():
            if len(line) >= 4:
                forms.add(line)
        self._needles = sorted(set(self._needles) | forms, key=len, reverse=True)

    def __bool__(self) -> bool:
        return bool(self._needles)

    def text(self, value: str) -> str:
        for needle in self._needles:
            if needle in value:
                value = value.replace(needle, MASK)
        return value

    def obj(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self.obj(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.obj(v) for v in value]
        return value

"""Watching a run must never change it: an observer that fails is switched off, not obeyed.

The live view writes to a terminal or a pipe that can close at any time (``deploy | head``),
and a dashboard stream can break. If such a failure reached the step that produced the
line, the step would fail and the run would stop halfway. ``Guarded`` wraps the observer the
scheduler reports to: the first exception is logged and the observer is dropped for the rest
of the run, which goes on to its end with the journal intact.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from runwright.engine.executor import Observer

log = logging.getLogger(__name__)


class Guarded:
    def __init__(self, inner: Observer) -> None:
        self.inner: Observer | None = inner

    def _failed(self, exc: Exception) -> None:
        log.warning("the live view failed (%s); the run goes on without it", exc)
        self.inner = None

    def event(self, run_id: int, type: str, step: str | None, data: Mapping[str, Any]) -> None:
        if self.inner is None:
            return
        try:
            self.inner.event(run_id, type, step, data)
        except Exception as exc:
            self._failed(exc)

    def output(self, run_id: int, step: str, line: str) -> None:
        if self.inner is None:
            return
        try:
            self.inner.output(run_id, step, line)
        except Exception as exc:
            self._failed(exc)

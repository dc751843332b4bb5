"""Terminal output: live progress lines (styled on a terminal, plain in CI logs)."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.markup import escape

from runwright.cli.terminal import is_closed_pipe, output_closed, safe_write
from runwright.model.event_type import EventType

STYLE: dict[str, tuple[str, str]] = {
    EventType.STEP_STARTED: ("cyan", ">"),
    EventType.STEP_SUCCEEDED: ("green", "ok"),
    EventType.STEP_FAILED: ("red", "FAIL"),
    EventType.STEP_RETRY: ("yellow", "retry"),
    EventType.STEP_BLOCKED: ("yellow", "WAIT"),
    EventType.UNDO_STARTED: ("magenta", "undo >"),
    EventType.UNDO_SUCCEEDED: ("magenta", "undo ok"),
    EventType.UNDO_FAILED: ("red", "undo FAIL"),
    EventType.ROLLBACK_STARTED: ("red", "ROLLBACK"),
    EventType.RUN_FINISHED: ("bold", "done"),  # not a status
    EventType.RUN_AWAITING_SETTLEMENT: ("yellow", "SETTLE"),
    EventType.GATE_ITEM: ("green", "item"),
    EventType.LOCK_TAKEN_OVER: ("yellow", "TAKEOVER"),
    EventType.STEP_ORPHAN: ("yellow", "ORPHAN"),
}


class ConsoleObserver:
    def __init__(
        self, *, stream: Any = None, quiet: bool = False, show_output: bool = True
    ) -> None:
        self.stream = stream or sys.stderr
        self.console = Console(file=self.stream, highlight=False, soft_wrap=True)
        self.quiet = quiet
        self.show_output = show_output

    def _line(self, text: str, style: str = "") -> None:
        if self.quiet:
            return
        if not self.console.is_terminal:
            if not safe_write(self.stream, text + "\n"):
                self.quiet = True  # the reader has gone: the run goes on without a view
            return
        try:
            self.console.print(f"[{style}]{escape(text)}[/]" if style else escape(text))
        except (OSError, ValueError) as exc:
            if not is_closed_pipe(exc):
                raise
            output_closed()
            self.quiet = True

    def event(self, run_id: int, type: str, step: str | None, data: Mapping[str, Any]) -> None:
        if self.quiet:
            return
        if type == EventType.RUN_CREATED:
            self._line(
                f"run {run_id}: deploying {data.get('version')} to {data.get('environment')}",
                "bold",
            )
            return
        if type not in STYLE:
            return
        style, label = STYLE[type]
        detail = (
            data.get("summary")
            or data.get("error")
            or data.get("reason")
            or data.get("message")
            or data.get("status")
            or ""
        )
        if type == EventType.STEP_RETRY:
            detail = (
                f"attempt {data.get('attempt')} failed ({data.get('error')}); "
                f"retrying in {data.get('delay_seconds')}s"
            )
        if type == EventType.GATE_ITEM:
            detail = f"{data.get('text')}: {'proven' if data.get('proven') else 'NOT proven'}"
        name = f" {step}" if step else ""
        self._line(f"[run {run_id}] {label}{name}" + (f": {detail}" if detail else ""), style)

    def output(self, run_id: int, step: str, line: str) -> None:
        if not self.quiet and self.show_output:
            self._line(f"    | {line}", "dim")

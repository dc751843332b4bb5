"""Terminal output: live progress lines (styled on a terminal, plain in CI logs)."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.markup import escape

from runwright.cli.terminal import is_closed_pipe, output_closed, safe_write

STYLE = {
    "step.started": ("cyan", ">"),
    "step.succeeded": ("green", "ok"),
    "step.failed": ("red", "FAIL"),
    "step.retry": ("yellow", "retry"),
    "step.blocked": ("yellow", "WAIT"),
    "undo.started": ("magenta", "undo >"),
    "undo.succeeded": ("magenta", "undo ok"),
    "undo.failed": ("red", "undo FAIL"),
    "rollback.started": ("red", "ROLLBACK"),
    "run.finished": ("bold", "done"),  # not a status
    "run.awaiting_settlement": ("yellow", "SETTLE"),
    "gate.item": ("green", "item"),
    "lock.taken_over": ("yellow", "TAKEOVER"),
    "step.orphan": ("yellow", "ORPHAN"),
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
        if type == "run.created":
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
        if type == "step.retry":
            detail = (
                f"attempt {data.get('attempt')} failed ({data.get('error')}); "
                f"retrying in {data.get('delay_seconds')}s"
            )
        if type == "gate.item":
            detail = f"{data.get('text')}: {'proven' if data.get('proven') else 'NOT proven'}"
        name = f" {step}" if step else ""
        self._line(f"[run {run_id}] {label}{name}" + (f": {detail}" if detail else ""), style)

    def output(self, run_id: int, step: str, line: str) -> None:
        if not self.quiet and self.show_output:
            self._line(f"    | {line}", "dim")

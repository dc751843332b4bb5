"""The runbook's sinks, built with a run's variables: the ``notify`` step's messenger.

A run-time service like the driver and the router: ``Runtime.step_services`` gives it to the
steps, and the notifier (``notifications``) builds its sinks the same way, so a sink's
settings are rendered once, one way.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from runwright.engine.executor import RunInfo
from runwright.engine.redact import Redactor
from runwright.model.loader import Runbook
from runwright.model.notify import SinkSpec, render_settings
from runwright.model.templating import render
from runwright.notify import make_sink
from runwright.notify.base import Notice, Sink


def build_sink(runbook: Runbook, name: str, variables: Mapping[str, Any]) -> Sink:
    """The sink ``name`` of ``runbook`` with its settings rendered (variables, secrets)."""
    spec: SinkSpec = runbook.sinks[name]
    where = f"sinks.{name}"
    settings = render_settings(spec, lambda v: render(v, variables, where=where))
    if settings.get("body") is not None:
        settings["variables"] = variables
    return make_sink(spec.kind, settings)


@dataclass
class RunbookMessenger:
    """The ``notify`` step's way to the runbook's sinks, with the run's variables and secrets
    (redacted from every message)."""

    runbook: Runbook
    variables: Mapping[str, Any]
    redactor: Redactor

    async def message(
        self, to: Sequence[str], *, title: str, text: str, run: RunInfo, incident: str = ""
    ) -> list[str]:
        lines: list[str] = []
        for name in to:
            sink = build_sink(self.runbook, name, self.variables)
            notice = Notice(
                event="message",
                run_id=run.id,
                runbook=run.runbook,
                environment=run.environment,
                version=self.redactor.text(run.version),
                actor=run.initiator,
                title=self.redactor.text(title or f"{run.runbook} {run.version}"),
                text=self.redactor.text(text),
                key=f"runwright-{run.id}-message-{name}-{hashlib.sha256(text.encode()).hexdigest()[:16]}",
                incident=incident,
            )
            try:
                delivered = await sink.send(notice)
            finally:
                await sink.aclose()
            lines.append(f"{name}: {delivered.detail or 'sent'}")  # not a status
        return lines


def messenger_for(runbook: Runbook, variables: Mapping[str, Any]) -> RunbookMessenger | None:
    """A messenger when the runbook declares sinks; secrets come from ``variables``."""
    if not runbook.sinks:
        return None
    secrets = variables.get("secrets", {})
    redactor = Redactor(v for v in secrets.values() if isinstance(v, str) and v != "***")
    return RunbookMessenger(runbook, variables, redactor)

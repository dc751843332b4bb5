"""The contract every notification sink meets, so delivery does not care where a message goes.

A ``Notice`` is one message about one run event, already rendered and redacted. A sink sends
it and answers ``Delivered`` with an optional reference (Slack's message ``ts``, a status
page's incident id) that the dispatcher journals, so the next notice of the same run can
update that message or resolve that incident, even after a crash. ``key`` is stable for one
(event, subscription): sinks pass it on as an idempotency key so a receiver can drop the
duplicate a crash between sending and journaling may cause.

    Sink        send(notice) -> Delivered; aclose()
    Messenger   message(to, title=, text=, run=) -> lines (what the ``notify`` step uses)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import httpx

from runwright.engine.executor import RunInfo
from runwright.errors import NotifyError
from runwright.model.status import RunEvent


@dataclass(frozen=True)
class Notice:
    event: str
    run_id: int
    runbook: str
    environment: str
    version: str
    actor: str
    title: str
    text: str
    key: str
    status: str = ""
    url: str | None = None
    details: Mapping[str, str] = field(default_factory=dict)
    refs: Mapping[str, str] = field(default_factory=dict)
    incident: str = ""
    """The incident status a ``notify`` step posts (investigating... resolved), if any."""

    @property
    def incident_status(self) -> str:
        """Where the incident stands by this notice: the step's word, else by the event."""
        return self.incident or INCIDENT_STATUS.get(self.event, "in_progress")

    @property
    def impact(self) -> str:
        return "none" if self.incident_status in ("in_progress", "resolved") else "partial"


INCIDENT_STATUS: dict[str, str] = {
    RunEvent.ANALYSIS_FAILING: "investigating",
    RunEvent.FAILED: "investigating",
    RunEvent.ROLLED_BACK: "monitoring",
    RunEvent.ABORTED: "monitoring",
    RunEvent.SUCCEEDED: "resolved",
}
"""A run event as a status page's incident status: a failing release is investigated, a
rolled-back one watched (traffic is back on the previous version), a good one resolves."""
INCIDENT_STATUSES = ("investigating", "identified", "monitoring", "resolved")


@dataclass(frozen=True)
class Delivered:
    refs: Mapping[str, str] = field(default_factory=dict)
    detail: str = ""


class Sink(Protocol):
    async def send(self, notice: Notice) -> Delivered:
        """Deliver ``notice``; raise NotifyError (``retryable`` when trying again may help)."""
        ...

    async def aclose(self) -> None: ...


def http_failure(what: str, exc: httpx.HTTPError) -> NotifyError:
    """An httpx failure as a NotifyError that says what could not be reached."""
    reason = str(exc) or type(exc).__name__
    return NotifyError(f"cannot reach {what}: {reason}", hint="check the URL and the network")


def check_status(what: str, response: httpx.Response) -> None:
    """Refuse a non-2xx answer; 4xx (but 408/429) is not worth retrying."""
    if response.is_success:
        return
    code = response.status_code
    retryable = code >= 500 or code in (408, 429)
    raise NotifyError(
        f"{what} answered HTTP {code}: {response.text[:200]}",
        retryable=retryable,
        hint=None if retryable else "check the sink's URL and credentials",
    )


class Messenger(Protocol):
    """Sends an explicit message (the ``notify`` step) to sinks the runbook names."""

    async def message(
        self, to: Sequence[str], *, title: str, text: str, run: RunInfo, incident: str = ""
    ) -> list[str]:
        """Send to each sink in ``to`` (``incident``: the status a status page posts); return
        one line per sink saying how it went. Raise NotifyError when a sink could not take
        it."""
        ...

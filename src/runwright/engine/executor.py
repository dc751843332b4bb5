"""The contract between the scheduler and step kinds, defined here so the engine stays below them.

The scheduler hands a ``StepContext`` to an ``Executor`` (the app wires in the step registry)
and gets an ``Outcome`` back. Outcomes are data, not exceptions: a step that needs a person
(approval, attestation) says ``blocked``; a failed step says whether retrying could help.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from runwright.engine.clock import Clock
from runwright.engine.store import ApprovalRow, StepRow
from runwright.model.status import AWAITING, OutcomeStatus, RunStatus


@dataclass(frozen=True)
class Outcome:
    status: OutcomeStatus
    summary: str = ""
    data: Mapping[str, Any] = field(default_factory=dict)
    retryable: bool = True
    blocked_on: RunStatus = RunStatus.AWAITING_APPROVAL

    @classmethod
    def ok(cls, summary: str = "", **data: Any) -> Outcome:
        return cls(OutcomeStatus.SUCCEEDED, summary, data)

    @classmethod
    def fail(cls, summary: str, *, retryable: bool = True, **data: Any) -> Outcome:
        return cls(OutcomeStatus.FAILED, summary, data, retryable)

    @classmethod
    def blocked(
        cls, summary: str, on: RunStatus = RunStatus.AWAITING_APPROVAL, **data: Any
    ) -> Outcome:
        """The step waits for a person; ``on`` is the run status meanwhile (an awaiting one)."""
        if on not in AWAITING:
            raise ValueError(f"a blocked step waits for a person, not {on!r}")
        return cls(OutcomeStatus.BLOCKED, summary, data, False, on)


@dataclass(frozen=True)
class RunInfo:
    id: int
    runbook: str
    environment: str
    version: str
    initiator: str


S = TypeVar("S")
"""The services steps reach (drivers, routers...): defined above the engine, passed through."""


@dataclass
class StepContext(Generic[S]):
    """Everything a step may use while it acts. Built by the scheduler for each attempt."""

    run: RunInfo
    step: StepRow
    spec: Mapping[str, Any]
    attempt: int
    undo: bool
    clock: Clock
    variables: Mapping[str, Any]
    output: Callable[[str], None]
    approvals: Callable[[str], list[ApprovalRow]]
    services: S
    record: Callable[[str, Mapping[str, Any]], None]
    actor: str
    attest: Callable[[str, int | None, str], None]
    measured: Callable[[list[Mapping[str, Any]]], None] = lambda rows: None
    interactive: Callable[[str], bool] | None = None
    track: Callable[[int], None] = lambda pid: None
    """Steps that start a process group call this with its leader's pid, so the journal
    knows what to look for (and stop) if runwright dies while it runs."""
    note: Callable[[Mapping[str, Any]], None] = lambda data: None
    """A step about to act before it can journal (a canary pause putting traffic back the
    moment a check fails) notes it on its row first; the step run again after a crash finds
    it in ``step.data``."""

    @property
    def params(self) -> Mapping[str, Any]:
        return self.spec.get("params", {})  # type: ignore[no-any-return]


class Executor(Protocol[S]):
    async def execute(self, ctx: StepContext[S]) -> Outcome: ...


class Observer(Protocol):
    """Receives what a run does as it happens (the CLI's live view, the web page)."""

    def event(self, run_id: int, type: str, step: str | None, data: Mapping[str, Any]) -> None: ...

    def output(self, run_id: int, step: str, line: str) -> None: ...


class NullObserver:
    def event(self, run_id: int, type: str, step: str | None, data: Mapping[str, Any]) -> None:
        return None

    def output(self, run_id: int, step: str, line: str) -> None:
        return None

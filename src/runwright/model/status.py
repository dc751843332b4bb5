"""The one vocabulary of statuses: runs, steps, undos, step outcomes, check verdicts.

The store, the state machine, the app, the CLI and the reports all speak of the same states;
defining them once, with the sets derived here, is what keeps a new state (or a renamed one)
from meaning different things in different places. ``scripts/check_status_literals.py`` fails
``scripts/lint`` when a status is written as a bare string anywhere else in ``src/``.
"""

from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    QUEUED = "queued"
    PENDING = "pending"
    RUNNING = "running"
    ROLLING_BACK = "rolling_back"
    AWAITING_APPROVAL = "awaiting_approval"
    AWAITING_ATTESTATION = "awaiting_attestation"
    AWAITING_SETTLEMENT = "awaiting_settlement"
    AWAITING_DECISION = "awaiting_decision"
    SUCCEEDED = "succeeded"
    ROLLED_BACK = "rolled_back"
    FAILED = "failed"
    ABORTED = "aborted"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL

    @property
    def awaiting(self) -> bool:
        """Blocked until a person acts (approves, attests, settles, decides)."""
        return self in AWAITING


class StepStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    WAITING = "waiting"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class UndoStatus(StrEnum):
    """A succeeded step's undo; ``None`` in the store until the undo starts."""

    RUNNING = "running"
    WAITING = "waiting"
    DONE = "done"
    FAILED = "failed"


class OutcomeStatus(StrEnum):
    """What one attempt of a step reports to the scheduler."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    BLOCKED = "blocked"


class Settlement(StrEnum):
    """A person's answer for a step that was in flight when runwright stopped."""

    RERUN = "rerun"
    DONE = "done"
    ROLLBACK = "rollback"


class Verdict(StrEnum):
    """A check's verdict during and after analysis."""

    RUNNING = "running"
    PASSED = "passed"
    FAILED = "failed"
    PAUSED = "paused"
    ERROR = "error"

    @property
    def final(self) -> bool:
        """Passed, failed and error do not change any more; paused waits for a person."""
        return self in (Verdict.PASSED, Verdict.FAILED, Verdict.ERROR)


TERMINAL: frozenset[RunStatus] = frozenset(
    {RunStatus.SUCCEEDED, RunStatus.ROLLED_BACK, RunStatus.FAILED, RunStatus.ABORTED}
)
"""A run in one of these ended: its lock is released and nothing moves it any more."""

AWAITING: frozenset[RunStatus] = frozenset(
    {
        RunStatus.AWAITING_APPROVAL,
        RunStatus.AWAITING_ATTESTATION,
        RunStatus.AWAITING_SETTLEMENT,
        RunStatus.AWAITING_DECISION,
    }
)
"""Blocked: the run waits for a person (exit code 3 at the edges)."""

ACTIVE: frozenset[RunStatus] = frozenset(RunStatus) - TERMINAL - AWAITING
"""Neither ended nor waiting for a person: a driver is (or should be) moving it."""

UNFINISHED_STEP: frozenset[StepStatus] = frozenset(
    {StepStatus.PENDING, StepStatus.RUNNING, StepStatus.WAITING}
)
"""A step that still has something to do."""

BAD_ENDINGS: frozenset[RunStatus] = frozenset(
    {RunStatus.ROLLED_BACK, RunStatus.FAILED, RunStatus.ABORTED}
)
"""Ended without the release succeeding."""


class RunEvent(StrEnum):
    """The run events a notification subscription can ask for."""

    STARTED = "started"
    AWAITING_APPROVAL = "awaiting_approval"
    AWAITING_ATTESTATION = "awaiting_attestation"
    ANALYSIS_FAILING = "analysis_failing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    ROLLED_BACK = "rolled_back"
    ABORTED = "aborted"


class DeliveryStatus(StrEnum):
    """One notification's delivery: claimed and being sent, sent, failed (tried again at its
    ``next_attempt_at``), or given up on."""

    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    GIVEN_UP = "given_up"


def exit_code(status: str, terminal: bool) -> int:
    """The CLI's exit code for a run in ``status``: 0 succeeded, 3 blocked or not ended,
    1 failed, rolled back or aborted (local and remote mode alike)."""
    if status == RunStatus.SUCCEEDED:
        return 0
    if status in AWAITING or not terminal:
        return 3
    return 1

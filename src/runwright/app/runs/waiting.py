"""What a blocked run waits for, and in which phase: deploy or rollback.

A run's status says *that* it waits (``awaiting_attestation``...), not *where*. A rollback made
of manual steps and gates waits too, and a person must be told it is the rollback that needs
them, so ``attest`` targets the step the state machine will run next, ``abort`` and ``status``
say "rollback waiting for attestation", and a refused deploy names the run still rolling back
that holds the lock. The answer is computed from the journal with the same pure ``decide`` the
scheduler uses, so it can never name a step the run would not run next.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from runwright.engine.machine import MAIN, AwaitSettlement, Execute, Undo, decide, rolling_back
from runwright.engine.scheduler import view_of
from runwright.engine.store import RunRow, StepRow
from runwright.model.status import RunStatus

WAITS_FOR = {
    RunStatus.AWAITING_APPROVAL: "approval",
    RunStatus.AWAITING_ATTESTATION: "attestation",
    RunStatus.AWAITING_SETTLEMENT: "settlement",
    RunStatus.AWAITING_DECISION: "decision",
}


class Phase(StrEnum):
    """Which half of a run is under way: going forward, or undoing itself."""

    DEPLOY = "deploy"
    ROLLBACK = "rollback"


@dataclass(frozen=True)
class Waiting:
    """The step a run will act on next, and whether a person is what it waits for."""

    step: StepRow
    phase: Phase
    undo: bool
    on: str | None
    """approval, attestation, settlement or decision when the run is blocked on it, else None."""

    @property
    def gate(self) -> str:
        """The name attestations of this step are recorded under (a manual undo has its own)."""
        return f"undo {self.step.name}" if self.undo else self.step.name

    @property
    def attestable(self) -> bool:
        spec = (self.step.spec.get("undo_step") or {}) if self.undo else self.step.spec
        return bool(spec.get("manual") or spec.get("draft")) or spec.get("kind") == "gate"

    def describe(self) -> str:
        """``rollback waiting for attestation of 'restore db' (rollback step 1)``."""
        what = f"{self.on}" if self.on else "its turn"
        where = "undo of" if self.undo else f"{self.step.section} step {self.step.idx + 1}:"
        return f"{self.phase} waiting for {what} ({where} '{self.step.name}')"


def phase_of(run: RunRow, rows: list[StepRow]) -> Phase:
    return Phase.ROLLBACK if rolling_back(view_of(run, rows)) else Phase.DEPLOY


def next_step(run: RunRow, rows: list[StepRow]) -> Waiting | None:
    """The step the run acts on next (None when it has ended or has nothing left to do)."""
    view = view_of(run, rows)
    action = decide(view)
    phase = Phase.ROLLBACK if rolling_back(view) else Phase.DEPLOY
    on = WAITS_FOR.get(run.status)
    if isinstance(action, Execute | AwaitSettlement):
        section, idx, undo = action.section, action.idx, False
        if isinstance(action, AwaitSettlement):
            undo = action.what == "undo"
    elif isinstance(action, Undo):
        section, idx, undo = MAIN, action.idx, True
    else:
        return None
    row = next(r for r in rows if r.section == section and r.idx == idx)
    return Waiting(row, phase, undo, on)

"""The run state machine: given what the journal says, what happens next. Pure, no I/O.

Keeping the decision pure is what makes crash recovery trustworthy: after a crash the
scheduler rebuilds the state from the store and asks the same function, so a resumed run
takes exactly the path an uninterrupted one would have. ``decide`` answers "what next";
``status_after`` names the run status that action implies.

Rules, in order:
- forward: the first step that is ``running`` was in flight at a crash: re-run it only if it
  is idempotent, else wait for a person to settle it; otherwise run the first pending step;
  when none is left the run succeeded.
- a failed step (not ``continue_on_error``) or an abort request turns the run around:
  undo every succeeded step that has an ``undo``, newest first, then run the runbook's
  ``rollback`` steps in order. An undo in flight at a crash follows the same settle rule.
- the run ends ``rolled_back`` when every undo and rollback step succeeded, ``aborted`` when a
  person asked for it, ``failed`` when the rollback itself failed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from runwright.model.status import TERMINAL, RunStatus, Settlement, StepStatus, UndoStatus

MAIN = "main"
ROLLBACK = "rollback"


@dataclass(frozen=True)
class StepView:
    section: str
    idx: int
    name: str
    status: StepStatus
    undo_status: UndoStatus | None
    idempotent: bool
    has_undo: bool
    continue_on_error: bool = False


@dataclass(frozen=True)
class RunView:
    status: RunStatus
    abort_requested: bool
    steps: tuple[StepView, ...]


@dataclass(frozen=True)
class Execute:
    section: str
    idx: int
    rerun: bool = False


@dataclass(frozen=True)
class Undo:
    idx: int
    rerun: bool = False


@dataclass(frozen=True)
class AwaitSettlement:
    section: str
    idx: int
    what: Literal["step", "undo"]


@dataclass(frozen=True)
class Finish:
    status: RunStatus


Action = Execute | Undo | AwaitSettlement | Finish


def rolling_back(run: RunView) -> bool:
    if run.abort_requested or run.status == RunStatus.ROLLING_BACK:
        return True
    return any(
        s.section == MAIN
        and (
            (s.status == StepStatus.FAILED and not s.continue_on_error) or s.undo_status is not None
        )
        for s in run.steps
    )


def undo_pending(step: StepView) -> bool:
    return (
        step.section == MAIN
        and step.status == StepStatus.SUCCEEDED
        and step.has_undo
        and step.undo_status in (None, UndoStatus.RUNNING)
    )


def decide(run: RunView) -> Action:
    if run.status in TERMINAL:
        return Finish(run.status)
    main = [s for s in run.steps if s.section == MAIN]
    if not rolling_back(run):
        for s in main:
            if s.status == StepStatus.RUNNING:
                if s.idempotent:
                    return Execute(MAIN, s.idx, rerun=True)
                return AwaitSettlement(MAIN, s.idx, "step")
            if s.status in (StepStatus.PENDING, StepStatus.WAITING):
                return Execute(MAIN, s.idx)
        return Finish(RunStatus.SUCCEEDED)
    for s in reversed(main):
        if not undo_pending(s):
            continue
        if s.undo_status == UndoStatus.RUNNING:
            if s.idempotent:
                return Undo(s.idx, rerun=True)
            return AwaitSettlement(MAIN, s.idx, "undo")
        return Undo(s.idx)
    for s in run.steps:
        if s.section != ROLLBACK:
            continue
        if s.status == StepStatus.RUNNING:
            if s.idempotent:
                return Execute(ROLLBACK, s.idx, rerun=True)
            return AwaitSettlement(ROLLBACK, s.idx, "step")
        if s.status in (StepStatus.PENDING, StepStatus.WAITING):
            return Execute(ROLLBACK, s.idx)
    failed = any(s.undo_status == UndoStatus.FAILED for s in main) or any(
        s.section == ROLLBACK and s.status == StepStatus.FAILED and not s.continue_on_error
        for s in run.steps
    )
    if failed:
        return Finish(RunStatus.FAILED)
    return Finish(RunStatus.ABORTED if run.abort_requested else RunStatus.ROLLED_BACK)


def status_after(run: RunView, action: Action) -> RunStatus:
    """The run status while ``action`` is under way."""
    if isinstance(action, Finish):
        return action.status
    if isinstance(action, AwaitSettlement):
        return RunStatus.AWAITING_SETTLEMENT
    if isinstance(action, Undo) or (isinstance(action, Execute) and action.section == ROLLBACK):
        return RunStatus.ROLLING_BACK
    return RunStatus.ROLLING_BACK if rolling_back(run) else RunStatus.RUNNING


_SETTLED_UNDO: dict[Settlement, UndoStatus | None] = {
    Settlement.RERUN: None,
    Settlement.DONE: UndoStatus.DONE,
    Settlement.ROLLBACK: UndoStatus.FAILED,
}
_SETTLED_STEP: dict[Settlement, StepStatus] = {
    Settlement.RERUN: StepStatus.PENDING,
    Settlement.DONE: StepStatus.SUCCEEDED,
    Settlement.ROLLBACK: StepStatus.FAILED,
}


def settle(step: StepView, what: str, choice: Settlement) -> dict[str, str | None]:
    """Column values that record a person's settlement of an in-flight step or undo."""
    if what == "undo":
        return {"undo_status": _SETTLED_UNDO[choice]}
    return {"status": _SETTLED_STEP[choice]}


def in_flight(run: RunView) -> Sequence[tuple[StepView, str]]:
    """Steps and undos recorded as started but never finished."""
    out: list[tuple[StepView, str]] = []
    for s in run.steps:
        if s.status == StepStatus.RUNNING:
            out.append((s, "step"))
        if s.undo_status == UndoStatus.RUNNING:
            out.append((s, "undo"))
    return out

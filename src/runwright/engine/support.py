"""Which rows the audit chain supports: a run's status and each step's outcome as people read them.

The rows beside the chain (``runs``, ``steps``) are what ``status``, ``report``, the dashboard
and the scheduler read; anyone who can write the database can edit them without touching an
event (``update steps set status='failed'``). So every event that changes such a field seals
the new value in its data (``sets``: see ``store.SEALED_RUN_FIELDS``/``SEALED_STEP_FIELDS``),
and this module replays the proven events into the values the chain supports, then names each
row that differs. Runs created before events carried ``sets`` have nothing to compare with
(``Support.sealed`` is False): they are not checked, and not reported as tampered.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from runwright.engine.store import (
    SEALED_RUN_FIELDS,
    SEALED_STEP_FIELDS,
    EventRow,
    RunRow,
    StepRow,
)
from runwright.model.event_type import EventType
from runwright.model.status import StepStatus

UNSUPPORTED = "not supported by the audit chain"
_STEP_START: dict[str, Any] = {"status": StepStatus.PENDING, "undo_status": None, "summary": None}


@dataclass(frozen=True)
class Support:
    """The run and step values the proven events set, and whether the run's events seal any."""

    sealed: bool
    run: dict[str, Any] = field(default_factory=dict)
    steps: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def of(cls, proven: Sequence[EventRow]) -> Support:
        """Replay ``proven`` (a run's events up to the first its chain does not prove)."""
        run: dict[str, Any] = {}
        steps: dict[tuple[str, int], dict[str, Any]] = {}
        # Only a run created with its fields sealed can be replayed from its start; one
        # created before then (and perhaps resumed since) has earlier changes unsealed.
        sealed = (
            bool(proven) and proven[0].type == EventType.RUN_CREATED and proven[0].sets is not None
        )
        if not sealed:
            return cls(False)
        for e in proven:
            if not e.sets:
                continue
            if isinstance(e.sets.get("run"), dict):
                run.update(e.sets["run"])
            step = e.sets.get("step")
            if isinstance(step, dict):
                key = (str(step.get("section")), int(step.get("idx", -1)))
                values = steps.setdefault(key, dict(_STEP_START))
                values.update({k: v for k, v in step.items() if k in SEALED_STEP_FIELDS})
        return cls(sealed, run, steps)

    def run_problems(self, run: RunRow) -> list[str]:
        """Each field of ``run`` that differs from what the chain says."""
        if not self.sealed:
            return []
        out = []
        for name in SEALED_RUN_FIELDS:
            row = getattr(run, name)
            chain = self.run.get(name, _run_default(name, run))
            if _text(row) != _text(chain):
                out.append(
                    f"run {run.id} {name} {_show(row)} is {UNSUPPORTED} (its events say "
                    f"{_show(chain)}): the row was edited"
                )
        return out

    def step_problem(self, step: StepRow) -> str | None:
        """How ``step``'s status or summary differs from what the chain says, or None."""
        if not self.sealed:
            return None
        chain = self.steps.get((step.section, step.idx), _STEP_START)
        for name in SEALED_STEP_FIELDS:
            row = getattr(step, name)
            if _text(row) != _text(chain.get(name)):
                return (
                    f"step '{step.name}' {name} {_show(row)} is {UNSUPPORTED} (its events say "
                    f"{_show(chain.get(name))}): the row was edited"
                )
        return None

    def problems(self, run: RunRow, steps: Sequence[StepRow]) -> list[str]:
        return [*self.run_problems(run), *filter(None, (self.step_problem(s) for s in steps))]


def _run_default(name: str, run: RunRow) -> Any:
    """A field no event of the run set: the value the run was created with."""
    return None if name != "status" else run.status


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _show(value: Any) -> str:
    if value is None:
        return "(none)"
    text = str(value)
    return repr(text if len(text) <= 60 else text[:57] + "...")

"""``runwright review``: the draft steps of an imported runbook, and what a reviewer decides.

``runwright import`` proposes a step for each command it read (an ``http`` check for a health
``curl``, a ``backup`` for ``pg_dump``...) and marks it ``draft: true``: until a person has
looked at it, it is done by hand. Reviewing one is one of three decisions: accept it as
proposed (or as edited), or keep it manual, running the command as the runbook wrote it. This
module finds the drafts in a runbook's data and applies those decisions; the terminal dialogue
is the CLI's (``cli/cmd_review.py``) and the result is validated before it is written.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from runwright.model.loader import Runbook
from runwright.model.md_fences import literal

_COMMON = ("name", "description", "environments", "timeout", "retries", "continue_on_error")


class Decision(StrEnum):
    ACCEPT = "accept"
    MANUAL = "manual"
    SKIP = "skip"


@dataclass(frozen=True)
class Draft:
    """One draft step: where it is and its data (the dict inside the runbook, changed in place)."""

    where: str  # "phase 'Deploy'", "rollback", "procedure 'Restore'"
    index: int  # its position in that list, from 1
    step: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.step.get("name") or "step")

    @property
    def original(self) -> str:
        return str(self.step.get("original") or self.step.get("run") or "")


def drafts(runbook: dict[str, Any]) -> list[Draft]:
    """Every step marked ``draft: true``, in document order: phases, rollback, procedures."""
    found: list[Draft] = []
    for phase in runbook.get("phases") or []:
        found += _in(f"phase '{phase.get('name')}'", phase.get("steps") or [])
    found += _in("rollback", runbook.get("rollback") or [])
    for name, procedure in (runbook.get("procedures") or {}).items():
        found += _in(f"procedure '{name}'", (procedure or {}).get("steps") or [])
    return found


def _in(where: str, steps: list[Any]) -> list[Draft]:
    return [
        Draft(where, n, step)
        for n, step in enumerate(steps, 1)
        if isinstance(step, dict) and step.get("draft")
    ]


def accept(step: dict[str, Any], edited: dict[str, Any] | None = None) -> None:
    """The proposal (or the reviewer's edit of it) becomes the step runwright performs."""
    if edited is not None:
        step.clear()
        step.update(edited)
    step.pop("draft", None)
    step.pop("original", None)
    step.pop("manual", None)


def keep_manual(step: dict[str, Any]) -> None:
    """The command as the runbook wrote it, done by hand and attested, as before the import."""
    original = step.get("original")
    command = literal(str(original)) if original else str(step.get("run") or "")
    kept = {k: step[k] for k in _COMMON if k in step and k != "timeout"}
    lines = str(kept.get("description") or "").split("\n")
    description = "\n".join(ln for ln in lines if not ln.startswith("proposed: "))
    kept.pop("description", None)
    if description.strip():
        kept["description"] = description
    step.clear()
    step.update(kept)
    step["run"] = command
    step["manual"] = True


def decide(draft: Draft, decision: Decision, edited: dict[str, Any] | None = None) -> None:
    if decision is Decision.ACCEPT:
        accept(draft.step, edited)
    elif decision is Decision.MANUAL:
        keep_manual(draft.step)


def draft_only_secrets(book: Runbook) -> set[str]:
    """Secrets only draft steps use (a proposed backup's ``DATABASE_URL``): a draft is done by
    hand, so deploying does not need them until a reviewer accepts the step."""
    steps = [s for _, s in book.steps()] + list(book.rollback)
    steps += [s for procedure in book.procedures.values() for s in procedure]
    used: dict[str, bool] = {}  # secret -> used by a step that is not a draft
    for step in steps:
        text = json.dumps([step.params, step.undo])
        for name in re.findall(r"secrets\.(\w+)|secrets\[['\"](\w+)", text):
            key = name[0] or name[1]
            used[key] = used.get(key, False) or not step.draft
    return {name for name, by_other in used.items() if not by_other}

"""A rollback to an earlier revision brings that revision's schema back with its code.

A revision records where each ``migrate`` step left the schema (its head, by step name).
Redeploying an older revision as written would run its migrations to ``head`` again, leaving
the newer migrations applied under the older code. So a rollback's ``migrate`` steps are
pointed at the target revision's head, and each step's ``on_rollback`` decides what happens
when the schema is ahead of it:

    downgrade   Alembic goes down to that head (the step's target is set to it; the step
                downgrades a schema ahead of its target)
    keep        the schema stays where it is (expand/contract: the older code runs on it)
    restore     refused (exit 2) before anything runs: name the backup to restore
                (``runwright backups list``, ``runwright restore``), then roll back
A command migration cannot be sent to a given state, so it is refused too unless ``keep``.
``plan``/``rollback --dry-run`` print which, as notes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from runwright.engine.store import NewStep
from runwright.errors import InputError


@dataclass(frozen=True)
class SchemaMove:
    """What a rollback does to the schema one ``migrate`` step manages."""

    step: str
    now: str | None
    target: str | None
    action: str  # downgrade | keep | none
    note: str


def _policy(params: Mapping[str, Any]) -> str:
    declared = params.get("on_rollback")
    if declared:
        return str(declared)
    return "downgrade" if params.get("alembic") or params.get("undo") else "keep"


def _move(
    step: NewStep, revision: int, heads: Mapping[str, Any] | None, now: Mapping[str, Any]
) -> SchemaMove:
    name = step.name
    params = step.spec.get("params") or {}
    where = f"schema ({name})"
    if heads is None or name not in heads:
        note = f"{where}: revision {revision} recorded no schema head; it migrates as written"
        return SchemaMove(name, None, None, "none", note)
    target, current = heads[name], now.get(name)
    shown = target or "base"
    if name in now and current == target:
        note = f"{where}: already at revision {revision}'s head {shown}"
        return SchemaMove(name, current, target, "none", note)
    policy = _policy(params)
    at = f"revision {revision}'s head {shown} (now {current or 'base'})"
    if policy == "keep":
        note = f"{where}: stays where it is, not at {at}: on_rollback: keep"
        return SchemaMove(name, current, target, "keep", note)
    if policy == "downgrade" and params.get("alembic"):
        note = f"{where}: brought back to {at}: alembic downgrade {shown}"
        return SchemaMove(name, current, target, "downgrade", note)
    why = (
        "on_rollback: restore (a restore is a person's decision)"
        if policy == "restore"
        else "a command migration cannot be sent to a given state"
    )
    raise InputError(
        f"rolling back to revision {revision} needs the schema of step '{name}' at {at}, "
        f"and runwright will not take it there: {why}",
        hint="restore a backup taken at that revision (runwright backups list; runwright "
        "restore BACKUP --yes), then roll back; or declare on_rollback: keep if the older "
        "version runs on the newer schema",
    )


def bring_schema(
    steps: list[NewStep], revision: int, heads: Mapping[str, Any] | None, now: Mapping[str, Any]
) -> tuple[list[NewStep], list[str]]:
    """The rollback's steps with each migration pointed at revision ``revision``'s schema
    ``heads`` (``now``: the current revision's), and a plan note per migration; InputError
    when a schema cannot be brought back by the step's policy."""
    out: list[NewStep] = []
    notes: list[str] = []
    for step in steps:
        if step.section != "main" or step.kind != "migrate":
            out.append(step)
            continue
        move = _move(step, revision, heads, now)
        notes.append(move.note)
        if move.action == "downgrade":
            params = {**(step.spec.get("params") or {}), "target": move.target or "base"}
            step = replace(step, spec={**step.spec, "params": params})
        out.append(step)
    return out, notes

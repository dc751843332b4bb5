"""``runwright review FILE``: walk a person through the draft steps an import proposed.

For each draft it shows where the step is, the command the Markdown runbook wrote and the step
runwright proposes for it, and asks for one decision: accept, edit (the step's YAML in
``$EDITOR``), keep manual, skip (decide later) or quit. The answers are read from standard
input, so the dialogue works at a terminal and from a script or test alike; ``--accept-all``
accepts every draft at once. The result is validated like ``validate`` before the file is
written, so a bad edit leaves the file as it was (exit 2).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import yaml

from runwright.app.runtime.runtime import validate_source
from runwright.errors import InputError, RunbookError
from runwright.model.importer import dump_yaml
from runwright.model.review import Decision, Draft, decide, drafts
from runwright.model.source import parse_yaml, read_text

_CHOICES = {"a": "accept", "e": "edit", "m": "keep manual", "s": "skip", "q": "quit"}


def _show(draft: Draft, n: int, total: int) -> None:
    click.echo(f"\n[{n}/{total}] {draft.where}, step {draft.index}: {draft.name}")
    if draft.step.get("original"):
        click.echo("  the runbook wrote:")
        for line in str(draft.step["original"]).strip().split("\n"):
            click.echo(f"    {line}")
    proposed = {k: v for k, v in draft.step.items() if k not in ("draft", "original")}
    click.echo("  runwright proposes:")
    for line in dump_yaml(proposed).rstrip().split("\n"):
        click.echo(f"    {line}")


def _edit(draft: Draft) -> dict[str, Any] | None:
    proposed = {k: v for k, v in draft.step.items() if k not in ("draft", "original")}
    text = click.edit(dump_yaml(proposed), extension=".yaml")
    if text is None:
        return None
    try:
        edited = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        click.echo(f"  not YAML ({exc}); the draft is left as it was", err=True)
        return None
    if not isinstance(edited, dict):
        click.echo("  the edit is not one step mapping; the draft is left as it was", err=True)
        return None
    return edited


def _ask(found: list[Draft]) -> dict[str, int]:
    counts = {"accepted": 0, "kept manual": 0, "skipped": 0}
    for n, draft in enumerate(found, 1):
        _show(draft, n, len(found))
        key = click.prompt(
            "  " + ", ".join(f"[{k}] {v}" for k, v in _CHOICES.items()),
            type=click.Choice(list(_CHOICES)),
            show_choices=False,
        )
        if key == "q":
            counts["skipped"] += len(found) - n + 1
            break
        if key == "e":
            edited = _edit(draft)
            key = "s"
            if edited is not None:
                decide(draft, Decision.ACCEPT, edited)
                counts["accepted"] += 1
                continue
        decision = {"a": Decision.ACCEPT, "m": Decision.MANUAL}.get(key, Decision.SKIP)
        decide(draft, decision)
        counts[{"a": "accepted", "m": "kept manual"}.get(key, "skipped")] += 1
    return counts


def _header(text: str) -> str:
    lines = []
    for line in text.split("\n"):
        if not line.startswith("#"):
            break
        lines.append(line + "\n")
    return "".join(lines)


@click.command("review")
@click.argument("runbook", type=click.Path())
@click.option("--accept-all", is_flag=True, help="Accept every draft as proposed.")
@click.option("-o", "--output", type=click.Path(), help="Write here instead of over RUNBOOK.")
def review_cmd(runbook: str, accept_all: bool, output: str | None) -> None:
    """Review the draft steps `runwright import` proposed in the YAML RUNBOOK, one by one.

    \b
    For each: [a]ccept it, [e]dit it in $EDITOR, keep it [m]anual (the command as written,
    done by hand), [s]kip it (it stays a draft, done by hand), or [q]uit. The answers come
    from standard input. The result is validated, then written over RUNBOOK (or to -o).
    """
    if runbook.endswith((".md", ".markdown")):
        raise InputError(
            f"{runbook}: review reads the YAML an import wrote",
            hint=f"runwright import {runbook} -o runbook.yaml, then runwright review runbook.yaml",
        )
    text = read_text(Path(runbook))
    data = parse_yaml(text, runbook).data
    if not isinstance(data, dict):
        raise RunbookError("a runbook is a mapping of keys", file=runbook, line=1, column=1)
    found = drafts(data)
    if not found:
        click.echo(f"{runbook}: no draft steps to review")
        return
    if accept_all:
        for draft in found:
            decide(draft, Decision.ACCEPT)
        counts = {"accepted": len(found), "kept manual": 0, "skipped": 0}
    else:
        counts = _ask(found)
    new = _header(text) + dump_yaml(data)
    try:
        validate_source(parse_yaml(new, output or runbook))
    except RunbookError as exc:
        raise InputError(
            f"the reviewed runbook would be invalid, so nothing was written: {exc}",
            hint=f"run runwright review {runbook} again and fix the edit (the line is in the "
            "runbook as review would have written it)",
        ) from None
    Path(output or runbook).write_text(new, encoding="utf-8")
    click.echo(
        f"{output or runbook}: {counts['accepted']} accepted, {counts['kept manual']} kept "
        f"manual, {counts['skipped']} still draft"
    )

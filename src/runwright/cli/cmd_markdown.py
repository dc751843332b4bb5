"""``runwright import`` and ``runwright lint``: bring an existing runbook in, then check it.

``import`` turns a team's Markdown runbook into YAML and says on stderr what it could not
understand and which thresholds it drafted as checks, so a person reviews exactly those.
``lint`` reports what is unsafe or missing; its exit code lets CI refuse a risky runbook.
Registered on the main group by ``cli.main`` (``cli.add_command``), whose group maps errors
(an unreadable or broken file: exit 2).
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import click

from runwright.app.runtime.runtime import read_runbook, validate_source
from runwright.errors import InputError, RunbookError, RunwrightError
from runwright.model.importer import ImportResult, import_markdown, summary
from runwright.model.lint import PRODUCTION, Finding, has_errors, lint
from runwright.model.source import read_text


def _err(text: str) -> None:
    click.echo(text, err=True)


def _plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n} {word if n == 1 else (many or word + 's')}"


def _approvals(pairs: tuple[str, ...]) -> dict[str, int]:
    out: dict[str, int] = {}
    for pair in pairs:
        env, _, count = pair.partition("=")
        if not env.strip() or not count.strip().isdigit() or not 1 <= int(count) <= 20:
            raise InputError(
                f"--approvals {pair!r} is not ENVIRONMENT=N (N from 1 to 20)",
                hint="e.g. --approvals production=1",
            )
        out[env.strip()] = int(count)
    return out


@click.command("import")
@click.argument("runbook", type=click.Path())
@click.option("-o", "--output", type=click.Path(), help="Write the YAML here instead of stdout.")
@click.option(
    "--automate/--manual",
    default=True,
    help="--automate (default): commands become steps runwright performs (http checks, "
    "backups, migrations, waits, notifications, run), each a draft done by hand until "
    "`runwright review` accepts it. --manual: every command stays a manual step.",
)
@click.option(
    "--approvals",
    "approvals",
    multiple=True,
    metavar="ENV=N",
    help="Require N approvals (not by the initiator) to deploy to ENV, e.g. production=1.",
)
@click.option("--quiet", "-q", is_flag=True, help="Do not list what was not understood.")
def import_cmd(
    runbook: str, output: str | None, automate: bool, approvals: tuple[str, ...], quiet: bool
) -> None:
    """Turn the Markdown RUNBOOK into a runwright YAML runbook.

    \b
    Headings become phases, '- [ ]' items gate items a person attests, shell blocks steps
    (one per comment), rollback sections the rollback, troubleshooting and emergency
    sections procedures, and thresholds in the prose draft checks. Everything not understood
    is listed on stderr with its line. What is written is validated first, as `validate` does:
    exit 2 with the Markdown's file:line:col when RUNBOOK cannot be read or is invalid.
    """
    result = import_markdown(
        read_text(Path(runbook)), runbook, automate_steps=automate, approvals=_approvals(approvals)
    )
    validate_source(result.source(runbook))
    text = result.yaml(runbook)
    if output:
        try:
            Path(output).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise InputError(
                f"{output}: cannot write: {exc.strerror or exc}",
                hint="create its directory first, or choose another -o path",
            ) from None
    else:
        click.echo(text, nl=False)
    _report_import(result, runbook, output, quiet)


def _report_import(result: ImportResult, runbook: str, output: str | None, quiet: bool) -> None:
    counts = summary(result)
    _err(
        f"imported {runbook}: {_plural(counts['phases'], 'phase')}, "
        f"{_plural(counts['steps'], 'step')} "
        f"({counts['executable_steps']} executable, {counts['draft_steps']} of them drafts; "
        f"{counts['manual_steps']} manual), {_plural(counts['gate_items'], 'gate item')}, "
        f"{_plural(counts['rollback_steps'], 'rollback step')}, "
        f"{_plural(counts['procedures'], 'procedure')}" + (f" -> {output}" if output else "")
    )
    if counts["draft_steps"]:
        _err(
            f"{_plural(counts['draft_steps'], 'draft step')} to review (done by hand until "
            f"accepted): runwright review {output or 'RUNBOOK.yaml'}"
        )
    _report_proposals(result)
    if result.repairs:
        _err(f"repaired mis-decoded text on {_plural(len(result.repairs), 'line')}:")
        for repair in result.repairs:
            _err(f"  {runbook}:{repair.line}: {repair.before[:60]!r} -> {repair.after[:60]!r}")
    if result.drafts:
        _err(f"draft checks to confirm ({len(result.drafts)}):")
        for draft in result.drafts:
            _err(f"  {runbook}:{draft.line}: {draft.name}: {draft.condition}  <- {draft.source}")
    _report_notes(result, runbook, quiet)
    _approval_hint(result)


def _report_proposals(result: ImportResult) -> None:
    """What the commands were read as, and the service drivers the deploy commands imply."""
    if not result.proposed:
        return
    labels = Counter(p.label for p in result.proposed)
    read = ", ".join(f"{n} {label}" for label, n in labels.most_common())
    _err(f"commands read as: {read}")
    drivers = [p for p in result.proposed if p.label.startswith("deploy")]
    if drivers:
        _err(f"deploy commands a service driver could do, with its rollback ({len(drivers)}):")
        for p in drivers:
            _err(f"  '{p.step}': {p.command.strip().splitlines()[0][:60]} -> {p.note}")


def _report_notes(result: ImportResult, runbook: str, quiet: bool) -> None:
    watchers = [n for n in result.not_understood if n.kind == "watcher"]
    if watchers:
        _err(f"watchers that run until stopped, given a timeout ({len(watchers)}):")
        for note in watchers:
            _err(f"  {runbook}:{note.line}: {note.text[:80]}")
    named = [n for n in result.not_understood if n.kind == "names an environment"]
    if named:
        _err(f"rollback steps kept to the one environment their command names ({len(named)}):")
        for note in named:
            _err(f"  {runbook}:{note.line}: {note.kept}")
    outputs = [n for n in result.not_understood if n.kind == "example output"]
    if outputs:
        lines = ", ".join(str(n.line) for n in outputs)
        _err(f"example output kept as text, never run ({len(outputs)}): lines {lines}")
    dropped = [n for n in result.not_understood if n.kept is None]
    if dropped and not quiet:
        _err(f"not understood ({len(dropped)}; kept nowhere, review them):")
        for note in dropped:
            first = note.text.split("\n")[0][:80]
            _err(f"  {runbook}:{note.line}: {note.kind}: {first}")
    kept = len(result.not_understood) - len(dropped)
    if kept:
        _err(f"{_plural(kept, 'block')} of prose kept as phase or procedure descriptions")


def _approval_hint(result: ImportResult) -> None:
    envs = result.runbook.get("environments") or {}
    bare = [
        str(name)
        for name, env in envs.items()
        if PRODUCTION.search(str(name)) and not (env or {}).get("approvals")
    ]
    if bare:
        _err(
            f"{', '.join(bare)}: nobody but the operator approves a deploy (lint reports it); "
            f"import again with --approvals {bare[0]}=1 (or more) to require an approval"
        )


def _print(findings: list[Finding]) -> None:
    for f in findings:
        click.echo(f"{f.location}: {f.severity}: {f.message} [{f.rule}]")
        click.echo(f"    fix: {f.fix}")


@click.command("lint")
@click.argument("files", nargs=-1, required=True, type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
@click.option("--no-info", is_flag=True, help="Leave out info-level findings.")
def lint_cmd(files: tuple[str, ...], as_json: bool, no_info: bool) -> None:
    """Report what is unsafe or missing in runbook FILES (YAML or Markdown).

    Exit 1 when any finding is an error, 2 when a file is not a valid runbook, else 0.
    """
    findings: list[Finding] = []
    invalid: list[dict[str, str]] = []
    for path in files:
        try:
            book = read_runbook(path)
        except RunbookError as exc:
            invalid.append({"file": path, "error": str(exc)})
            continue
        except RunwrightError as exc:
            invalid.append({"file": path, "error": exc.message})
            continue
        findings += [f for f in lint(book) if not (no_info and f.severity == "info")]
    if as_json:
        click.echo(
            json.dumps({"findings": [f.as_dict() for f in findings], "invalid": invalid}, indent=2)
        )
    else:
        _print(findings)
        for bad in invalid:
            _err(f"error: {bad['error']}")
        counts = {s: sum(f.severity == s for f in findings) for s in ("error", "warning", "info")}
        _err(
            f"{len(files)} file(s): {counts['error']} error(s), {counts['warning']} warning(s), "
            f"{counts['info']} info" + (f", {len(invalid)} invalid" if invalid else "")
        )
    if invalid:
        sys.exit(2)
    sys.exit(1 if has_errors(findings) else 0)

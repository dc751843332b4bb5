"""``runwright backup``, ``runwright backups list`` and ``runwright restore``: database safety
by hand, with the same proof a runbook's steps give.

A backup is verified by a scratch restore unless ``--no-verify``; a restore always takes a
safety backup first, and asks on a terminal. Without a terminal it refuses unless ``--yes``:
a CI job that restores must say so. Both are journaled runs (``runwright report RUN``).
Registered on the main group by ``cli.main``, whose group maps their errors.
"""

from __future__ import annotations

import json
import os
import sys

import click

from runwright.app import databases
from runwright.app.runs import runs
from runwright.app.runtime.runtime import Runtime
from runwright.cli.edge import Ctx, run
from runwright.cli.edge import err as _err
from runwright.cli.show import dumps
from runwright.engine.store import RunRow
from runwright.errors import InputError
from runwright.model.status import RunStatus


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


def _finish(rt: Runtime, row: RunRow, as_json: bool, what: str) -> None:
    step = databases.step_of(rt, row)
    if as_json:
        click.echo(
            dumps(
                {
                    "run": row.id,
                    "status": row.status,
                    "summary": step.summary,
                    "failure": row.failure,
                    **{k: v for k, v in step.data.items() if k != "captured"},
                }
            )
        )
    elif row.status == RunStatus.SUCCEEDED:
        _err(f"{what}: {step.summary}")
    else:
        _err(f"{what} failed (run {row.id}): {row.failure or step.summary}")
    _err(f"report: runwright report {row.id}")
    sys.exit(runs.exit_code_for(row))


@click.command("backup")
@click.argument("database")
@click.option("--dir", "directory", help="Backup catalog (default: STATE_DIR/backups).")
@click.option("--keep", type=click.IntRange(min=1), help="Then keep only the newest N backups.")
@click.option("--no-verify", is_flag=True, help="Skip the scratch-restore verification.")
@click.option("--checksum", multiple=True, help="Also checksum this table's rows (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print the backup as JSON.")
@click.option("--quiet", "-q", is_flag=True, help="No live progress.")
@click.pass_obj
def backup_cmd(
    c: Ctx,
    database: str,
    directory: str | None,
    keep: int | None,
    no_verify: bool,
    checksum: tuple[str, ...],
    as_json: bool,
    quiet: bool,
) -> None:
    """Back up DATABASE (a postgresql:// URL, sqlite:///PATH or a SQLite file) now.

    \b
    The dump, its sha256 and per-table row counts go to the catalog; the backup is then
    restored into a scratch database and compared. Exit 0 verified, 1 failed, 2 bad input.
    """
    rt = c.runtime(quiet=quiet)
    row = run(
        databases.backup_now(
            rt,
            database,
            directory=directory,
            keep=keep,
            verify=not no_verify,
            checksum=list(checksum),
        )
    )
    _finish(rt, row, as_json, "backup")


@click.group("backups")
def backups_group() -> None:
    """Backups in the catalog."""


@backups_group.command("list")
@click.option("--dir", "directory", help="Backup catalog (default: STATE_DIR/backups).")
@click.option("--database", help="Only this database's backups.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_obj
def backups_list(c: Ctx, directory: str | None, database: str | None, as_json: bool) -> None:
    """List backups, newest first: id, database, kind, size, rows, verification."""
    found = databases.list_backups(c.runtime(quiet=True), directory, database)
    if as_json:
        click.echo(json.dumps([{**i.to_json(), "path": str(i.path)} for i in found], indent=2))
        return
    if not found:
        _err("no backups")
        return
    verified = {None: "-", True: "verified", False: "FAILED"}
    click.echo(f"{'ID':<36} {'DATABASE':<16} {'KIND':<7} {'SIZE':>10} {'ROWS':>8}  VERIFIED")
    for i in found:
        rows = sum(i.row_counts.values())
        click.echo(
            f"{i.backup_id:<36} {i.database:<16} {i.kind:<7} {_size(i.size_bytes):>10} "
            f"{rows:>8}  {verified[i.verified]}"
        )


@click.command("restore")
@click.argument("backup")
@click.option("--to", "to", help="Database to restore into (default: where it was taken).")
@click.option("--dir", "directory", help="Backup catalog (default: STATE_DIR/backups).")
@click.option("--yes", is_flag=True, help="Do not ask (needed when stdin is not a terminal).")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
@click.option("--quiet", "-q", is_flag=True, help="No live progress.")
@click.pass_obj
def restore_cmd(
    c: Ctx,
    backup: str,
    to: str | None,
    directory: str | None,
    yes: bool,
    as_json: bool,
    quiet: bool,
) -> None:
    """Restore BACKUP (an id from `runwright backups list`, or a backup directory).

    \b
    A safety backup of the database as it is now is taken first, so the restore itself can
    be undone. Asks for confirmation on a terminal; without one, refuses unless --yes.
    Exit 0 restored; 1 failed, declined at the prompt, or the backup failed its
    verification; 2 bad input, or no terminal to ask and no --yes.
    """
    rt = c.runtime(quiet=quiet)
    info = databases.resolve(rt, backup, directory)
    target = databases.restore_target(info, to)
    question = (
        f"Replace the contents of {databases.shown(target)} with {info.describe()}? "
        "(a safety backup is taken first)"
    )
    if not yes:
        if not sys.stdin.isatty() or os.environ.get("CI"):
            raise InputError(
                "refusing to restore without confirmation: stdin is not a terminal",
                hint="pass --yes to restore from a script",
            )
        if not click.confirm(question, default=False, err=True):
            _err("restore cancelled: nothing changed")
            sys.exit(1)
    _finish(rt, run(databases.restore_now(rt, info, target, directory)), as_json, "restore")


COMMANDS = (backup_cmd, backups_group, restore_cmd)

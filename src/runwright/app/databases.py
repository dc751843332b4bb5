"""Database use cases outside a runbook: back up now, list backups, restore one.

``runwright backup`` and ``runwright restore`` are journaled runs like any deploy: each builds
a one-step runbook (a ``backup`` or ``restore`` step) and drives it through the scheduler, so
the audit trail, ``history``, ``logs`` and ``report`` show who backed up or restored what,
when, with which evidence; a restore holds the lock of its database like a deploy does. The
database URL reaches the step as a secret (from the environment of this process only), so a
password in it is never written to the store, the journal or the output.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from runwright.app.runs import runs
from runwright.app.runtime.runtime import Runtime
from runwright.databases.base import BackupInfo
from runwright.databases.catalog import BackupCatalog, backup_root, safe_name
from runwright.engine.store import RunRow, StepRow
from runwright.errors import InputError
from runwright.steps._databases import find_backup, open_database
from runwright.steps._databases import shown as shown

TARGET_ENV = "RUNWRIGHT_TARGET_DATABASE"


def catalog(rt: Runtime, directory: str | None) -> BackupCatalog:
    return BackupCatalog(backup_root(rt.settings.state_dir, directory), rt.clock)


def list_backups(rt: Runtime, directory: str | None, database: str | None) -> list[BackupInfo]:
    return catalog(rt, directory).backups(database)


def resolve(rt: Runtime, ref: str, directory: str | None) -> BackupInfo:
    """The backup ``ref`` names (an id, or a backup directory)."""
    return find_backup(catalog(rt, directory), "", ref, None)


def restore_target(info: BackupInfo, to: str | None) -> str:
    """Where a restore goes: ``to``, else where the backup came from."""
    if to:
        return to
    if info.engine not in ("postgres", "sqlite", "rds"):
        raise InputError(f"backup {info.backup_id} is of a {info.engine} database: give --to")
    return info.source


async def _one_step_run(
    rt: Runtime, action: str, target: str, params: dict[str, Any], version: str
) -> RunRow:
    db = open_database(target, None, rt.clock)
    env = safe_name(db.name)
    step = {"name": f"{action} {db.name}", action: {**params, "database": "{{ secrets.database }}"}}
    book = {
        "name": f"database-{action}",
        "description": f"runwright {action} of {shown(target)}",
        "secrets": {"database": {"env": TARGET_ENV}},
        "environments": {env: {"description": f"the database {db.name}"}},
        "phases": [{"name": action, "steps": [step]}],
    }
    text = yaml.safe_dump(book, sort_keys=False)
    rt.settings = replace(rt.settings, environ={**rt.settings.environ, TARGET_ENV: target})
    runbook = rt.load_text(text, f"<runwright {action}>")
    digest = hashlib.sha256(text.encode()).hexdigest()[:8]
    return await runs.deploy(
        rt, runbook.file, env, version or digest, runbook=runbook, kind=f"database-{action}"
    )


def _absolute(directory: str | Path) -> str:
    return str(Path(directory).expanduser().resolve())


async def backup_now(
    rt: Runtime,
    target: str,
    *,
    directory: str | None,
    keep: int | None,
    verify: bool,
    checksum: list[str],
) -> RunRow:
    params: dict[str, Any] = {"verify": verify, "checksum": checksum}
    if directory:
        params["dir"] = _absolute(directory)
    if keep:
        params["keep"] = keep
    return await _one_step_run(rt, "backup", target, params, "backup")


async def restore_now(rt: Runtime, info: BackupInfo, target: str, directory: str | None) -> RunRow:
    name = open_database(target, None, rt.clock).name
    if name != info.database:
        raise InputError(
            f"backup {info.backup_id} is of database {info.database}, and {shown(target)} is "
            f"{name}; refusing to restore it there",
            hint="restore into the database it came from (--to a URL of that database)",
        )
    params: dict[str, Any] = {"backup": _absolute(info.directory)}
    if directory:
        params["dir"] = _absolute(directory)
    return await _one_step_run(rt, "restore", target, params, info.backup_id)


def step_of(rt: Runtime, run: RunRow) -> StepRow:
    """The one step of a database run."""
    return next(r for r in rt.store.steps(run.id) if r.section == "main")

"""``verify_backup``: prove a backup restores, by restoring it where it can do no harm.

The backup is restored into a scratch database (PostgreSQL) or a scratch file (SQLite), and
its row counts, and the checksums of the tables named when it was taken, are compared with
what its metadata recorded; its sha256 is checked first. Any difference fails the step and is
written into the backup's ``backup.json``, so a restore later refuses a backup known to be bad.
By default the backup verified is the one this run took of the database, else the newest.
"""

from __future__ import annotations

from pydantic import Field

from runwright.engine.executor import Outcome
from runwright.model.event_type import EventType
from runwright.model.templating import render
from runwright.steps._databases import (
    DatabaseParams,
    backup_phrase,
    backup_target,
    find_backup,
    info_data,
    shown,
    taken_by_run,
)
from runwright.steps.base import PlanContext
from runwright.steps.services import StepContext


class VerifyBackupParams(DatabaseParams):
    backup: str | None = Field(
        None, description="Backup id or directory, or latest (default: the one this run took)"
    )


class VerifyBackupKind:
    key = "verify_backup"
    params = VerifyBackupParams

    def describe(self, p: VerifyBackupParams, ctx: PlanContext) -> list[str]:
        target = shown(render(p.database, ctx.variables, where="verify_backup"))
        which = backup_phrase(p.backup, ctx.variables, "the backup this run took (else the newest)")
        return [
            f"verify {which} of {target}: restore it into a scratch database and compare "
            "row counts and checksums with its metadata"
        ]

    async def execute(self, ctx: StepContext, p: VerifyBackupParams) -> Outcome:
        db, catalog, ref = backup_target(ctx, p, p.backup)
        mine = None if ref else taken_by_run(catalog, db.name, ctx.run.id)
        info = mine or find_backup(catalog, db.name, ref or "latest", None)
        info, result = await catalog.verify(db, info)
        ctx.output(result.describe())
        ctx.record(
            EventType.BACKUP_VERIFIED,
            {"backup_id": info.backup_id, "ok": result.ok, "differences": list(result.differences)},
        )
        if not result.ok:
            return Outcome.fail(result.describe(), retryable=False, backup=info_data(info))
        return Outcome.ok(result.describe(), backup=info_data(info))


KIND = VerifyBackupKind()

"""``restore``: put a backup back into the live database, keeping the present first.

Before anything is overwritten a fresh safety backup of the live database is taken (kind
``safety``), so a restore of the wrong backup is itself undone with one more restore; the
step's evidence names both. A backup that failed verification is refused. By default the
backup restored is the one this run took of the database, else the newest verified one; in a
``rollback:`` section that is the pre-release backup. PostgreSQL restores are exact: tables
created after the backup (by a migration, say) are dropped in the same transaction, their
contents kept in the safety backup.
"""

from __future__ import annotations

from pydantic import Field

from runwright.databases.catalog import restore_with_safety
from runwright.engine.executor import Outcome
from runwright.model.event_type import EventType
from runwright.model.templating import render
from runwright.steps._databases import (
    DatabaseParams,
    backup_phrase,
    backup_target,
    counts_text,
    find_backup,
    info_data,
    run_tag,
    shown,
)
from runwright.steps.base import PlanContext
from runwright.steps.services import StepContext


class RestoreParams(DatabaseParams):
    backup: str | None = Field(
        None,
        description="Backup id or directory, latest, or latest-verified "
        "(default: the one this run took, else the newest verified)",
    )


class RestoreKind:
    key = "restore"
    params = RestoreParams

    def describe(self, p: RestoreParams, ctx: PlanContext) -> list[str]:
        target = shown(render(p.database, ctx.variables, where="restore"))
        which = backup_phrase(
            p.backup, ctx.variables, "the backup this run took (else the newest verified)"
        )
        return [
            f"take a safety backup of {target}",
            f"restore {which} into {target}",
        ]

    async def execute(self, ctx: StepContext, p: RestoreParams) -> Outcome:
        db, catalog, ref = backup_target(ctx, p, p.backup)
        info = find_backup(catalog, db.name, ref, ctx.run.id)
        ctx.output(f"restoring {info.describe()}")
        done = await restore_with_safety(db, catalog, info, run_tag(ctx.run.id))
        counts = await db.row_counts()
        ctx.output(f"safety backup of the database before the restore: {done.safety.backup_id}")
        ctx.record(
            EventType.BACKUP_RESTORED,
            {"backup_id": info.backup_id, "safety_backup_id": done.safety.backup_id},
        )
        return Outcome.ok(
            f"restored {info.backup_id} into {db.name} ({counts_text(counts)}); "
            f"safety backup {done.safety.backup_id}",
            restored=info_data(info),
            safety=info_data(done.safety),
            row_counts=counts,
        )


KIND = RestoreKind()

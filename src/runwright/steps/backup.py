"""``backup``: dump the database before the release touches it, and prove the dump restores.

Every seed backs up before migrating; few ever restore the dump. This step takes the backup
(``pg_dump`` custom format, or SQLite's online backup API) into the catalog with its metadata
(size, sha256, row counts, checksums of the named tables), then, unless ``verify: false``,
restores it into a scratch database and compares: a backup that does not restore fails the
step before anything is migrated. Retention (``keep``, ``max_age``) runs after a good backup,
and never deletes the newest verified one. Its evidence names the backup, which is how a later
``restore`` or a ``migrate`` with ``on_rollback: restore`` finds it.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field

from runwright.databases.catalog import RetentionPolicy
from runwright.engine.executor import Outcome
from runwright.model.durations import format_duration
from runwright.model.event_type import EventType
from runwright.model.templating import render
from runwright.model.types import OptionalDuration
from runwright.steps._databases import (
    DatabaseParams,
    catalog_for,
    counts_text,
    infer_engine,
    info_data,
    open_database,
    run_tag,
    shown,
    target_of,
)
from runwright.steps.base import PlanContext
from runwright.steps.services import StepContext


class BackupParams(DatabaseParams):
    verify: bool = Field(True, description="Restore into a scratch database and compare")
    keep: int | None = Field(None, ge=1, description="Keep the newest N backups")
    max_age: OptionalDuration = Field(None, description="Also keep backups younger than this")
    checksum: list[str] = Field(
        default_factory=list, description="Tables whose rows are checksummed (and verified)"
    )


class BackupKind:
    key = "backup"
    params = BackupParams

    def describe(self, p: BackupParams, ctx: PlanContext) -> list[str]:
        target = render(p.database, ctx.variables, where="backup")
        known = p.engine or ("***" not in target and infer_engine(target))
        tool = {
            "postgres": " with pg_dump (custom format)",
            "sqlite": " with the SQLite backup API",
        }.get(str(known), "")
        where = render(p.dir, ctx.variables, where="backup") if p.dir else "<state dir>/backups"
        lines = [f"back up {known or 'the'} database {shown(target)}{tool} into {where}"]
        if p.checksum:
            lines.append("checksum the rows of: " + ", ".join(p.checksum))
        if p.verify:
            lines.append("verify: restore into a scratch database, compare row counts/checksums")
        else:
            lines.append("not verified (verify: false)")
        rules = []
        if p.keep:
            rules.append(f"the newest {p.keep}")
        if p.max_age:
            rules.append(f"those younger than {format_duration(p.max_age)}")
        if rules:
            lines.append(f"retention: keep {' and '.join(rules)} (and the newest verified)")
        return lines

    async def execute(self, ctx: StepContext, p: BackupParams) -> Outcome:
        db = open_database(target_of(ctx, p), p.engine, ctx.clock, checksum=p.checksum)
        catalog = catalog_for(ctx, p)
        info = await catalog.backup(db, run_tag(ctx.run.id))
        ctx.output(
            f"backed up {db.name}: {info.backup_id}, {info.size_bytes} bytes, "
            f"{counts_text(info.row_counts)}"
        )
        for note in info.notes:
            ctx.output(f"note: {note}")
        ctx.record(EventType.BACKUP_TAKEN, info_data(info))
        if p.verify:
            info, result = await catalog.verify(db, info)
            ctx.record(
                EventType.BACKUP_VERIFIED,
                {
                    "backup_id": info.backup_id,
                    "ok": result.ok,
                    "differences": list(result.differences),
                },
            )
            ctx.output(result.describe())
            if not result.ok:
                return Outcome.fail(result.describe(), retryable=False, backup=info_data(info))
        deleted: list[str] = []
        if p.keep or p.max_age:
            policy = RetentionPolicy(p.keep, timedelta(seconds=p.max_age) if p.max_age else None)
            plan = catalog.plan_retention(db.name, policy)
            discard = getattr(db, "discard", None)
            if discard is not None:
                for old in plan.delete:
                    await discard(old)
            deleted = [i.backup_id for i in catalog.apply_retention(plan)]
            for backup_id in deleted:
                ctx.output(f"retention deleted {backup_id}")
        return Outcome.ok(
            info.describe(),
            backup=info_data(info),
            deleted=deleted,
            captured={"backup_id": info.backup_id, "backup_dir": str(info.directory)},
        )


KIND = BackupKind()

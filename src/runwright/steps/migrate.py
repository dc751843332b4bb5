"""``migrate``: change the schema, remember where it was, and know how to go back.

Two forms. Alembic (``alembic: path/to/alembic.ini`` or its directory, ``database:``, ``target:
head`` or a revision) records the revision before upgrading. A command (``command:`` for
Prisma, Django, Flyway, a script; ``undo:``; optional ``current:`` printing the schema's state,
recorded and offered to ``undo`` as ``{before}``) wraps any other tool.

Each migration declares what a rollback does with ``on_rollback``, shown by ``plan``:

    downgrade   run the tool backwards to the state recorded before (Alembic: downgrade to the
                revision before; command: the undo command)
    keep        leave the new schema (expand/contract: the previous version runs against it)
    restore     restore the backup an earlier ``backup`` step of the same run took of this
                database (after a safety backup); checked before migrating, so a migration
                whose way back does not exist never starts

The step undoes itself by that policy when a later step fails or the run is aborted (the
registry attaches the undo; a runbook's own ``undo:`` replaces it). A migration that fails half
way gets the same treatment at once. Undeclared, the policy is ``downgrade`` when the tool can
go back and ``keep`` otherwise, and ``runwright lint`` warns.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from runwright.databases.base import BackupInfo, Database
from runwright.databases.catalog import BackupCatalog, restore_with_safety
from runwright.databases.migrations import (
    AlembicMigration,
    AlembicSettings,
    CommandMigration,
    CommandMigrationSettings,
    Migration,
    MigrationPlan,
    MigrationRecord,
    RollbackPolicy,
)
from runwright.engine.executor import Outcome
from runwright.errors import ActionError, InputError
from runwright.model.event_type import EventType
from runwright.model.templating import render, render_value
from runwright.steps._databases import (
    Engine,
    open_database,
    run_tag,
    shown,
    sqlalchemy_url,
    taken_by_run,
)
from runwright.steps.base import Params, PlanContext
from runwright.steps.run import process_env
from runwright.steps.services import StepContext, StepServices

_UNDO_TEXT = {
    RollbackPolicy.DOWNGRADE: "downgrade to the state recorded before the migration",
    RollbackPolicy.KEEP: "keep the new schema (on_rollback: keep)",
    RollbackPolicy.RESTORE: "restore the backup this run took before the migration "
    "(after a safety backup)",
}


class MigrateParams(Params):
    database: str | None = Field(None, description="Database URL (or SQLite path)")
    engine: Engine | None = None
    alembic: str | None = Field(None, description="alembic.ini, or the directory holding it")
    target: str = Field("head", description="Alembic revision to upgrade to")
    python: str | None = Field(None, description="Interpreter with Alembic and the models")
    command: str | None = Field(None, description="Shell command that migrates")
    undo: str | None = Field(None, description="Shell command that undoes it ({before})")
    current: str | None = Field(None, description="Shell command printing the schema state")
    tool: str = Field("command", description="Name of the tool, for plans and records")
    cwd: str | None = None
    env: dict[str, str] = Field(default_factory=dict)
    on_rollback: Literal["downgrade", "keep", "restore"] | None = Field(
        None, description="What a rollback does: downgrade, keep or restore"
    )
    dir: str | None = Field(None, description="Backup catalog (on_rollback: restore)")

    @model_validator(mode="after")
    def _form(self) -> MigrateParams:
        if (self.alembic is None) == (self.command is None):
            raise ValueError(
                "a migrate step needs exactly one of 'alembic' (path to alembic.ini) or "
                "'command' (any other tool)"
            )
        if self.alembic is not None and not self.database:
            raise ValueError("an Alembic migration needs 'database' (its URL)")
        if self.on_rollback == "restore" and not self.database:
            raise ValueError("on_rollback: restore needs 'database' to know what to restore")
        if self.command is not None:
            if self.on_rollback == "downgrade" and not self.undo:
                raise ValueError("on_rollback: downgrade needs an 'undo' command")
            if self.undo and "{before}" in self.undo and not self.current:
                raise ValueError("'undo' uses {before}, so give a 'current' command to record it")
        return self

    @property
    def policy(self) -> RollbackPolicy:
        if self.on_rollback is not None:
            return RollbackPolicy(self.on_rollback)
        if self.alembic is not None or self.undo:
            return RollbackPolicy.DOWNGRADE
        return RollbackPolicy.KEEP


def _alembic_ini(text: str, services: StepServices) -> Path:
    path = services.path(text)
    return path / "alembic.ini" if path.is_dir() else path


def _plan(p: MigrateParams, variables: Mapping[str, Any], services: StepServices) -> MigrationPlan:
    if p.alembic is not None:
        ini = render(p.alembic, variables, where="migrate alembic")
        url = shown(render(p.database or "", variables, where="migrate database"))
        target = render(p.target, variables, where="migrate target")
        return MigrationPlan(
            kind="alembic",
            target=target,
            apply=f"alembic -c {_alembic_ini(ini, services)} upgrade {target} (on {url})",
            rollback=p.policy,
            undo=f"alembic -c {_alembic_ini(ini, services)} downgrade <revision before>",
        )
    return MigrationPlan(
        kind=p.tool,
        target="latest",
        apply=render(p.command or "", variables, shell=True, where="migrate command"),
        rollback=p.policy,
        undo=render(p.undo, variables, shell=True, where="migrate undo") if p.undo else None,
    )


def _migration(p: MigrateParams, ctx: StepContext) -> Migration:
    where = f"step '{ctx.step.name}'"
    if p.alembic is not None:
        ini = _alembic_ini(render(p.alembic, ctx.variables, where=f"{where} alembic"), ctx.services)
        url = render(p.database or "", ctx.variables, where=f"{where} database")
        settings = AlembicSettings(
            ini=ini,
            url=sqlalchemy_url(url, p.engine),
            target=render(p.target, ctx.variables, where=f"{where} target"),
            rollback=p.policy,
            python=p.python or sys.executable,
        )
        return AlembicMigration(settings, ctx.clock)

    def shell(text: str | None) -> str | None:
        return render(text, ctx.variables, shell=True, where=where) if text else None

    env = render_value(p.env, ctx.variables, where=f"{where} env")
    command = CommandMigrationSettings(
        apply=shell(p.command) or "",
        undo=shell(p.undo),
        current=shell(p.current),
        rollback=p.policy,
        tool=p.tool,
        cwd=Path(render(p.cwd, ctx.variables)) if p.cwd else None,
        env=process_env(ctx, env),
    )
    return CommandMigration(command, ctx.clock)


class MigrateKind:
    key = "migrate"
    params = MigrateParams

    def describe(self, p: MigrateParams, ctx: PlanContext) -> list[str]:
        lines = _plan(p, ctx.variables, ctx.services).describe()[:1]
        if p.on_rollback is None:
            lines.append(f"on_rollback not declared: {p.policy.value} by default")
        else:
            lines.append(f"on_rollback: {p.policy.value}")
        return lines

    def describe_undo(self, p: MigrateParams, ctx: PlanContext) -> list[str]:
        plan = _plan(p, ctx.variables, ctx.services)
        text = _UNDO_TEXT[p.policy]
        if p.policy is RollbackPolicy.DOWNGRADE and plan.undo:
            text += f": {plan.undo}"
        return [text]

    async def execute(self, ctx: StepContext, p: MigrateParams) -> Outcome:
        if ctx.undo:
            return await self._undo(ctx, p)
        migration = _migration(p, ctx)
        if p.policy is RollbackPolicy.RESTORE:
            _pre_release_backup(ctx, p)
        before = await migration.current()
        ctx.output(f"schema before: {before or '(none recorded)'}")
        try:
            record = await migration.apply()
        except ActionError as exc:
            return await self._failed(ctx, p, migration, before, exc)
        for line in record.output.splitlines():
            ctx.output(line)
        data = _record_data(record)
        if isinstance(migration, AlembicMigration) and _behind(migration, record.after):
            target = migration.settings.target
            if p.policy is not RollbackPolicy.DOWNGRADE:
                ctx.output(
                    f"the schema is at {record.after}, ahead of the target {target}: "
                    f"left there (on_rollback: {p.policy.value})"
                )
            else:
                ctx.output(f"the schema is ahead of the target {target}: downgrading to it")
                for line in (await migration.downgrade(target)).splitlines():
                    ctx.output(line)
                record = replace(record, after=await migration.current())
                data = {**_record_data(record), "direction": "down"}
        ctx.record(EventType.MIGRATION_APPLIED, data)
        if record.changed:
            change = f"{record.before or 'base'} -> {record.after or 'base'}"
        elif record.kind != "alembic" and not record.before and not record.after:
            change = "by its command (no 'current:' command tells the schema version)"
        else:
            change = f"already at {record.after or 'the latest state'}"
        return Outcome.ok(
            f"migrated ({record.kind}) {change}; on rollback: {p.policy.value}", migration=data
        )

    async def _failed(
        self,
        ctx: StepContext,
        p: MigrateParams,
        migration: Migration,
        before: str | None,
        exc: ActionError,
    ) -> Outcome:
        """A migration that failed half way is put back by its policy before failing."""
        message = f"migration failed: {exc.message}"
        try:
            if p.policy is RollbackPolicy.RESTORE:
                restored = await _restore(ctx, p)
                message += f"; {restored}"
            elif p.policy is RollbackPolicy.DOWNGRADE and await migration.current() != before:
                now = ctx.clock.now()
                await migration.undo(
                    MigrationRecord(migration.plan().kind, before, None, p.policy, now, now)
                )
                message += f"; downgraded back to {before or 'base'}"
        except (ActionError, InputError) as again:
            message += f"; putting it back by on_rollback {p.policy.value} failed too: {again}"
        return Outcome.fail(message, retryable=False)

    async def _undo(self, ctx: StepContext, p: MigrateParams) -> Outcome:
        data = ctx.step.data.get("migration")
        if not isinstance(data, Mapping):
            return Outcome.ok("the migration did not run: nothing to undo")
        policy = RollbackPolicy(str(data.get("policy", p.policy.value)))
        before, after = data.get("before"), data.get("after")
        if policy is RollbackPolicy.KEEP:
            return Outcome.ok(f"schema kept at {after or 'its new state'} (on_rollback: keep)")
        if policy is RollbackPolicy.RESTORE:
            return Outcome.ok(await _restore(ctx, p))
        migration = _migration(p, ctx)
        now = ctx.clock.now()
        record = MigrationRecord(str(data.get("kind")), before, after, policy, now, now)
        if isinstance(migration, AlembicMigration) and data.get("direction") == "down":
            back = replace(migration.settings, target=before or "head")
            await AlembicMigration(back, ctx.clock).apply()
        else:
            await migration.undo(record)
        current = await migration.current()
        if isinstance(migration, AlembicMigration) and current != before:
            return Outcome.fail(
                f"downgrade ran but the schema is at {current or 'base'}, not {before or 'base'}",
                retryable=False,
            )
        ctx.record(EventType.MIGRATION_DOWNGRADED, {"from": after, "to": before, "now": current})
        return Outcome.ok(f"downgraded {after or 'base'} -> {before or 'base'}", now=current)


def _behind(migration: AlembicMigration, current: str | None) -> bool:
    """Whether ``current`` is not the pinned revision the step targets (an upgrade to an
    older revision leaves the schema where it is)."""
    target = migration.settings.target
    if target in ("head", "heads") or target[:1] in "+-" or "@" in target or current is None:
        return False
    return not current.startswith(target)


def _record_data(record: MigrationRecord) -> dict[str, Any]:
    return {
        "kind": record.kind,
        "before": record.before,
        "after": record.after,
        "policy": record.rollback.value,
        "started_at": record.started_at.isoformat(),
        "finished_at": record.finished_at.isoformat(),
    }


def _catalog_db(ctx: StepContext, p: MigrateParams) -> tuple[BackupCatalog, Database]:
    directory = render(p.dir, ctx.variables, where="migrate dir") if p.dir else None
    catalog = ctx.services.backups(directory, ctx.clock)
    target = render(p.database or "", ctx.variables, where=f"step '{ctx.step.name}' database")
    return catalog, open_database(target, p.engine, ctx.clock)


def _pre_release_backup(ctx: StepContext, p: MigrateParams) -> BackupInfo:
    catalog, db = _catalog_db(ctx, p)
    info = taken_by_run(catalog, db.name, ctx.run.id, before=ctx.step.started_at)
    if info is None:
        raise InputError(
            f"on_rollback is restore, but no backup of {db.name} was taken earlier in this run "
            f"(looked in {catalog.root})",
            hint="put a backup step of the same database (and dir) before the migration",
        )
    if info.verified is False:
        raise InputError(f"the pre-release backup {info.backup_id} failed verification")
    return info


async def _restore(ctx: StepContext, p: MigrateParams) -> str:
    catalog, db = _catalog_db(ctx, p)
    info = _pre_release_backup(ctx, p)
    ctx.output(f"restoring the pre-release backup {info.backup_id} of {db.name}")
    done = await restore_with_safety(db, catalog, info, run_tag(ctx.run.id))
    ctx.record(
        EventType.BACKUP_RESTORED,
        {"backup_id": info.backup_id, "safety_backup_id": done.safety.backup_id},
    )
    return (
        f"restored the pre-release backup {info.backup_id} (safety backup {done.safety.backup_id})"
    )


KIND = MigrateKind()

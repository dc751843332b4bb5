"""What the database step kinds share: naming a database, opening it, and finding its backups.

A runbook names a database the way its team already writes it: a PostgreSQL URL
(``postgresql://app@db/app``, ``postgresql+psycopg://...``, ``postgres://...``), a libpq keyword
string (``host=db dbname=app``), ``sqlite:///path/app.db``, or a plain file path (SQLite). The
engine is inferred from that, or stated with ``engine:``. The value is templated, so a URL with
a password comes from a secret (``{{ secrets.database_url }}``) and is redacted everywhere.

Backups live in one catalog per runbook step (``dir:``, default ``<state dir>/backups``). A
backup taken by a run is named after it (``run-<id>``), which is how a ``restore`` step or a
``migrate`` step with ``on_rollback: restore`` finds "the backup this run took before the
release" without any state beyond the catalog itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import ConfigDict, Field, model_validator

from runwright.databases.base import BackupInfo, Database, read_metadata
from runwright.databases.catalog import BackupCatalog
from runwright.databases.postgres import PostgresDatabase, PostgresSettings, redact_url
from runwright.databases.sqlite import SqliteDatabase, SqliteSettings
from runwright.engine.clock import Clock
from runwright.errors import InputError
from runwright.model.templating import render
from runwright.model.types import shorthand
from runwright.steps.base import Params
from runwright.steps.services import StepContext

Engine = Literal["postgres", "sqlite", "rds"]
_PG_SCHEMES = ("postgresql://", "postgres://", "postgresql+", "postgres+")


class DatabaseParams(Params):
    model_config = ConfigDict(json_schema_extra=shorthand("database"))

    """The fields every database step has: which database, which engine, where backups live."""

    database: str = Field(
        description="PostgreSQL URL, sqlite:///PATH, a SQLite file path or rds://INSTANCE"
    )
    engine: Engine | None = Field(
        None, description="postgres, sqlite or rds (inferred when absent)"
    )
    dir: str | None = Field(None, description="Backup catalog directory (default STATE/backups)")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"database": value}
        return value


def infer_engine(target: str, engine: str | None = None) -> Engine:
    """``postgres`` or ``sqlite`` for ``target``; InputError for a URL of another database."""
    if engine in ("postgres", "sqlite", "rds"):
        return engine  # type: ignore[return-value]
    text = target.strip()
    lowered = text.lower()
    if lowered.startswith("rds://"):
        return "rds"
    if lowered.startswith(_PG_SCHEMES) or "dbname=" in lowered or lowered.startswith("host="):
        return "postgres"
    if lowered.startswith("sqlite:") or "://" not in text:
        return "sqlite"
    scheme = text.split("://", 1)[0]
    raise InputError(
        f"cannot back up a {scheme} database: runwright knows PostgreSQL, SQLite and RDS",
        hint="use a postgresql:// URL, sqlite:///PATH, rds://INSTANCE or a file path (or a run "
        "step with your own tool)",
    )


def sqlite_path(target: str) -> Path:
    """The file of a SQLite target (``sqlite:///rel``, ``sqlite:////abs`` or a path)."""
    text = target.strip()
    if text.lower().startswith("sqlite:"):
        rest = text.split(":", 1)[1]
        if not rest.startswith("///"):
            raise InputError(
                f"cannot read the SQLite URL {text!r}", hint="write sqlite:///relative/path.db"
            )
        text = rest[3:]
    if not text:
        raise InputError("the SQLite database path is empty")
    return Path(text).expanduser().absolute()


def sqlalchemy_url(target: str, engine: str | None = None) -> str:
    """``target`` as a URL SQLAlchemy (and so Alembic) opens with the drivers runwright has."""
    if infer_engine(target, engine) == "sqlite":
        return f"sqlite:///{sqlite_path(target).resolve()}"
    text = target.strip()
    for scheme in ("postgresql://", "postgres://"):
        if text.lower().startswith(scheme):
            return "postgresql+psycopg://" + text[len(scheme) :]
    if "://" not in text:
        raise InputError(
            "a migration needs the database as a URL, not a libpq keyword string",
            hint="write postgresql://USER@HOST:PORT/DBNAME",
        )
    return text


def shown(target: str) -> str:
    """The database as plans and records may show it: no password."""
    if "://" in target and not target.lower().startswith("sqlite:"):
        return redact_url(target)
    return target


def open_database(
    target: str, engine: str | None, clock: Clock, *, checksum: Sequence[str] = ()
) -> Database:
    kind = infer_engine(target, engine)
    if kind == "rds":
        from runwright.databases.rds import RdsDatabase, parse_target

        return RdsDatabase(parse_target(target), clock)
    if kind == "postgres":
        return PostgresDatabase(PostgresSettings(target, checksum_tables=tuple(checksum)), clock)
    return SqliteDatabase(
        SqliteSettings(sqlite_path(target), checksum_tables=tuple(checksum)), clock
    )


def catalog_for(ctx: StepContext, params: DatabaseParams) -> BackupCatalog:
    directory = render(params.dir, ctx.variables, where="dir") if params.dir else None
    return ctx.services.backups(directory, ctx.clock)


def target_of(ctx: StepContext, params: DatabaseParams) -> str:
    return render(params.database, ctx.variables, where=f"step '{ctx.step.name}' database")


def backup_phrase(backup: str | None, variables: Mapping[str, Any], default: str) -> str:
    """Which backup a step names, as its plan says it: ``backup ID``, else ``default``."""
    return f"backup {render(backup, variables)}" if backup else default


def backup_target(
    ctx: StepContext, params: DatabaseParams, backup: str | None
) -> tuple[Database, BackupCatalog, str | None]:
    """The database a backup step acts on, its backups' catalog, and the backup it names."""
    db = open_database(target_of(ctx, params), params.engine, ctx.clock)
    ref = render(backup, ctx.variables) if backup else None
    return db, catalog_for(ctx, params), ref


def run_tag(run_id: int) -> str:
    """How a run names the backups it takes."""
    return f"run-{run_id}"


def taken_by_run(
    catalog: BackupCatalog, database: str, run_id: int, *, before: datetime | None = None
) -> BackupInfo | None:
    """The newest backup (not a safety one) of ``database`` taken by run ``run_id``."""
    for info in catalog.backups(database):
        if info.kind != "backup" or info.run_id != run_tag(run_id):
            continue
        if before is not None and info.created_at > before:
            continue
        return info
    return None


def find_backup(
    catalog: BackupCatalog, database: str, ref: str | None, run_id: int | None
) -> BackupInfo:
    """The backup ``ref`` names: an id, a backup directory, ``latest``, or (None) the one this
    run took, else the newest verified one."""
    if ref and ref not in ("latest", "latest-verified"):
        as_dir = Path(ref).expanduser()
        if as_dir.is_dir():
            return read_metadata(as_dir)
        return catalog.find(ref)
    if ref is None and run_id is not None:
        mine = taken_by_run(catalog, database, run_id)
        if mine is not None:
            return mine
    found = catalog.latest(database, verified=ref != "latest")
    if found is None:
        what = "backup" if ref == "latest" else "verified backup"
        raise InputError(
            f"there is no {what} of {database} in {catalog.root}",
            hint="take one first (a backup step, or runwright backup)",
        )
    return found


def info_data(info: BackupInfo) -> dict[str, Any]:
    """A backup as step evidence: enough to find it again, and what it held."""
    return {
        "backup_id": info.backup_id,
        "database": info.database,
        "engine": info.engine,
        "path": str(info.directory),
        "size_bytes": info.size_bytes,
        "sha256": info.sha256,
        "row_counts": dict(info.row_counts),
        "verified": info.verified,
    }


def counts_text(counts: Mapping[str, int]) -> str:
    return f"{sum(counts.values())} rows in {len(counts)} tables"

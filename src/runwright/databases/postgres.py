"""PostgreSQL backups that are proven to restore, with pg_dump and pg_restore.

A backup is ``pg_dump --format=custom`` taken from a snapshot exported by a read-only
transaction; the row counts and checksums written to ``backup.json`` are read in that same
transaction, so they describe exactly what the dump holds even while the application writes.
``verify`` restores the dump into a scratch database (same server by default, or
``scratch_url``), compares, and drops the scratch. ``restore`` runs ``pg_restore --clean
--if-exists --single-transaction``: it either replaces every object the dump holds or changes
nothing. Tables created after the backup (by a migration, typically) are dropped in that same
transaction, so the database ends as it was backed up, as a SQLite restore does; their rows
are in the safety backup a restore takes first.

The password never appears on a command line or in ``backup.json``: the client tools get it
through a private passfile that lives only while they run. Client tools are found in
``tool_dir``, else on PATH, else in the newest ``/usr/lib/postgresql/*/bin``.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from runwright.databases.base import (
    BackupInfo,
    Taken,
    VerifyResult,
    compare_contents,
    record_backup,
    run_tool,
    sha256_mismatch,
)
from runwright.engine.clock import Clock
from runwright.errors import DriverError, InputError

if TYPE_CHECKING:
    # psycopg (and libpq) load on first use: a SQLite user's every command would pay ~0.1 s.
    import psycopg

logger = logging.getLogger(__name__)

DUMP_NAME = "database.dump"
_SESSION = (
    "SET TIME ZONE 'UTC'",
    "SET DateStyle = 'ISO, YMD'",
    "SET IntervalStyle = 'postgres'",
    "SET extra_float_digits = 3",
    "SET bytea_output = 'hex'",
)
_TABLES = """
SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p')
  AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                  AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY 1, 2
"""
_PRIMARY_KEY = """
SELECT a.attname FROM pg_index i
JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
WHERE n.nspname = %s AND c.relname = %s AND i.indisprimary
ORDER BY array_position(i.indkey::int2[], a.attnum)
"""


@dataclass(frozen=True)
class PostgresSettings:
    """Which database, which tables get a row checksum, and how the client tools run.

    ``url`` is a libpq or SQLAlchemy URL (``postgresql+psycopg://app:pw@db:5432/app`` works).
    ``checksum_tables`` names tables (``users`` or ``billing.invoices``) whose rows are hashed
    in primary-key order. ``scratch_url`` is a server where verification may create and drop a
    scratch database (default: the database's own server; needs CREATEDB). ``no_owner`` skips
    ownership changes on restore, for when the restoring role does not own the objects.
    """

    url: str
    checksum_tables: tuple[str, ...] = ()
    name: str | None = None
    scratch_url: str | None = None
    tool_dir: Path | None = None
    timeout_seconds: float = 3600.0
    no_owner: bool = False


def find_tool(name: str, tool_dir: Path | None = None) -> str:
    """The path of a PostgreSQL client program, or DriverError saying where it was looked for."""
    if tool_dir is not None:
        candidate = tool_dir / name
        if candidate.exists():
            return str(candidate)
        raise DriverError(f"{name} is not in {tool_dir}", retryable=False)
    found = shutil.which(name)
    if found:
        return found
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    for base in versions:
        if (base / name).exists():
            return str(base / name)
    raise DriverError(
        f"{name} was not found on PATH or in /usr/lib/postgresql/*/bin",
        retryable=False,
        hint="install the PostgreSQL client (Debian: postgresql-client), "
        "or put its bin directory on PATH",
    )


def redact_url(url: str) -> str:
    """``url`` with its password removed, for records people and logs may read."""
    try:
        parsed = make_url(url)
        query = {k: v for k, v in parsed.query.items() if k.lower() != "password"}
        # URL.set() ignores None; SQLAlchemy documents _replace for clearing a field.
        cleared = parsed._replace(password=None).set(query=query)
        return cleared.render_as_string(hide_password=False)
    except ArgumentError:
        pass
    import psycopg
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    try:
        params = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "(a connection string that cannot be parsed)"
    params.pop("password", None)
    return make_conninfo("", **params)


def libpq_conninfo(url: str) -> str:
    """A libpq connection string for ``url`` (SQLAlchemy driver suffixes dropped)."""
    text = url.strip()
    scheme, sep, rest = text.partition("://")
    if sep and scheme.startswith(("postgresql+", "postgres+")):
        text = "postgresql://" + rest
    import psycopg
    from psycopg.conninfo import make_conninfo

    try:
        return make_conninfo(text)
    except psycopg.ProgrammingError as exc:
        raise InputError(f"not a PostgreSQL connection URL: {redact_url(url)} ({exc})") from exc


def _split_table(name: str) -> tuple[str, str]:
    schema, dot, table = name.partition(".")
    return (schema, table) if dot else ("public", name)


def _table_key(schema: str, table: str) -> str:
    return table if schema == "public" else f"{schema}.{table}"


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _escape_pass(value: str) -> str:
    return value.replace("\\", "\\\\").replace(":", "\\:")


class PostgresDatabase:
    """A PostgreSQL database behind the ``Database`` contract."""

    engine = "postgres"

    def __init__(self, settings: PostgresSettings, clock: Clock) -> None:
        self.settings = settings
        self._clock = clock
        from psycopg.conninfo import conninfo_to_dict

        self._conninfo = libpq_conninfo(settings.url)
        params = conninfo_to_dict(self._conninfo)
        self._dbname = str(params.get("dbname") or params.get("user") or "postgres")
        scratch = libpq_conninfo(settings.scratch_url) if settings.scratch_url else self._conninfo
        self._scratch_conninfo = scratch

    @property
    def name(self) -> str:
        return self.settings.name or self._dbname

    async def backup(self, dest_dir: Path, run_id: str) -> BackupInfo:
        dump = dest_dir / DUMP_NAME
        created_at = self._clock.now()
        async with self._connect(self._conninfo, snapshot=True) as conn:
            snapshot_row = await (await conn.execute("SELECT pg_export_snapshot()")).fetchone()
            assert snapshot_row is not None
            counts, checksums = await self._contents(conn)
            await self._tool(
                "pg_dump",
                [
                    "--format=custom",
                    "--no-password",
                    f"--snapshot={snapshot_row[0]}",
                    f"--file={dump}",
                ],
                self._conninfo,
                what=f"pg_dump of {self.name}",
            )
        return record_backup(
            Taken(dump, created_at, run_id, counts, checksums),
            engine=self.engine,
            database=self.name,
            source=redact_url(self.settings.url),
            checksummed=self._checksum_keys(),
        )

    async def verify(self, info: BackupInfo) -> VerifyResult:
        mismatch = sha256_mismatch(info)
        if mismatch:
            return VerifyResult(False, info.backup_id, self._clock.now(), (mismatch,))
        from psycopg import sql
        from psycopg.conninfo import make_conninfo

        scratch = f"rw_verify_{secrets.token_hex(4)}"
        async with self._connect(self._scratch_conninfo, autocommit=True) as admin:
            major = admin.info.server_version // 10000
            await self._create_scratch(admin, scratch)
            try:
                target = make_conninfo(self._scratch_conninfo, dbname=scratch)
                try:
                    await self._tool(
                        "pg_restore",
                        [
                            "--no-password",
                            "--exit-on-error",
                            "--no-owner",
                            "--no-acl",
                            str(info.path),
                        ],
                        target,
                        what=f"scratch restore of backup {info.backup_id}",
                    )
                except DriverError as exc:
                    return VerifyResult(
                        False,
                        info.backup_id,
                        self._clock.now(),
                        (f"the dump does not restore: {exc.message}",),
                    )
                async with self._connect(target) as conn:
                    counts, checksums = await self._contents(conn, info.checksums)
            finally:
                force = sql.SQL(" WITH (FORCE)") if major >= 13 else sql.SQL("")
                await admin.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {}{}").format(sql.Identifier(scratch), force)
                )
        differences = compare_contents(info, counts, checksums)
        return VerifyResult(not differences, info.backup_id, self._clock.now(), differences, counts)

    async def restore(self, info: BackupInfo) -> None:
        if not info.path.exists():
            raise InputError(f"cannot restore {info.backup_id}: {info.path} is missing")
        args = [
            "--no-password",
            "--clean",
            "--if-exists",
            "--single-transaction",
            "--exit-on-error",
            str(info.path),
        ]
        if self.settings.no_owner:
            args.insert(0, "--no-owner")
        newer = await self._tables_since(info)
        if newer:
            await self._restore_exact(info, newer)
        else:
            await self._tool("pg_restore", args, self._conninfo, what=f"restore of {self.name}")
        logger.info("restored %s from backup %s", self.name, info.backup_id)

    async def _tables_since(self, info: BackupInfo) -> list[tuple[str, str]]:
        """Tables the live database has and the backup does not (made after it was taken)."""
        async with self._connect(self._conninfo) as conn:
            tables = await (await conn.execute(_TABLES)).fetchall()
        return [(str(s), str(t)) for s, t in tables if _table_key(s, t) not in info.row_counts]

    async def _restore_exact(self, info: BackupInfo, newer: list[tuple[str, str]]) -> None:
        """Drop ``newer`` and restore the dump in one transaction (psql running pg_restore's
        script), so the database ends exactly as backed up or is left unchanged. A table made
        after the backup (say by a migration) would otherwise keep foreign keys into the
        tables ``--clean`` must drop, and the restore would fail."""
        names = ", ".join(f"{_quote_ident(s)}.{_quote_ident(t)}" for s, t in newer)
        logger.info("restore of %s drops tables made after the backup: %s", self.name, names)
        with tempfile.TemporaryDirectory(prefix="rw-restore-") as tmp:
            drops = Path(tmp) / "drop-newer.sql"
            drops.write_text(f"DROP TABLE IF EXISTS {names} CASCADE;\n", encoding="utf-8")
            script = Path(tmp) / "restore.sql"
            args = ["--clean", "--if-exists", f"--file={script}", str(info.path)]
            if self.settings.no_owner:
                args.insert(0, "--no-owner")
            await run_tool(
                [find_tool("pg_restore", self.settings.tool_dir), *args],
                what=f"reading backup {info.backup_id}",
                time_limit=self.settings.timeout_seconds,
                clock=self._clock,
            )
            await self._tool(
                "psql",
                [
                    "--no-password",
                    "--no-psqlrc",
                    "--quiet",
                    "--single-transaction",
                    "--set=ON_ERROR_STOP=1",
                    f"--file={drops}",
                    f"--file={script}",
                ],
                self._conninfo,
                what=f"restore of {self.name}",
            )

    async def row_counts(self) -> dict[str, int]:
        async with self._connect(self._conninfo) as conn:
            counts, _ = await self._contents(conn, checksum_tables=())
        return counts

    async def _contents(
        self, conn: psycopg.AsyncConnection, checksum_tables: Iterable[str] | None = None
    ) -> tuple[dict[str, int], dict[str, str]]:
        from psycopg import sql

        tables = await (await conn.execute(_TABLES)).fetchall()
        counts: dict[str, int] = {}
        for schema, table in tables:
            query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, table))
            row = await (await conn.execute(query)).fetchone()
            counts[_table_key(schema, table)] = int(row[0]) if row else 0
        wanted = self._checksum_keys() if checksum_tables is None else checksum_tables
        checksums: dict[str, str] = {}
        for key in wanted:
            if key in counts:
                checksums[key] = await self._checksum(conn, *_split_table(key))
        return counts, checksums

    def _checksum_keys(self) -> list[str]:
        return [_table_key(*_split_table(name)) for name in self.settings.checksum_tables]

    async def _checksum(self, conn: psycopg.AsyncConnection, schema: str, table: str) -> str:
        from psycopg import sql

        key_rows = await (await conn.execute(_PRIMARY_KEY, (schema, table))).fetchall()
        order: sql.Composable
        if key_rows:
            order = sql.SQL(", ").join(sql.Identifier(str(r[0])) for r in key_rows)
        else:
            order = sql.SQL('t::text COLLATE "C"')
        query = sql.SQL("SELECT t::text FROM {} AS t ORDER BY {}").format(
            sql.Identifier(schema, table), order
        )
        digest = hashlib.sha256()
        async with conn.cursor(name=f"rw_sum_{secrets.token_hex(4)}") as cursor:
            await cursor.execute(query)
            async for (text,) in cursor:
                digest.update(str(text).encode("utf-8") + b"\n")
        return digest.hexdigest()

    async def _create_scratch(self, admin: psycopg.AsyncConnection, scratch: str) -> None:
        import psycopg
        from psycopg import sql

        src = await (
            await admin.execute(
                "SELECT pg_encoding_to_char(encoding), datcollate, datctype FROM pg_database "
                "WHERE datname = %s",
                (self._dbname,),
            )
        ).fetchone()
        query = sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(scratch))
        if src is not None:
            query = sql.SQL("{} ENCODING {} LC_COLLATE {} LC_CTYPE {}").format(
                query, sql.Literal(src[0]), sql.Literal(src[1]), sql.Literal(src[2])
            )
        try:
            await admin.execute(query)
        except psycopg.Error as exc:
            raise DriverError(
                f"cannot create the scratch database {scratch} to verify a backup: {exc}",
                retryable=False,
                hint="grant the role CREATEDB (ALTER ROLE name CREATEDB), "
                "or back up with verify: false",
            ) from exc

    @asynccontextmanager
    async def _connect(
        self, conninfo: str, *, autocommit: bool = False, snapshot: bool = False
    ) -> AsyncIterator[psycopg.AsyncConnection]:
        import psycopg

        where = redact_url(conninfo)
        try:
            conn = await psycopg.AsyncConnection.connect(conninfo, autocommit=autocommit)
        except psycopg.Error as exc:
            raise DriverError(f"cannot connect to PostgreSQL at {where}: {exc}") from exc
        try:
            if snapshot:
                await conn.set_isolation_level(psycopg.IsolationLevel.REPEATABLE_READ)
                await conn.set_read_only(True)
            for statement in _SESSION:
                await conn.execute(statement)
            yield conn
        except psycopg.Error as exc:
            raise DriverError(f"PostgreSQL at {where} failed a query: {exc}") from exc
        finally:
            await conn.close()

    async def _tool(self, program: str, args: list[str], conninfo: str, *, what: str) -> None:
        """Run a client tool against ``conninfo``, handing it the password through a passfile."""
        from psycopg.conninfo import conninfo_to_dict, make_conninfo

        binary = find_tool(program, self.settings.tool_dir)
        params = conninfo_to_dict(conninfo)
        password = params.pop("password", None)
        with tempfile.TemporaryDirectory(prefix="rw-pg-") as tmp:
            if password:
                passfile = Path(tmp) / "pgpass"
                passfile.touch(mode=0o600)
                passfile.write_text(f"*:*:*:*:{_escape_pass(str(password))}\n", encoding="utf-8")
                params["passfile"] = str(passfile)
            target = f"--dbname={make_conninfo('', **params)}"
            await run_tool(
                [binary, target, *args],
                what=what,
                time_limit=self.settings.timeout_seconds,
                clock=self._clock,
            )

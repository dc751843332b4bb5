"""SQLite backups through the online backup API, proven to restore like PostgreSQL's.

Copying a live SQLite file with ``cp`` can tear a page mid-write; ``sqlite3.Connection.backup``
copies a consistent snapshot while the application keeps writing. The row counts and checksums
in ``backup.json`` are read inside the same read transaction the copy is taken from, so they
describe the copy exactly. ``verify`` copies the backup into a scratch file (the backup itself
is never opened for writing), runs ``PRAGMA integrity_check`` and compares. ``restore`` runs the
backup API in reverse, page by page into the live file, which other connections then see.

SQLite work is blocking, so every call runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import sqlite3
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from runwright.databases.base import (
    BackupInfo,
    Taken,
    VerifyResult,
    compare_contents,
    record_backup,
    sha256_mismatch,
)
from runwright.engine.clock import Clock
from runwright.errors import DriverError, InputError

logger = logging.getLogger(__name__)

COPY_NAME = "database.sqlite3"


@dataclass(frozen=True)
class SqliteSettings:
    """The database file, tables whose rows get a checksum, and the busy timeout for locks."""

    path: Path
    checksum_tables: tuple[str, ...] = ()
    name: str | None = None
    busy_timeout_seconds: float = 30.0


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def read_contents(
    conn: sqlite3.Connection, checksum_tables: Iterable[str]
) -> tuple[dict[str, int], dict[str, str]]:
    """Row counts of every table and checksums of ``checksum_tables`` (in primary-key order).

    A named table that does not exist is left out (a comparison then reports it missing).
    """
    names = [
        str(row[0])
        for row in conn.execute(
            "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' "
            "ESCAPE '\\' ORDER BY name"
        )
    ]
    counts = {
        name: int(conn.execute(f"SELECT count(*) FROM {_quote(name)}").fetchone()[0])
        for name in names
    }
    checksums: dict[str, str] = {}
    for table in checksum_tables:
        if table not in counts:
            continue
        checksums[table] = _checksum(conn, table)
    return counts, checksums


def _checksum(conn: sqlite3.Connection, table: str) -> str:
    info = conn.execute(f"PRAGMA table_info({_quote(table)})").fetchall()
    keys = [str(col[1]) for col in sorted(info, key=lambda c: int(c[5])) if int(col[5]) > 0]
    columns = ", ".join(_quote(str(col[1])) for col in info)
    if keys:
        order = ", ".join(_quote(k) for k in keys)
    else:
        order = ", ".join(_quote(str(col[1])) for col in info)
    digest = hashlib.sha256()
    for row in conn.execute(f"SELECT {columns} FROM {_quote(table)} ORDER BY {order}"):
        digest.update(repr(tuple(row)).encode("utf-8") + b"\n")
    return digest.hexdigest()


class SqliteDatabase:
    """A SQLite database file behind the ``Database`` contract."""

    engine = "sqlite"

    def __init__(self, settings: SqliteSettings, clock: Clock) -> None:
        self.settings = settings
        self._clock = clock

    @property
    def name(self) -> str:
        return self.settings.name or self.settings.path.stem

    async def backup(self, dest_dir: Path, run_id: str) -> BackupInfo:
        return await asyncio.to_thread(self._backup, dest_dir, run_id)

    async def verify(self, info: BackupInfo) -> VerifyResult:
        return await asyncio.to_thread(self._verify, info)

    async def restore(self, info: BackupInfo) -> None:
        await asyncio.to_thread(self._restore, info)

    async def row_counts(self) -> dict[str, int]:
        def read() -> dict[str, int]:
            conn = self._open_live()
            try:
                return read_contents(conn, ())[0]
            finally:
                conn.close()

        return await asyncio.to_thread(read)

    def _open_live(self) -> sqlite3.Connection:
        path = self.settings.path
        if not path.exists():
            raise InputError(f"the SQLite database {path} does not exist")
        try:
            conn = sqlite3.connect(
                path, timeout=self.settings.busy_timeout_seconds, isolation_level=None
            )
        except sqlite3.Error as exc:
            raise DriverError(f"cannot open SQLite database {path}: {exc}") from exc
        return conn

    def _backup(self, dest_dir: Path, run_id: str) -> BackupInfo:
        created_at = self._clock.now()
        copy = dest_dir / COPY_NAME
        source = self._open_live()
        try:
            target = sqlite3.connect(copy)
            try:
                source.execute("BEGIN")
                counts, checksums = read_contents(source, self.settings.checksum_tables)
                source.backup(target)
                source.execute("COMMIT")
            finally:
                target.close()
        except sqlite3.Error as exc:
            raise DriverError(f"backup of {self.settings.path} failed: {exc}") from exc
        finally:
            source.close()
        return record_backup(
            Taken(copy, created_at, run_id, counts, checksums),
            engine=self.engine,
            database=self.name,
            source=str(self.settings.path),
            checksummed=self.settings.checksum_tables,
        )

    def _verify(self, info: BackupInfo) -> VerifyResult:
        mismatch = sha256_mismatch(info)
        if mismatch:
            return VerifyResult(False, info.backup_id, self._clock.now(), (mismatch,))
        with tempfile.TemporaryDirectory(prefix="rw-verify-", dir=info.directory) as tmp:
            try:
                backup = sqlite3.connect(f"{info.path.resolve().as_uri()}?mode=ro", uri=True)
                scratch = sqlite3.connect(Path(tmp) / "scratch.sqlite3")
                try:
                    backup.backup(scratch)
                    problems = [str(r[0]) for r in scratch.execute("PRAGMA integrity_check")]
                    if problems != ["ok"]:
                        return VerifyResult(
                            False,
                            info.backup_id,
                            self._clock.now(),
                            tuple(f"integrity check: {p}" for p in problems[:10]),
                        )
                    counts, checksums = read_contents(scratch, info.checksums)
                finally:
                    scratch.close()
                    backup.close()
            except sqlite3.Error as exc:
                return VerifyResult(
                    False,
                    info.backup_id,
                    self._clock.now(),
                    (f"the copy does not open as a SQLite database: {exc}",),
                )
        differences = compare_contents(info, counts, checksums)
        return VerifyResult(not differences, info.backup_id, self._clock.now(), differences, counts)

    def _restore(self, info: BackupInfo) -> None:
        if not info.path.exists():
            raise InputError(f"cannot restore {info.backup_id}: {info.path} is missing")
        live = (
            self._open_live()
            if self.settings.path.exists()
            else sqlite3.connect(self.settings.path)
        )
        try:
            backup = sqlite3.connect(f"{info.path.resolve().as_uri()}?mode=ro", uri=True)
            try:
                backup.backup(live)
            finally:
                backup.close()
        except sqlite3.Error as exc:
            raise DriverError(
                f"restore of {self.settings.path} from {info.backup_id} failed: {exc}"
            ) from exc
        finally:
            live.close()
        logger.info("restored %s from backup %s", self.settings.path, info.backup_id)

"""SQLite backups on a real database file: proven by verify, caught when tampered, restorable."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from runwright.databases.base import file_sha256, read_metadata, write_metadata
from runwright.databases.catalog import BackupCatalog, restore_with_safety
from runwright.databases.sqlite import SqliteDatabase, SqliteSettings
from runwright.engine.clock import FakeClock
from runwright.errors import InputError


def _make_app_db(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL)")
    conn.execute("CREATE TABLE events (at TEXT, what TEXT)")
    conn.executemany(
        "INSERT INTO users (id, email) VALUES (?, ?)", [(i, f"u{i}@example.com") for i in range(50)]
    )
    conn.executemany("INSERT INTO events VALUES (?, ?)", [("2026-01-01", "signup")] * 7)
    conn.commit()
    conn.close()


def _emails(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return [r[0] for r in conn.execute("SELECT email FROM users ORDER BY id")]
    finally:
        conn.close()


@pytest.fixture
def app_db(tmp_path: Path) -> Path:
    path = tmp_path / "app.sqlite3"
    _make_app_db(path)
    return path


@pytest.fixture
def db(app_db: Path) -> SqliteDatabase:
    return SqliteDatabase(SqliteSettings(app_db, checksum_tables=("users",)), FakeClock())


@pytest.fixture
def catalog(tmp_path: Path) -> BackupCatalog:
    return BackupCatalog(tmp_path / "backups", FakeClock())


async def test_backup_records_rows_and_verifies(db: SqliteDatabase, catalog: BackupCatalog) -> None:
    info = await catalog.backup(db, "run-1")
    assert info.directory == catalog.root / "app" / "20260105T100000Z-run-1"
    assert info.row_counts == {"users": 50, "events": 7}
    assert set(info.checksums) == {"users"}
    stored = json.loads(info.metadata_path.read_text())
    assert stored["sha256"] == file_sha256(info.path)
    assert stored["run_id"] == "run-1"

    verified, result = await catalog.verify(db, info)
    assert result.ok, result.differences
    assert result.row_counts == {"users": 50, "events": 7}
    assert read_metadata(info.directory).verified is True
    assert verified.verified_at is not None


async def test_a_tampered_copy_fails_verification(
    db: SqliteDatabase, catalog: BackupCatalog
) -> None:
    info = await catalog.backup(db, "run-1")
    data = bytearray(info.path.read_bytes())
    for offset in range(len(data) - 200, len(data) - 100):
        data[offset] ^= 0xFF
    info.path.write_bytes(bytes(data))

    updated, result = await catalog.verify(db, info)
    assert not result.ok
    assert "sha256" in result.differences[0]
    assert updated.verified is False
    with pytest.raises(InputError, match="failed verification"):
        await restore_with_safety(db, catalog, updated, "run-2")


async def test_a_copy_with_other_rows_fails_even_with_a_matching_sha(
    db: SqliteDatabase, catalog: BackupCatalog
) -> None:
    info = await catalog.backup(db, "run-1")
    conn = sqlite3.connect(info.path)
    conn.execute("DELETE FROM users WHERE id = 7")
    conn.execute("UPDATE events SET what = 'x'")
    conn.commit()
    conn.close()
    resealed = replace(info, sha256=file_sha256(info.path))
    write_metadata(resealed)

    result = await db.verify(resealed)
    assert not result.ok
    assert "table users has 49 rows restored, 50 when backed up" in result.differences
    assert any("users rows differ" in d for d in result.differences)


async def test_restore_brings_back_rows_and_keeps_a_safety_backup(
    db: SqliteDatabase, catalog: BackupCatalog, app_db: Path
) -> None:
    original = _emails(app_db)
    info = await catalog.backup(db, "run-1")

    conn = sqlite3.connect(app_db)
    conn.execute("UPDATE users SET email = 'broken' WHERE id < 10")
    conn.execute("DELETE FROM users WHERE id >= 40")
    conn.commit()
    reader = sqlite3.connect(app_db)  # another connection kept open, as an app would
    assert await db.row_counts() == {"users": 40, "events": 7}

    outcome = await restore_with_safety(db, catalog, info, "run-2")

    assert _emails(app_db) == original
    assert reader.execute("SELECT count(*) FROM users").fetchone()[0] == 50
    reader.close()
    conn.close()
    assert outcome.safety.kind == "safety"
    assert outcome.safety.row_counts == {"users": 40, "events": 7}
    assert [b.backup_id for b in catalog.backups("app")] == [
        "20260105T100000Z-run-2",
        "20260105T100000Z-run-1",
    ]
    assert catalog.latest("app") == info


async def test_a_missing_checksum_table_is_noted_not_fatal(
    app_db: Path, catalog: BackupCatalog
) -> None:
    """A safety backup must succeed even when the database lost a table the runbook names."""
    db = SqliteDatabase(SqliteSettings(app_db, checksum_tables=("orders", "users")), FakeClock())
    info = await catalog.backup(db, "run-1")
    assert set(info.checksums) == {"users"}
    assert info.notes == (
        "table orders (named for a row checksum) does not exist; its rows were not checksummed",
    )
    assert read_metadata(info.directory).notes == info.notes
    assert (await db.verify(info)).ok

"""PostgreSQL backups against a real throwaway cluster: verify, tamper, restore with safety."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from tests.support.postgres import Cluster, available, throwaway_cluster

from runwright.databases.base import file_sha256, write_metadata
from runwright.databases.catalog import BackupCatalog, restore_with_safety
from runwright.databases.postgres import PostgresDatabase, PostgresSettings, redact_url
from runwright.engine.clock import FakeClock
from runwright.errors import DriverError

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not available(), reason="needs PostgreSQL binaries (initdb, pg_ctl)"),
    pytest.mark.xdist_group("postgres_backup"),  # one worker: one PostgreSQL cluster
]

SCHEMA = """
CREATE TABLE users (id integer PRIMARY KEY, email text NOT NULL, joined timestamptz);
INSERT INTO users SELECT i, 'u' || i || '@example.com',
  '2026-01-01'::timestamptz + i * interval '1 hour' FROM generate_series(1, 200) AS i;
CREATE TABLE audit_log (at timestamptz, what text);
INSERT INTO audit_log SELECT '2026-01-01', 'event ' || i FROM generate_series(1, 30) AS i;
CREATE SCHEMA billing;
CREATE TABLE billing.invoices (account integer, number integer, cents bigint,
  PRIMARY KEY (account, number));
INSERT INTO billing.invoices SELECT i % 7, i, i * 100 FROM generate_series(1, 60) AS i;
ALTER ROLE runwright PASSWORD 's3cr:t\\pw';
"""

REAL_WORK = 30.0
"""Real seconds of quiet before the fake clock jumps: pg_dump and pg_restore are real processes
inside the database's time limit, which must not fire while they work."""


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    with throwaway_cluster() as running:
        yield running


@pytest.fixture
def app_url(cluster: Cluster, request: pytest.FixtureRequest) -> str:
    name = f"app_{request.node.name[5:30]}".lower()
    cluster.createdb(name)
    cluster.psql(name, SCHEMA)
    return cluster.url(name).replace("runwright@", "runwright:s3cr%3At%5Cpw@")


@pytest.fixture
def db(app_url: str) -> PostgresDatabase:
    settings = PostgresSettings(
        app_url, checksum_tables=("users", "billing.invoices", "audit_log"), name="app"
    )
    return PostgresDatabase(settings, FakeClock(autojump_threshold=REAL_WORK))


@pytest.fixture
def catalog(tmp_path: Path) -> BackupCatalog:
    return BackupCatalog(tmp_path / "backups", FakeClock())


def _scratch_databases(cluster: Cluster) -> str:
    return cluster.psql("postgres", "SELECT datname FROM pg_database WHERE datname LIKE 'rw_%'")


EXPECTED_COUNTS = {"users": 200, "audit_log": 30, "billing.invoices": 60}


async def test_backup_verifies_and_records_without_the_password(
    db: PostgresDatabase, catalog: BackupCatalog, cluster: Cluster
) -> None:
    info = await catalog.backup(db, "run-1")
    assert info.path.read_bytes()[:5] == b"PGDMP"
    assert info.row_counts == EXPECTED_COUNTS
    assert set(info.checksums) == {"users", "billing.invoices", "audit_log"}
    text = info.metadata_path.read_text()
    assert "s3cr" not in text
    assert json.loads(text)["source"].startswith("postgresql+psycopg://runwright@127.0.0.1:")

    _, result = await catalog.verify(db, info)
    assert result.ok, result.differences
    assert result.row_counts == EXPECTED_COUNTS
    assert _scratch_databases(cluster) == ""
    assert catalog.latest("app", verified=True) is not None


async def test_a_tampered_dump_fails_verification(
    db: PostgresDatabase, catalog: BackupCatalog, cluster: Cluster
) -> None:
    info = await catalog.backup(db, "run-1")
    data = bytearray(info.path.read_bytes())
    for offset in range(len(data) // 2, len(data) // 2 + 64):
        data[offset] ^= 0xFF
    info.path.write_bytes(bytes(data))

    _, result = await catalog.verify(db, info)
    assert not result.ok
    assert "sha256" in result.differences[0]

    resealed = replace(info, sha256=file_sha256(info.path))
    write_metadata(resealed)
    result = await db.verify(resealed)
    assert not result.ok, "a corrupt dump must not pass even when its sha256 was recomputed"
    assert _scratch_databases(cluster) == ""


async def test_a_dump_with_rows_missing_fails_on_row_counts_and_checksums(
    db: PostgresDatabase, catalog: BackupCatalog, cluster: Cluster, app_url: str
) -> None:
    info = await catalog.backup(db, "run-1")
    dbname = app_url.rsplit("/", 1)[1]
    cluster.psql(dbname, "DELETE FROM users WHERE id = 5; UPDATE billing.invoices SET cents = 1")
    changed = await catalog.backup(db, "run-2")
    claimed = replace(changed, row_counts=info.row_counts, checksums=info.checksums)

    result = await db.verify(claimed)
    assert not result.ok
    assert "table users has 199 rows restored, 200 when backed up" in result.differences
    assert "table billing.invoices rows differ from the backup (checksum mismatch)" in (
        result.differences
    )
    assert not any("audit_log" in d for d in result.differences)


async def test_restore_gives_back_the_rows_and_keeps_a_safety_backup(
    db: PostgresDatabase, catalog: BackupCatalog, cluster: Cluster, app_url: str
) -> None:
    dbname = app_url.rsplit("/", 1)[1]
    before = cluster.psql(dbname, "SELECT string_agg(email, ',' ORDER BY id) FROM users")
    info = await catalog.backup(db, "run-1")

    cluster.psql(
        dbname,
        "UPDATE users SET email = 'gone' WHERE id < 50; DELETE FROM billing.invoices; "
        "DROP TABLE audit_log",
    )
    assert await db.row_counts() == {"users": 200, "billing.invoices": 0}

    outcome = await restore_with_safety(db, catalog, info, "run-2")

    assert cluster.psql(dbname, "SELECT string_agg(email, ',' ORDER BY id) FROM users") == before
    assert await db.row_counts() == EXPECTED_COUNTS
    assert outcome.safety.kind == "safety"
    assert outcome.safety.row_counts == {"users": 200, "billing.invoices": 0}
    assert outcome.safety.path.exists()
    assert {b.backup_id for b in catalog.backups("app")} == {
        info.backup_id,
        outcome.safety.backup_id,
    }


async def test_restoring_a_corrupt_dump_is_a_driver_error_with_pg_restore_words(
    db: PostgresDatabase, catalog: BackupCatalog, cluster: Cluster, app_url: str
) -> None:
    info = await catalog.backup(db, "run-1")
    info.path.write_bytes(b"not a dump at all")
    with pytest.raises(DriverError, match=r"pg_restore.*valid archive") as raised:
        await restore_with_safety(db, catalog, info, "run-2")
    assert "saved as 20260105T100000Z-run-2" in str(raised.value)
    dbname = app_url.rsplit("/", 1)[1]
    assert cluster.psql(dbname, "SELECT count(*) FROM users") == "200"


def test_urls_lose_their_password() -> None:
    assert redact_url("postgresql+psycopg://app:pw@db:5432/app") == (
        "postgresql+psycopg://app@db:5432/app"
    )
    assert "pw" not in redact_url("host=db user=app password=pw dbname=app")

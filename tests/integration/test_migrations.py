"""Alembic migrations on SQLite and PostgreSQL: the revision before is recorded and returned to."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from tests.support.postgres import Cluster, available, throwaway_cluster

from runwright.databases.migrations import (
    AlembicMigration,
    AlembicSettings,
    RollbackPolicy,
)
from runwright.engine.clock import FakeClock
from runwright.errors import DriverError

# Under xdist one worker runs the whole module: its PostgreSQL cluster is made once.
pytestmark = pytest.mark.xdist_group("migrations")

PROJECT = Path(__file__).resolve().parent.parent / "fixtures" / "alembic_project"
INI = PROJECT / "alembic.ini"


def real_work_clock() -> FakeClock:
    """A fake clock that jumps only after real quiet: Alembic runs as a real process inside
    the migration's time limit, which must not fire while it works."""
    return FakeClock(autojump_threshold=30.0)


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    if not available():
        pytest.skip("needs PostgreSQL binaries (initdb, pg_ctl)")
    with throwaway_cluster() as running:
        yield running


def _tables(url: str) -> set[str]:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return set(sa.inspect(conn).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


async def _upgrade_then_undo(url: str) -> None:
    first = AlembicMigration(AlembicSettings(INI, url, target="0001"), real_work_clock())
    assert await first.current() is None
    record = await first.apply()
    assert (record.before, record.after) == (None, "0001")
    assert _tables(url) == {"accounts"}

    to_head = AlembicMigration(AlembicSettings(INI, url), real_work_clock())
    record = await to_head.apply()
    assert (record.before, record.after) == ("0001", "0002")
    assert record.changed
    assert "Running upgrade 0001 -> 0002" in record.output
    assert _tables(url) == {"accounts", "invoices"}

    await to_head.undo(record)
    assert await to_head.current() == "0001"
    assert _tables(url) == {"accounts"}

    again = await to_head.apply()
    assert again.before == "0001"
    await to_head.undo(record)
    await to_head.undo(record)  # already there: nothing to do
    assert await to_head.current() == "0001"


async def test_alembic_on_sqlite_records_and_returns_to_the_previous_revision(
    tmp_path: Path,
) -> None:
    await _upgrade_then_undo(f"sqlite:///{tmp_path / 'app.sqlite3'}")


@pytest.mark.postgres
async def test_alembic_on_postgres_records_and_returns_to_the_previous_revision(
    cluster: Cluster,
) -> None:
    cluster.createdb("migrations_app")
    cluster.psql("postgres", "ALTER ROLE runwright PASSWORD 'p%w'")
    url = cluster.url("migrations_app").replace("runwright@", "runwright:p%25w@")
    await _upgrade_then_undo(url)


async def test_a_failing_migration_is_a_driver_error_with_alembic_words(tmp_path: Path) -> None:
    path = tmp_path / "app.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE accounts (id INTEGER PRIMARY KEY)")
    conn.close()
    migration = AlembicMigration(AlembicSettings(INI, f"sqlite:///{path}"), real_work_clock())
    with pytest.raises(DriverError, match="table accounts already exists"):
        await migration.apply()
    assert await migration.current() is None


def test_the_plan_states_commands_and_rollback_without_the_password() -> None:
    settings = AlembicSettings(
        INI, "postgresql+psycopg://app:hunter2@db/app", rollback=RollbackPolicy.RESTORE
    )
    plan = AlembicMigration(settings, real_work_clock()).plan()
    assert plan.rollback is RollbackPolicy.RESTORE
    text = "\n".join(plan.describe())
    assert "hunter2" not in text
    assert f"alembic -c {INI} -x url=postgresql+psycopg://app@db/app upgrade head" in text
    assert "rollback: restore, restore the backup taken before the migration" in text

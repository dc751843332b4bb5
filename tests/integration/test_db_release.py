"""A release that migrates a real database and then fails puts the database back by the
migration's declared policy: ``downgrade`` returns the schema to the revision recorded before,
``restore`` brings back the pre-release rows, ``keep`` leaves the new schema. Against a
throwaway PostgreSQL cluster and SQLite files, with the Alembic project in tests/fixtures."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from tests.support.postgres import Cluster

from runwright.app.plans.expansion import build_plan
from runwright.app.runs import runs
from runwright.app.runtime.runtime import Runtime
from runwright.app.runtime.settings import Settings
from runwright.databases.catalog import BackupCatalog
from runwright.engine.clock import FakeClock
from runwright.engine.store import RunRow

ROOT = Path(__file__).resolve().parents[2]
INI = ROOT / "tests" / "fixtures" / "alembic_project" / "alembic.ini"
ACCOUNTS = [(1, "ada@example.com"), (2, "grace@example.com"), (3, "linus@example.com")]


@dataclass
class Db:
    """One throwaway database: its SQLAlchemy URL, and what the runbook calls it."""

    url: str
    runbook_target: str

    def query(self, sql: str) -> list[tuple[object, ...]]:
        engine = sa.create_engine(self.url, poolclass=sa.pool.NullPool)
        try:
            with engine.begin() as conn:
                result = conn.execute(sa.text(sql))
                return [tuple(r) for r in result] if result.returns_rows else []
        finally:
            engine.dispose()

    def tables(self) -> set[str]:
        engine = sa.create_engine(self.url, poolclass=sa.pool.NullPool)
        try:
            with engine.connect() as conn:
                return set(sa.inspect(conn).get_table_names())
        finally:
            engine.dispose()

    def revision(self) -> str | None:
        rows = self.query("SELECT version_num FROM alembic_version")
        return str(rows[0][0]) if rows else None


def _at_first_revision(db: Db) -> Db:
    """The database at revision 0001 with three accounts: the state before the release."""
    import subprocess

    subprocess.run(
        [sys.executable, "-m", "alembic", "-c", str(INI), "-x", f"url={db.url}", "upgrade", "0001"],
        check=True,
        capture_output=True,
    )
    values = ", ".join(f"({i}, '{e}')" for i, e in ACCOUNTS)
    db.query(f"INSERT INTO accounts (id, email) VALUES {values}")
    return db


@pytest.fixture(params=["postgres", "sqlite"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Db:
    if request.param == "sqlite":
        path = tmp_path / "shop.db"
        return _at_first_revision(Db(f"sqlite:///{path}", str(path)))
    cluster: Cluster = request.getfixturevalue("pg_cluster")
    name = f"rel_{request.node.name.split('[')[0][5:28]}".lower()
    cluster.psql("postgres", f'DROP DATABASE IF EXISTS "{name}"')
    url = cluster.createdb(name)
    return _at_first_revision(Db(url, url.replace("postgresql+psycopg://", "postgresql://")))


REAL_WORK = 30.0


@pytest.fixture
def rt(tmp_path: Path, db: Db) -> Iterator[Runtime]:
    environ = {"PATH": "/usr/bin:/bin", "SHOP_DB": db.runbook_target, "SHOP_SA_URL": db.url}
    settings = Settings.from_environ(environ, state_dir=str(tmp_path / "state"), user="alice")
    # the database tools are real processes inside the clock's time limits: jump only after
    # real quiet, so the fake clock never times them out while they work
    clock = FakeClock(datetime(2026, 1, 5, 10, 0, tzinfo=UTC), autojump_threshold=REAL_WORK)
    runtime = Runtime.open(settings, clock=clock)
    try:
        yield runtime
    finally:
        runtime.close()


WRITE_AFTER_MIGRATION = """
import os
import sqlalchemy as sa
import yaml

engine = sa.create_engine(os.environ["SHOP_SA_URL"])
with engine.begin() as conn:
    conn.execute(sa.text("UPDATE accounts SET email = 'lost@example.com', plan = 'pro'"))
    conn.execute(sa.text("INSERT INTO invoices (id, account_id) VALUES (1, 1)"))
engine.dispose()
"""


def runbook(tmp_path: Path, policy: str | None, *, backup: bool = True, fail: bool = True) -> Path:
    """Back up, migrate to head with ``policy``, let the new version write, then a smoke test
    that fails (or not)."""
    migrate: dict[str, Any] = {"alembic": str(INI), "database": "{{ secrets.db }}"}
    if policy:
        migrate["on_rollback"] = policy
    database: list[dict[str, Any]] = [{"name": "migrate", "migrate": migrate}]
    if backup:
        params = {"database": "{{ secrets.db }}", "checksum": ["accounts"]}
        database.insert(0, {"name": "backup", "backup": params})
    (tmp_path / "writes.py").write_text(WRITE_AFTER_MIGRATION)
    book = {
        "name": "shop-schema",
        "secrets": {"db": {"env": "SHOP_DB"}},
        "environments": {"test": {}},
        "rollback": [{"run": "echo rolled back"}],
        "phases": [
            {"name": "database", "steps": database},
            {
                "name": "release",
                "steps": [
                    {"name": "new version writes",
                     "run": {"command": f"{sys.executable} writes.py", "cwd": str(tmp_path)}},
                    {"name": "smoke test", "run": "exit 3" if fail else "true"},
                ],
            },
        ],
    }  # fmt: skip
    path = tmp_path / "shop.yaml"
    path.write_text(yaml.safe_dump(book, sort_keys=False))
    return path


def deploy(rt: Runtime, path: Path) -> RunRow:
    return asyncio.run(runs.deploy(rt, path, "test", "v2"))


def _step(rt: Runtime, run: RunRow, name: str) -> dict[str, object]:
    row = next(r for r in rt.store.steps(run.id) if r.name == name)
    return {"status": row.status, "undo": row.undo_status, "data": row.data}


def test_a_failed_release_downgrades_to_the_recorded_revision(
    rt: Runtime, db: Db, tmp_path: Path
) -> None:
    run = deploy(rt, runbook(tmp_path, "downgrade"))

    assert run.status == "rolled_back"
    migrate = _step(rt, run, "migrate")
    assert migrate["status"] == "succeeded"
    assert migrate["undo"] == "done"
    recorded = migrate["data"]["migration"]  # type: ignore[index]
    assert (recorded["before"], recorded["after"], recorded["policy"]) == (
        "0001",
        "0002",
        "downgrade",
    )
    assert db.revision() == "0001"
    assert db.tables() == {"accounts", "alembic_version"}
    # A downgrade keeps what the release wrote to the tables it keeps.
    assert db.query("SELECT count(*) FROM accounts") == [(3,)]
    undone = [e for e in rt.store.events(run.id) if e.type == "undo.succeeded"]
    assert [e.step for e in undone] == ["migrate"]
    assert "downgraded 0002 -> 0001" in undone[0].data["summary"]


def test_the_restore_policy_brings_back_the_pre_release_rows(
    rt: Runtime, db: Db, tmp_path: Path
) -> None:
    run = deploy(rt, runbook(tmp_path, "restore"))

    assert run.status == "rolled_back"
    assert _step(rt, run, "new version writes")["status"] == "succeeded"
    assert db.revision() == "0001"
    assert db.tables() == {"accounts", "alembic_version"}
    assert db.query("SELECT id, email FROM accounts ORDER BY id") == ACCOUNTS
    catalog = BackupCatalog(rt.settings.state_dir / "backups", rt.clock)
    kinds = sorted(b.kind for b in catalog.backups())
    assert kinds == ["backup", "safety"]
    safety = next(b for b in catalog.backups() if b.kind == "safety")
    assert safety.row_counts.get("invoices") == 1  # what the failed release wrote is kept
    restored = [e for e in rt.store.events(run.id) if e.type == "backup.restored"]
    assert restored
    assert restored[0].data["safety_backup_id"] == safety.backup_id


def test_the_keep_policy_leaves_the_new_schema(rt: Runtime, db: Db, tmp_path: Path) -> None:
    run = deploy(rt, runbook(tmp_path, "keep"))

    assert run.status == "rolled_back"
    assert db.revision() == "0002"
    assert "invoices" in db.tables()
    undone = [e.data["summary"] for e in rt.store.events(run.id) if e.type == "undo.succeeded"]
    assert undone == ["schema kept at 0002 (on_rollback: keep)"]


def test_restore_policy_without_an_earlier_backup_never_migrates(
    rt: Runtime, db: Db, tmp_path: Path
) -> None:
    run = deploy(rt, runbook(tmp_path, "restore", backup=False))

    assert run.status == "rolled_back"
    assert "no backup of" in (run.failure or "")
    assert db.revision() == "0001"


def test_a_good_release_migrates_and_the_plan_shows_the_policy(
    rt: Runtime, db: Db, tmp_path: Path
) -> None:
    path = runbook(tmp_path, "downgrade", fail=False)
    book = rt.load(path)
    env_name, env = rt.environment(book, "test")
    variables = rt.variables(
        book, env_name, env, version="v2", overrides={}, secrets={"db": "***"}, run_id=None,
        initiator="alice", planning=True,
    )  # fmt: skip
    plan = build_plan(book, env_name, env, "v2", variables)
    migrate = next(s for s in plan.steps if s.name == "migrate")
    assert "on_rollback: downgrade" in migrate.lines
    assert migrate.undo
    assert migrate.undo[0].startswith("downgrade to the state recorded before")

    run = deploy(rt, path)
    assert run.status == "succeeded"
    assert db.revision() == "0002"
    backup = _step(rt, run, "backup")["data"]["backup"]  # type: ignore[index]
    assert backup["verified"] is True
    assert backup["row_counts"]["accounts"] == 3

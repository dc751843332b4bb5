"""The migrated schema is the one the code declares.

The store writes through ``engine/tables.py`` but databases are built by the Alembic
migrations; when the two drift (an index only a migration creates, a column only the metadata
knows), a fresh install and an upgraded one behave differently. Alembic's own comparison finds
every difference, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from tests.support.postgres import Cluster

from runwright.engine import accounts
from runwright.engine.chain import ChainKey
from runwright.engine.store import Store
from runwright.engine.tables import metadata

TABLE_MODULES = (accounts,)  # modules that add tables to the shared metadata when imported
MIGRATIONS = Path(__file__).resolve().parents[2] / "src" / "runwright" / "migrations"


def differences(url: str) -> list[Any]:
    store = Store.open(url, key=ChainKey(bytes(range(32))))
    try:
        with store.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            return list(compare_metadata(context, metadata))
    finally:
        store.close()


def test_sqlite_schema_matches_the_metadata(tmp_path: Path) -> None:
    assert differences(f"sqlite:///{tmp_path / 'rw.db'}") == []


@pytest.mark.postgres
def test_postgres_schema_matches_the_metadata(pg_cluster: Cluster) -> None:
    url = pg_cluster.createdb(f"rw_{uuid4().hex[:12]}")
    assert differences(url) == []


def test_migration_files_are_named_in_chain_order() -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    scripts = ScriptDirectory.from_config(cfg)
    chain = list(reversed(list(scripts.walk_revisions())))
    names = [Path(rev.path).name for rev in chain]
    assert names == sorted(names), "migration files must sort in the order Alembic applies them"
    prefixes = [name.split("_", 1)[0] for name in names]
    assert len(set(prefixes)) == len(prefixes), f"two migrations share a number: {names}"

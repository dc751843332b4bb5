"""A rollback to an earlier revision brings that revision's schema back with its code.

Three releases each ship the migrations of their code (v1: 0001, v2: 0002, v3: 0003, each
migrating to ``head``); ``runwright rollback --to-revision 1`` then finds the schema at 0001
(revision 1's recorded head) with v1 live, where it used to leave 0002 and 0003 applied under
v1's code. ``--dry-run`` says what it will do to the schema; ``on_rollback: keep`` leaves the newer
schema (expand/contract) and says so.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa
from tests.conftest import RunCli

pytestmark = pytest.mark.slow

PROJECT = Path(__file__).resolve().parent.parent / "fixtures" / "alembic_project"

BOOK = """\
name: ledger
environments:
  production: {{}}
phases:
  - name: release
    steps:
      - name: migrate schema
        migrate:
          alembic: db/alembic.ini
          database: sqlite:///{db}
          on_rollback: {policy}
      - name: ship
        run: echo {{{{ version }}}} > {live}
"""

REFUNDS = '''"""Add a refunds table.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("refunds", sa.Column("id", sa.Integer, primary_key=True))


def downgrade() -> None:
    op.drop_table("refunds")
'''


def _schema(db: Path) -> tuple[str, set[str]]:
    engine = sa.create_engine(f"sqlite:///{db}", poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            head = str(conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar())
            tables = set(sa.inspect(conn).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()
    return head, tables


def _three_releases(tmp_path: Path, run_cli: RunCli, policy: str) -> tuple[Path, Path]:
    """v1 ships 0001, v2 adds 0002, v3 adds 0003: each release migrates to its head."""
    project = tmp_path / "db"
    shutil.copytree(PROJECT, project)
    versions = project / "migrations" / "versions"
    later = versions / "0002_add_plan.py"
    held = later.read_text()
    later.unlink()
    db, live = tmp_path / "ledger.db", tmp_path / "live"
    book = tmp_path / "ledger.yaml"
    book.write_text(BOOK.format(db=db, live=live, policy=policy))
    for version, migration in (("v1", None), ("v2", ("0002_add_plan.py", held)),
                               ("v3", ("0003_add_refunds.py", REFUNDS))):  # fmt: skip
        if migration is not None:
            (versions / migration[0]).write_text(migration[1])
        done = run_cli("deploy", str(book), "-e", "production", "--version", version)
        assert done.returncode == 0, done.stdout + done.stderr
    assert _schema(db) == ("0003", {"accounts", "invoices", "refunds"})
    return db, live


def test_rollback_to_revision_1_brings_its_schema_back(tmp_path: Path, run_cli: RunCli) -> None:
    db, live = _three_releases(tmp_path, run_cli, "downgrade")
    dry = run_cli("rollback", "-e", "production", "--to-revision", "1", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert (
        "schema (migrate schema): brought back to revision 1's head 0001 (now 0003): "
        "alembic downgrade 0001" in dry.stdout
    )
    assert _schema(db)[0] == "0003"
    back = run_cli("rollback", "-e", "production", "--to-revision", "1", "--json")
    assert back.returncode == 0, back.stdout + back.stderr
    assert _schema(db) == ("0001", {"accounts"})
    assert live.read_text() == "v1\n"
    history = json.loads(run_cli("history", "--json").stdout)
    assert history[0]["kind"] == "rollback"


def test_on_rollback_keep_leaves_the_newer_schema_and_says_so(
    tmp_path: Path, run_cli: RunCli
) -> None:
    db, live = _three_releases(tmp_path, run_cli, "keep")
    dry = run_cli("rollback", "-e", "production", "--to-revision", "1", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "stays where it is, not at revision 1's head 0001 (now 0003): on_rollback: keep" in (
        dry.stdout
    )
    back = run_cli("rollback", "-e", "production", "--to-revision", "1")
    assert back.returncode == 0, back.stdout + back.stderr
    assert live.read_text() == "v1\n"
    assert _schema(db)[0] == "0003"

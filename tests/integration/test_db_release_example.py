"""examples/db-release.yaml, run as a user would: ``runwright deploy`` v1 then v2 against a
throwaway PostgreSQL database, then ``runwright rollback``; each release backs the database
up (verified), migrates it to the version's revision, and moves the router blue-green."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml
from tests.conftest import ROOT, RunCli
from tests.support.postgres import Cluster
from tests.support.releases import version_at

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
EXAMPLE = ROOT / "examples" / "db-release.yaml"


def _kill_recorded(state_dir: Path) -> None:
    """Stop every service and router process the runs recorded in pid files."""
    for path in [*state_dir.glob("services/**/*.json"), *state_dir.glob("routers/**/*.json")]:
        with contextlib.suppress(ValueError, KeyError, OSError, TypeError):
            record = json.loads(path.read_text())
            if record.get("pgid"):
                os.killpg(int(record["pgid"]), signal.SIGKILL)
            os.kill(int(record["pid"]), signal.SIGKILL)


@pytest.fixture
def example(
    tmp_path: Path, state_dir: Path, free_port: Callable[[], int]
) -> Iterator[tuple[Path, str]]:
    """The example with the router on free ports (everything else as shipped)."""
    book = yaml.safe_load(EXAMPLE.read_text())
    listen = f"127.0.0.1:{free_port()}"
    book["service"]["router"].update(listen=listen, admin=f"127.0.0.1:{free_port()}")
    path = tmp_path / "db-release.yaml"
    path.write_text(yaml.safe_dump(book, sort_keys=False))
    (tmp_path / "db-release").symlink_to(EXAMPLE.parent / "db-release")
    try:
        yield path, listen
    finally:
        _kill_recorded(state_dir)


def _revision(url: str) -> str:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return str(conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar())
    finally:
        engine.dispose()


def test_the_shipped_example_validates_and_lints_clean(run_cli: RunCli) -> None:
    env = {"DATABASE_URL": "postgresql://app@127.0.0.1:5432/shop"}
    assert run_cli("validate", str(EXAMPLE), env=env).returncode == 0
    linted = run_cli("lint", str(EXAMPLE), env=env)
    assert linted.returncode == 0, linted.stdout + linted.stderr
    plan = run_cli("plan", str(EXAMPLE), "-e", "local", "--version", "v2", env=env)
    assert plan.returncode == 0, plan.stderr
    assert "on_rollback: downgrade" in plan.stdout
    assert "undo migrate schema: downgrade to the state recorded before" in plan.stdout


def test_v1_v2_then_rollback_against_postgres(
    pg_cluster: Cluster, run_cli: RunCli, example: tuple[Path, str]
) -> None:
    path, listen = example
    pg_cluster.psql("postgres", 'DROP DATABASE IF EXISTS "shop_example"')
    url = pg_cluster.createdb("shop_example")
    env = {"DATABASE_URL": url.replace("postgresql+psycopg://", "postgresql://")}
    python = f"python={sys.executable}"

    def deploy(version: str) -> None:
        done = run_cli(
            "deploy", str(path), "-e", "local", "--version", version, "--var", python, env=env
        )
        assert done.returncode == 0, done.stdout + done.stderr

    deploy("v1")
    assert version_at(listen) == "v1"
    assert _revision(url) == "0001"
    pg_cluster.psql("shop_example", "INSERT INTO orders VALUES (1, 'ada', 1200)")

    deploy("v2")
    assert version_at(listen) == "v2"
    assert _revision(url) == "0002"

    back = run_cli("rollback", "-e", "local", env=env)
    assert back.returncode == 0, back.stdout + back.stderr
    assert version_at(listen) == "v1"
    assert _revision(url) == "0001"
    assert pg_cluster.psql("shop_example", "SELECT customer FROM orders") == "ada"

    listed = run_cli("backups", "list", "--json")
    backups = json.loads(listed.stdout)
    assert [b["kind"] for b in backups] == ["backup"] * 3
    assert all(b["verification"]["ok"] for b in backups)

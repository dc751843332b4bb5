"""Seed 003 (Case Management), ``examples/seeds/case-management``, released by the real CLI
on a real PostgreSQL, the backend behind the built-in router and the frontend behind HAProxy.

v1 goes out only after two people other than the deployer approved and the readiness
checklists were attested, with a pg_dump backup verified by restoring it and the migration
(exit 0). v2 ships migration 0002 and a backend that fails every request: the frontend's
bake, under the seed's rollback triggers (shortened here), fails, and the seed's rollback
section holds: both services back on v1 (`rollout undo` for both), the schema back at 0001 with
the data kept, and #critical-alerts told (the n8n webhook). Then ``rollback --wait`` needs
nobody (the environment's rollback rules).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from tests.support.postgres import Cluster
from tests.support.receivers import failing_first, receiver
from tests.support.seeds import open_seed

pytestmark = [pytest.mark.postgres, pytest.mark.haproxy, pytest.mark.slow]


def _fast(book: dict[str, Any]) -> None:
    """The seed's minutes as fractions of a second, and the frontend calling this backend."""
    book["vars"]["backend_url"] = "http://" + book["services"]["backend"]["router"]["listen"]
    for check in book["checks"].values():
        check.update(interval="250ms", **{"for": "0.5s"})
    release = book["services"]["frontend"]["release"]
    release.update(bake="2s", keep_previous="0s")


def _schema(url: str) -> tuple[str, list[str], int]:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            head = str(conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar())
            columns = [c["name"] for c in sa.inspect(conn).get_columns("cases")]
            rows = int(conn.execute(sa.text("SELECT count(*) FROM cases")).scalar() or 0)
    finally:
        engine.dispose()
    return head, columns, rows


def test_case_management_two_approvals_then_a_bad_release_rolled_back(
    pg_cluster: Cluster, state_dir: Path, free_port: Callable[[], int]
) -> None:
    pg_cluster.psql("postgres", 'DROP DATABASE IF EXISTS "cases_seed"')
    url = pg_cluster.createdb("cases_seed")
    with receiver(failing_first(0)) as n8n:
        env = {
            "DATABASE_URL": url.replace("postgresql+psycopg://", "postgresql://"),
            "N8N_WEBHOOK_URL": f"{n8n.url}/webhook/critical-alerts",
        }
        _release(state_dir, free_port, env, url)
    told = [(r.json()["event"], r.json()["run"]["version"]) for r in n8n.requests]
    assert ("rolled_back", "v2") in told
    assert ("succeeded", "v1") in told


def _release(state_dir: Path, free_port: Callable[[], int], env: dict[str, str], url: str) -> None:
    with open_seed("case-management", state_dir, free_port, env=env, edit=_fast) as seed:
        assert seed.run("lint", str(seed.book)).returncode == 0
        versions = seed.dir / "db" / "migrations" / "versions"
        later = versions / "0002_add_case_assignee.py"
        held = later.read_text()
        later.unlink()  # v1's code ships 0001 only

        good = seed.deploy("v1")
        assert good.returncode == 0, good.stdout + good.stderr
        report = seed.run("report", "1").stdout
        assert "bob" in report
        assert "carol" in report
        assert seed.version_at("backend") == "v1"
        assert seed.version_at("frontend") == "v1"
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        with engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO cases (title) VALUES ('Smith v. Jones')"))
        engine.dispose()

        later.write_text(held)  # v2's code ships 0002
        bad = seed.deploy("v2", var=("backend_error_rate=1",))
        assert bad.returncode == 1, bad.stdout + bad.stderr
        assert "error-rate" in bad.stdout + bad.stderr
        assert seed.version_at("backend") == "v1"
        assert seed.version_at("frontend") == "v1"
        assert seed.get("frontend")[0] == 200
        assert _schema(url) == ("0001", ["id", "title"], 1)

        good2 = seed.deploy("v3")
        assert good2.returncode == 0, good2.stdout + good2.stderr
        assert _schema(url)[0] == "0002"
        back = seed.run("rollback", "-e", "production", "--wait")
        assert back.returncode == 0, back.stdout + back.stderr
        assert seed.version_at("backend") == "v1"
        assert seed.version_at("frontend") == "v1"
        assert _schema(url) == ("0001", ["id", "title"], 1)

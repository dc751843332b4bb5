"""Seed 004 (AI Shield), ``examples/seeds/ai-shield``, released by the real CLI: frontend,
backend and worker run by the team's compose-style script (the command driver), the
database outside them on a real PostgreSQL, a verified backup and the Alembic migration,
smoke tests, the status page's ``/api/incidents`` and Slack on local receivers.

v1 is released (exit 0). v2's backend fails every request to ``/`` while its health and
version answer: its own smoke passes, and once all three services took traffic the frontend's
bake finds a user's request failing through it. What the seed's rollback section
promises then holds: every service is back on v1 (frontend and backend through their routers,
the worker restarted), the schema is back at v1's revision with the data kept, the status
API has "Issue detected, rolling back deployment" and Slack "Rollback in progress".
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

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def _schema(url: str) -> tuple[str, set[str], int]:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            head = str(conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar())
            tables = set(sa.inspect(conn).get_table_names()) - {"alembic_version"}
            rows = int(conn.execute(sa.text("SELECT count(*) FROM scans")).scalar() or 0)
    finally:
        engine.dispose()
    return head, tables, rows


def test_ai_shield_good_release_then_a_bad_one_rolled_back(
    pg_cluster: Cluster, state_dir: Path, free_port: Callable[[], int]
) -> None:
    pg_cluster.psql("postgres", 'DROP DATABASE IF EXISTS "aishield_seed"')
    url = pg_cluster.createdb("aishield_seed")
    with receiver(failing_first(0)) as status, receiver(failing_first(0)) as slack:
        env = {
            "DATABASE_URL": url.replace("postgresql+psycopg://", "postgresql://"),
            "STATUS_API_URL": status.url,
            "STATUS_API_KEY": "sk-status-004",
            "SLACK_WEBHOOK_URL": f"{slack.url}/hook",
        }

        def upstream(book: dict[str, Any]) -> None:
            for service in ("backend", "frontend"):
                listen = book["services"][service]["router"]["listen"]
                book["vars"][f"{service}_url"] = f"http://{listen}"

        with open_seed("ai-shield", state_dir, free_port, env=env, edit=upstream) as seed:
            assert seed.run("lint", str(seed.book)).returncode == 0
            good = seed.deploy("v1")
            assert good.returncode == 0, good.stdout + good.stderr
            assert seed.version_at("backend") == "v1"
            assert "v1" in seed.get("frontend")[1]
            engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
            with engine.begin() as conn:
                conn.execute(sa.text("INSERT INTO scans (project) VALUES ('acme')"))
            engine.dispose()

            bad = seed.deploy("v2", var=("backend_faults=--error-rate 1",))
            assert bad.returncode == 1, bad.stdout + bad.stderr
            assert "frontend-answers" in bad.stdout + bad.stderr
            assert seed.version_at("backend") == "v1"
            assert seed.version_at("frontend") == "v1"
            answer, body = seed.get("frontend")
            assert answer == 200
            assert "v1" in body
            assert _schema(url) == ("0001", {"scans"}, 1)
            workers = list((state_dir / "aishield" / "worker").glob("*.json"))
            assert [p.stem for p in workers] == ["v1"]

    bodies = [r.json() for r in status.requests]
    assert bodies == [
        {"name": "Deployment complete", "status": "resolved", "impact": "none"},
        {"name": "Issue detected, rolling back deployment", "status": "monitoring",
         "impact": "partial"},
    ]  # fmt: skip
    assert status.requests[0].headers["Authorization"] == "Bearer sk-status-004"
    told = b"\n".join(slack.bodies()).decode()
    assert "Rollback in progress" in told
    assert "Rolling back AI Shield v2 to the previous version" in told

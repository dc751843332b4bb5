"""``scripts/local-postgres``, the way a new user gets a PostgreSQL for the examples: it
starts a private cluster (as root too, where initdb refuses to run), creates the examples'
databases, prints a DATABASE_URL that works, stops it, and ``destroy`` removes its files."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from tests.support import postgres

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "local-postgres"


def test_start_gives_a_working_database_url_and_stop_stops_it(
    tmp_path: Path, free_port: Callable[[], int]
) -> None:
    if not postgres.available():
        pytest.skip("PostgreSQL binaries (initdb, pg_ctl, postgres) are not installed")
    env = {**os.environ, "LOCAL_PG_DIR": str(tmp_path / "pg")}
    port = free_port()
    started = subprocess.run(
        [str(SCRIPT), "start", str(port)], env=env, capture_output=True, text=True, timeout=120
    )
    try:
        assert started.returncode == 0, started.stderr
        assert f"export DATABASE_URL=postgresql://runwright@127.0.0.1:{port}/shop" in (
            started.stdout
        )
        url = subprocess.run(
            [str(SCRIPT), "url", "cases"], env=env, capture_output=True, text=True, check=True
        ).stdout.strip()
        assert url == f"postgresql://runwright@127.0.0.1:{port}/cases"
        engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT current_database()")).scalar() == "cases"
        engine.dispose()
    finally:
        stopped = subprocess.run([str(SCRIPT), "stop"], env=env, capture_output=True, text=True)
        home = Path((tmp_path / "pg" / "home").read_text().strip())
        subprocess.run([str(SCRIPT), "destroy"], env=env, capture_output=True, check=True)
    assert stopped.returncode == 0, stopped.stderr
    assert not home.exists()

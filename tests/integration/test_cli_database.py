"""``runwright backup``, ``backups list`` and ``restore`` as a user runs them: verified backups,
a restore that refuses to run unattended without ``--yes``, a safety backup before every
restore, exit codes a CI job can use, and the run kept in the journal."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from tests.conftest import RunCli

pytestmark = pytest.mark.slow


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    path = tmp_path / "shop.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, customer TEXT)")
    conn.executemany("INSERT INTO orders VALUES (?, ?)", [(i, f"c{i}") for i in range(1, 21)])
    conn.commit()
    conn.close()
    return path


def _count(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("SELECT count(*) FROM orders").fetchone()[0])
    finally:
        conn.close()


def _backups(run_cli: RunCli, *extra: str) -> list[dict[str, object]]:
    listed = run_cli("backups", "list", "--json", *extra)
    assert listed.returncode == 0, listed.stderr
    return list(json.loads(listed.stdout))


def test_backup_then_restore_with_yes(run_cli: RunCli, shop: Path) -> None:
    made = run_cli("backup", str(shop), "--checksum", "orders", "--json", "-q")
    assert made.returncode == 0, made.stderr
    result = json.loads(made.stdout)
    assert result["status"] == "succeeded"
    assert result["backup"]["verified"] is True
    assert result["backup"]["row_counts"] == {"orders": 20}
    backup_id = result["backup"]["backup_id"]

    sqlite3.connect(shop).execute("DELETE FROM orders WHERE id > 5").connection.commit()
    assert _count(shop) == 5

    refused = run_cli("restore", backup_id)
    assert refused.returncode == 2
    assert "stdin is not a terminal" in refused.stderr
    assert "--yes" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert _count(shop) == 5

    restored = run_cli("restore", backup_id, "--yes", "--json", "-q")
    assert restored.returncode == 0, restored.stderr
    outcome = json.loads(restored.stdout)
    assert outcome["restored"]["backup_id"] == backup_id
    assert _count(shop) == 20

    backups = _backups(run_cli)
    assert sorted(b["kind"] for b in backups) == ["backup", "safety"]
    safety = next(b for b in backups if b["kind"] == "safety")
    assert safety["row_counts"] == {"orders": 5}
    assert outcome["safety"]["backup_id"] == safety["backup_id"]

    history = run_cli("history", "--json")
    kinds = [r.get("kind") for r in json.loads(history.stdout)]
    assert "database-restore" in kinds or len(kinds) == 2


def test_keep_applies_retention_and_dir_is_honoured(
    run_cli: RunCli, shop: Path, tmp_path: Path
) -> None:
    where = tmp_path / "elsewhere"
    for _ in range(3):
        done = run_cli("backup", str(shop), "--dir", str(where), "--keep", "2", "-q")
        assert done.returncode == 0, done.stderr
    assert len(_backups(run_cli, "--dir", str(where))) == 2
    assert _backups(run_cli) == []


def test_bad_input_exits_2_with_a_hint(run_cli: RunCli, shop: Path, tmp_path: Path) -> None:
    unknown = run_cli("restore", "20990101T000000Z-run-9", "--yes")
    assert unknown.returncode == 2
    assert "no backup" in unknown.stderr
    mysql = run_cli("backup", "mysql://app@db/shop")
    assert mysql.returncode == 2
    assert "PostgreSQL, SQLite and RDS" in mysql.stderr
    missing = run_cli("backup", str(tmp_path / "nope.db"), "-q")
    assert missing.returncode == 1
    assert "does not exist" in missing.stderr
    for result in (unknown, mysql, missing):
        assert "Traceback" not in result.stderr

    made = json.loads(run_cli("backup", str(shop), "--json", "-q").stdout)
    other = tmp_path / "other.db"
    sqlite3.connect(other).close()
    wrong = run_cli("restore", made["backup"]["backup_id"], "--to", str(other), "--yes")
    assert wrong.returncode == 2
    assert "refusing to restore it there" in wrong.stderr

"""A planted secret appears nowhere: not on the terminal, in the store, the logs or the report.

The runbook declares ``API_TOKEN`` (from the environment) and echoes it every careless way:
templated into a command, through the inherited environment, through a step's ``env:``, on
stderr of a failing step and from an undo. Everywhere a person or a file could see it, only
``***`` may show.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from tests.conftest import ROOT, RunCli

BOOK = str(ROOT / "tests" / "fixtures" / "runbooks" / "secrets.yaml")
TOKEN = "s3cr3t-Zq8rW1pL-token"


@pytest.fixture
def deployed(run_cli: RunCli) -> tuple[str, str]:
    """Deploy the runbook with the secret set; return (stdout, stderr)."""
    result = run_cli("deploy", BOOK, "--version", "v1", env={"API_TOKEN": TOKEN})
    assert result.returncode == 1, result.stderr
    return result.stdout, result.stderr


def test_terminal_output_shows_only_the_mask(deployed: tuple[str, str]) -> None:
    out, err = deployed
    terminal = out + err
    assert TOKEN not in terminal
    assert "token is ***" in terminal
    assert "env token *** and ***" in terminal
    assert "bad token ***" in terminal
    assert "undoing with ***" in terminal


def test_the_store_never_holds_the_secret(deployed: tuple[str, str], state_dir: Path) -> None:
    files = [p for p in state_dir.rglob("*") if p.is_file()]
    assert any(p.name == "runwright.db" for p in files)
    for path in files:
        assert TOKEN.encode() not in path.read_bytes(), f"secret found in {path}"
    conn = sqlite3.connect(state_dir / "runwright.db")
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        rows = conn.execute("SELECT output, summary FROM steps ORDER BY idx").fetchall()
        dump = "\n".join(conn.iterdump())
    finally:
        conn.close()
    assert TOKEN not in dump
    assert (state_dir / "runwright.db").read_bytes().count(b"***") >= 4
    assert rows[0] == ("token is ***\nundoing with ***\n", "exit 0: token is ***")


def test_report_logs_and_status_show_only_the_mask(
    deployed: tuple[str, str], run_cli: RunCli
) -> None:
    for args in (("report", "1"), ("logs", "1"), ("logs", "1", "--json"), ("status", "1")):
        result = run_cli(*args, env={"API_TOKEN": TOKEN})
        assert result.returncode == 0, result.stderr
        assert TOKEN not in result.stdout + result.stderr, f"secret shown by {args}"
    report = run_cli("report", "1").stdout
    assert "bad token ***" in report
    assert "token is ***" in report


def test_plan_shows_the_mask_not_the_value(run_cli: RunCli) -> None:
    result = run_cli("plan", BOOK, "--version", "v1", env={"API_TOKEN": TOKEN})
    assert result.returncode == 0, result.stderr
    assert TOKEN not in result.stdout + result.stderr
    assert "echo \"token is \"'***'" in result.stdout

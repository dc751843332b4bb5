"""The audit trail resists tampering: ``runwright audit verify`` finds an edited or deleted
event in the SQLite file, names the first bad one, and exits 1; an untouched run exits 0.

One real deploy is made per module; each test tampers with its own copy of the database,
as an attacker with write access to the file would (sqlite3, raw SQL).
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.conftest import ROOT, RunCli

# Under xdist one worker runs the whole module: the run it audits is deployed once per module.
pytestmark = pytest.mark.xdist_group("audit")

BOOK = str(ROOT / "tests" / "fixtures" / "runbooks" / "simple.yaml")
DB = "runwright.db"
KEY = "audit.key"


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory, cli_for: Callable[[Path], RunCli]) -> Path:
    """A state directory holding one finished run (run 1, ten events)."""
    state = tmp_path_factory.mktemp("audit-state")
    work = tmp_path_factory.mktemp("audit-work")
    result = cli_for(state)("deploy", BOOK, "--version", "v1", "--var", f"dir={work}")
    assert result.returncode == 0, result.stderr
    return state


@pytest.fixture
def copy(deployed: Path, state_dir: Path) -> Path:
    """This test's own copy of the deployed database, in ``state_dir``; returns its path."""
    target = state_dir / DB
    with sqlite3.connect(deployed / DB) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    src.close()
    dst.close()
    shutil.copy2(deployed / KEY, state_dir / KEY)
    return target


def tamper(db: Path, sql: str) -> None:
    conn = sqlite3.connect(db)
    try:
        with conn:
            changed = conn.execute(sql).rowcount
        assert changed == 1, f"tampering changed {changed} rows"
    finally:
        conn.close()


def event_count(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        return int(conn.execute("SELECT count(*) FROM events WHERE run_id = 1").fetchone()[0])
    finally:
        conn.close()


def test_an_untouched_run_verifies(run_cli: RunCli, copy: Path) -> None:
    assert event_count(copy) == 10
    result = run_cli("audit", "verify", "1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "run 1: OK: 10 events, chain intact" in result.stdout


@pytest.mark.parametrize(
    ("sql", "named"),
    [
        (
            'UPDATE events SET data = \'{"attempt":1,"summary":"exit 0: all good"}\' '
            "WHERE run_id = 1 AND seq = 6",
            "event #6 (step.succeeded, step install) was edited",
        ),
        (
            "UPDATE events SET actor = 'mallory' WHERE run_id = 1 AND seq = 3",
            "event #3 (step.started, step prepare) was edited",
        ),
        (
            "UPDATE events SET data = replace(data, 'v1', 'v9') WHERE run_id = 1 AND seq = 10",
            "event #10 (revision.recorded) was edited",
        ),
    ],
    ids=["data", "actor", "last-event"],
)
def test_an_edited_event_is_named(run_cli: RunCli, copy: Path, sql: str, named: str) -> None:
    tamper(copy, sql)
    result = run_cli("audit", "verify", "1")
    assert result.returncode == 1
    assert "TAMPERED" in result.stdout
    assert named in result.stdout


def test_a_deleted_middle_event_is_detected(run_cli: RunCli, copy: Path) -> None:
    tamper(copy, "DELETE FROM events WHERE run_id = 1 AND seq = 4")
    result = run_cli("audit", "verify", "1")
    assert result.returncode == 1
    assert "event 4 is missing" in result.stdout
    assert "events were deleted" in result.stdout


def test_a_deleted_last_event_is_detected(run_cli: RunCli, copy: Path) -> None:
    tamper(copy, "DELETE FROM events WHERE run_id = 1 AND seq = 10")
    result = run_cli("audit", "verify", "1")
    assert result.returncode == 1
    assert "records 10 events but 9 remain" in result.stdout


def test_the_report_says_when_the_trail_was_tampered_with(run_cli: RunCli, copy: Path) -> None:
    tamper(copy, "UPDATE events SET step = 'something else' WHERE run_id = 1 AND seq = 5")
    report = run_cli("report", "1")
    assert report.returncode == 0
    assert "**Audit trail:** TAMPERED: event #5" in report.stdout


def test_the_whole_store_verifies_and_a_deleted_run_is_found(run_cli: RunCli, copy: Path) -> None:
    whole = run_cli("audit", "verify")
    assert whole.returncode == 0, whole.stdout + whole.stderr
    assert "run 1: OK: 10 events, chain intact" in whole.stdout

    conn = sqlite3.connect(copy)
    with conn:
        conn.execute("DELETE FROM events WHERE run_id = 1")
        conn.execute("DELETE FROM runs WHERE id = 1")
    conn.close()
    gone = run_cli("audit", "verify")
    assert gone.returncode == 1
    assert "store-wide events 1-10 are missing: events or a whole run were deleted" in gone.stdout


def test_an_exported_bundle_verifies_without_the_database(
    run_cli: RunCli, copy: Path, tmp_path: Path
) -> None:
    bundle = tmp_path / "run1.json"
    exported = run_cli("audit", "export", "1", "-o", str(bundle))
    assert exported.returncode == 0, exported.stderr
    copy.unlink()
    checked = run_cli("audit", "verify", "--bundle", str(bundle))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "run 1: 10 events, chain intact" in checked.stdout
    assert "bundle signature valid" in checked.stdout
    assert "# Deployment report" in json.loads(bundle.read_text())["report"]

    bundle.write_text(bundle.read_text().replace('"v1"', '"v9"'))
    edited = run_cli("audit", "verify", "--bundle", str(bundle))
    assert edited.returncode == 1
    assert "signature does not match: it was edited after export" in edited.stdout

"""A rollback made of manual steps and gates finishes: attest and resume act on it like on a
deploy, ``abort`` says it still waits (exit 3) instead of claiming it rolled back, ``status``
and a refused deploy say the run holding the lock is rolling back, and the lock is released
when the rollback ends. Every imported Markdown rollback is manual steps, so this is the path
every imported runbook takes when a deploy fails. (tests/unit/app/test_decisions.py has the
in-process cases: a deploy step left waiting, a manual undo.)
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.conftest import RunCli

pytestmark = pytest.mark.slow

BOOK = """\
name: by-hand
environments:
  production:
    identity: self_declared
phases:
  - name: release
    steps:
      - name: ship
        run: echo shipping {{ version }}; exit 1
rollback:
  - name: restore the previous build
    manual: true
    run: ./restore.sh previous
  - name: confirm the rollback
    gate:
      - traffic is back on the previous build
      - error rate is normal
"""


def _deploy(run_cli: RunCli, book: Path, version: str = "v2") -> tuple[int, str]:
    result = run_cli("deploy", str(book), "-e", "production", "--version", version)
    return result.returncode, result.stderr


def test_a_failed_deploy_whose_rollback_waits_on_people_can_finish(
    run_cli: RunCli, tmp_path: Path
) -> None:
    book = tmp_path / "book.yaml"
    book.write_text(BOOK)
    code, err = _deploy(run_cli, book)
    assert code == 3
    assert "rollback waiting for attestation" in err
    assert "'restore the previous build'" in err

    aborted = run_cli("abort", "1", "--reason", "give up")
    assert aborted.returncode == 3, aborted.stdout + aborted.stderr
    assert "rollback waiting for attestation" in aborted.stdout
    assert "aborted and rolled back" not in aborted.stdout

    status = json.loads(run_cli("status", "1", "--json").stdout)
    assert (status["phase"], status["holds_lock"]) == ("rollback", True)
    assert "rollback waiting for attestation" in status["waiting"]
    listed = run_cli("status").stdout
    assert "rollback waiting for attestation" in listed

    code, err = _deploy(run_cli, book, "v3")
    assert code == 3
    assert "locked by run 1" in err
    assert "rollback waiting for attestation" in err

    first = run_cli("attest", "1", "--all", "--note", "restored by hand", user="bob")
    assert first.returncode == 0, first.stderr
    assert "'restore the previous build' (rollback phase) attested by bob" in first.stdout
    resumed = run_cli("resume", "1")
    assert resumed.returncode == 3
    assert "rollback waiting for attestation" in resumed.stderr
    assert "'confirm the rollback'" in resumed.stderr

    second = run_cli("attest", "1", "--all", "--note", "graphs are green", user="bob")
    assert "'confirm the rollback' (rollback phase)" in second.stdout
    final = run_cli("resume", "1")
    assert final.returncode == 1, final.stderr
    assert "run 1: aborted" in final.stderr

    steps = {
        s["name"]: s["status"] for s in json.loads(run_cli("status", "1", "--json").stdout)["steps"]
    }
    assert steps == {
        "ship": "failed",
        "restore the previous build": "succeeded",
        "confirm the rollback": "succeeded",
    }
    assert run_cli("abort", "1").returncode == 2
    code, err = _deploy(run_cli, book, "v3")
    assert "run 2:" in err, "the lock was released when the rollback ended"

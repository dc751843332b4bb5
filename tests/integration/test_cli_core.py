"""The core commands as a user runs them: validate, deploy, history, report, and the run lock.

Every test runs the real ``runwright`` executable against real shell steps and a real local
HTTP server, and asserts what a person at the terminal (or a CI job reading exit codes) sees.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tests.conftest import ROOT, RunCli

EXAMPLES = sorted((ROOT / "examples").glob("*.*"))
RUNBOOKS = ROOT / "tests" / "fixtures" / "runbooks"


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_validate_accepts_every_example(run_cli: RunCli, example: Path) -> None:
    result = run_cli("validate", str(example))
    assert result.returncode == 0, result.stderr
    assert f"{example}: ok" in result.stdout


def test_validate_points_at_a_misspelt_key_and_suggests_the_right_one(run_cli: RunCli) -> None:
    result = run_cli("validate", str(RUNBOOKS / "typo.yaml"))
    assert result.returncode == 2
    assert f"{RUNBOOKS / 'typo.yaml'}:9:9: unknown key 'tiemout'" in result.stderr
    assert "did you mean 'timeout'?" in result.stderr
    assert "Traceback" not in result.stderr


def test_validate_points_at_a_value_of_the_wrong_type(run_cli: RunCli) -> None:
    result = run_cli("validate", str(RUNBOOKS / "wrong-type.yaml"))
    assert result.returncode == 2
    assert f"{RUNBOOKS / 'wrong-type.yaml'}:9:18:" in result.stderr
    assert "retries" in result.stderr
    assert "valid integer" in result.stderr
    assert "'many'" in result.stderr
    assert "Traceback" not in result.stderr


def test_deploy_of_a_broken_runbook_changes_nothing_and_exits_2(
    run_cli: RunCli, state_dir: Path
) -> None:
    result = run_cli("deploy", str(RUNBOOKS / "typo.yaml"), "--version", "v1")
    assert result.returncode == 2
    assert "unknown key 'tiemout'" in result.stderr
    assert "Traceback" not in result.stderr
    history = run_cli("history", "--json")
    assert json.loads(history.stdout) == []


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Path]:
    """Where the hello-http example publishes; its HTTP server is stopped afterwards."""
    root = tmp_path / "site"
    yield root
    for pidfile in root.glob("*.pid"):
        with contextlib.suppress(ValueError, ProcessLookupError):
            os.kill(int(pidfile.read_text().strip()), signal.SIGTERM)


def test_hello_http_example_deploys_and_history_lists_it(
    run_cli: RunCli, site: Path, free_port: Callable[[], int]
) -> None:
    port = free_port()
    example = ROOT / "examples" / "hello-http.yaml"
    args = ["-e", "staging", "--version", "v1.2.3", "--var", f"port={port}", "--var"]
    result = run_cli("deploy", str(example), *args, f"site={site}")
    assert result.returncode == 0, result.stderr
    assert "run 1: succeeded" in result.stderr
    assert "serving on port" in result.stderr

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health.json", timeout=5) as answer:
        assert json.loads(answer.read()) == {"version": "v1.2.3", "status": "ok"}

    history = run_cli("history", "--json")
    assert history.returncode == 0
    runs = json.loads(history.stdout)
    assert len(runs) == 1
    assert runs[0]["id"] == 1
    assert runs[0]["runbook"] == "hello-http"
    assert runs[0]["environment"] == "staging"
    assert runs[0]["version"] == "v1.2.3"
    assert runs[0]["status"] == "succeeded"
    assert runs[0]["initiator"] == "alice"
    assert runs[0]["revision"] == 1
    assert runs[0]["failure"] is None
    assert 0 < runs[0]["duration_seconds"] < 120


def test_failed_third_step_undoes_steps_two_then_one_and_the_report_shows_it(
    run_cli: RunCli, tmp_path: Path
) -> None:
    result = run_cli(
        "deploy", str(RUNBOOKS / "failing.yaml"), "--version", "v2", "--var", f"dir={tmp_path}"
    )
    assert result.returncode == 1
    assert "rolled_back" in result.stderr
    assert "disk full on /var" in result.stderr
    assert (tmp_path / "log").read_text().splitlines() == [
        "do one",
        "do two",
        "do three",
        "undo two",
        "undo one",
        "rollback notified",
    ]

    report = run_cli("report", "1")
    assert report.returncode == 0
    text = report.stdout
    assert "**Outcome:** ROLLED BACK" in text
    assert "step 'step three' failed: exit code 7: disk full on /var" in text
    assert "| step one | run | succeeded, undo done |" in text
    assert "| step two | run | succeeded, undo done |" in text
    assert "| step three | run | failed |" in text
    assert "| step four | run | pending |" in text
    rollback = text.split("## Rollback", 1)[1].split("##", 1)[0]
    lines = [line for line in rollback.splitlines() if line.startswith("- ")]
    assert [line.split(" UTC ", 1)[1].split(" --")[0].strip() for line in lines] == [
        "rollback.started",
        "undo.started step two",
        "undo.succeeded step two",
        "undo.started step one",
        "undo.succeeded step one",
        "step.started tell the team",
        "step.succeeded tell the team",
    ]
    assert "undo three" not in (tmp_path / "log").read_text()


def test_second_deploy_to_a_busy_environment_is_blocked_naming_the_holder(
    run_cli: RunCli, tmp_path: Path
) -> None:
    book = str(RUNBOOKS / "approvals.yaml")
    var = ["--var", f"dir={tmp_path}"]
    first = run_cli("deploy", book, "-e", "production", "--version", "v1", *var)
    assert first.returncode == 3
    assert "awaiting_approval" in first.stderr

    second = run_cli("deploy", book, "-e", "production", "--version", "v2", *var, user="dave")
    assert second.returncode == 3
    assert "approvals/production is locked by run 1" in second.stderr
    assert "started by alice" in second.stderr
    assert "version v1" in second.stderr
    assert "Traceback" not in second.stderr

    elsewhere = run_cli("deploy", book, "-e", "staging", "--version", "v2", *var, user="dave")
    assert elsewhere.returncode == 0, elsewhere.stderr
    assert (tmp_path / "log").read_text() == "shipped v2 to staging\n"

"""A check with no data pauses the run for a person: never a silent pass (issue 5, no_data).

Through the real CLI: the deploy stops with exit 3 and status ``awaiting_decision``, says
what to run next, ``resume`` measures again (still no data: paused again), and ``abort`` rolls
back, running the undo of the step before.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from tests.conftest import RunCli

RUNBOOK = {
    "name": "queue-watch",
    "environments": {"staging": {}},
    "checks": {
        "queue-depth": {
            "provider": "command",
            "query": "echo the exporter has not reported yet",
            "fail_if": "> 100",
            "interval": "1s",
            "failure_limit": 0,
        }
    },
    "phases": [
        {
            "name": "release",
            "steps": [
                {
                    "name": "mark released",
                    "run": "echo released > {{ marker }}",
                    "undo": "echo undone > {{ marker }}",
                },
                {
                    "name": "watch the queue",
                    "wait": {"duration": "2s", "analysis": ["queue-depth"]},
                },
            ],
        }
    ],
}


@pytest.mark.slow
def test_no_data_pauses_for_a_decision_then_abort_rolls_back(
    run_cli: RunCli, tmp_path: Path
) -> None:
    marker = tmp_path / "marker"
    book = tmp_path / "queue.yaml"
    book.write_text(yaml.safe_dump(RUNBOOK | {"vars": {"marker": str(marker)}}))

    deploy = run_cli("deploy", str(book), "-e", "staging", "--version", "v1")
    assert deploy.returncode == 3, deploy.stdout + deploy.stderr
    assert "awaiting_decision" in deploy.stderr
    assert "runwright resume 1` measures again" in deploy.stderr
    assert "runwright abort 1` rolls back" in deploy.stderr
    assert marker.read_text().strip() == "released"

    again = run_cli("resume", "1")
    assert again.returncode == 3, again.stdout + again.stderr
    assert "awaiting_decision" in again.stderr

    abort = run_cli("abort", "1")
    assert abort.returncode == 0, abort.stdout + abort.stderr
    assert "rolled back" in abort.stdout
    assert marker.read_text().strip() == "undone"
    report = run_cli("report", "1")
    assert "no data" in report.stdout
    assert "queue-depth" in report.stdout

"""``plan`` of a first release shows what ``deploy`` will do: with no stable version, a canary
has nothing to watch beside and nothing to split traffic with, so its pauses are skipped and
each traffic step gives the only version all traffic (as the deploy does)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from tests.conftest import RunCli

RUNBOOK = {
    "name": "first",
    "environments": {"production": {}},
    "service": {
        "command": "python3 -m runwright.demo --port {{ port }} --version {{ version }}",
        "router": {"kind": "builtin", "listen": "127.0.0.1:9"},
    },
    "checks": {
        "error-rate": {
            "provider": "router",
            "query": 'rate(router_errors_total{backend="{{ version }}"})'
            ' / rate(router_requests_total{backend="{{ version }}"})',
            "fail_if": "> 1%",
            "interval": "10s",
            "failure_limit": 2,
        }
    },
    "release": {
        "strategy": "canary",
        "weights": [10, 100],
        "pause": "30s",
        "analysis": ["error-rate"],
        "bake": "1m",
    },
}


def test_a_first_canary_plans_its_pauses_as_skipped_and_the_bake_under_analysis(
    run_cli: RunCli, tmp_path: Path
) -> None:
    path = tmp_path / "first.yaml"
    path.write_text(yaml.safe_dump(RUNBOOK))
    done = run_cli("plan", str(path), "-e", "production", "--version", "v1", "--json")
    assert done.returncode == 0, done.stderr
    steps = {s["name"]: s for s in json.loads(done.stdout)["steps"]}
    assert steps["canary 10%"]["actions"] == [
        "set traffic: v1 100% (the only version; first release)"
    ]
    assert steps["pause at 10%"]["actions"] == [
        "skipped: first release, no stable version to watch it beside"
    ]
    assert steps["pause at 10%"]["worst_case_abort_seconds"] is None
    assert steps["bake"]["worst_case_abort_seconds"] == 30
    notes = json.loads(done.stdout)["notes"]
    assert notes == ["analysis of error-rate: worst case 30s from a fault to the start of "
                     "rollback (bake)"]  # fmt: skip


def test_plan_of_a_sequential_check_with_no_router_running_says_unknown_traffic(
    run_cli: RunCli, tmp_path: Path
) -> None:
    book = {
        **RUNBOOK,
        "checks": {"errors": {"provider": "router", "method": "sequential", "alpha": 0.01}},
        "release": {**RUNBOOK["release"], "analysis": ["errors"]},  # type: ignore[dict-item]
    }
    path = tmp_path / "first.yaml"
    path.write_text(yaml.safe_dump(book))
    done = run_cli("plan", str(path), "-e", "production", "--version", "v1")
    assert done.returncode == 0, done.stderr
    assert "check errors: sequential; not judged here" in done.stdout

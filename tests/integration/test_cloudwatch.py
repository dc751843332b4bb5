"""CloudWatch alarms and metrics as checks, against moto in server mode (real HTTP, real boto3).

An alarm in ALARM fails the bake it watches; a metric above its threshold does too; an OK
alarm lets the bake pass. Without a region or credentials the run is refused before it
starts, at the check's position, with a hint.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conftest import RunCli
from tests.support.moto_server import Moto, alarm, aws_environ, running_moto


@pytest.fixture
def moto() -> Iterator[Moto]:
    with running_moto() as server:
        yield server


def _alarm(moto: Moto, name: str, state: str) -> None:
    alarm(moto, name, state, namespace="LexiScan", metric="ErrorRate", statistic="Average")


def _runbook(tmp: Path, moto: Moto, check: str) -> Path:
    path = tmp / "baked.yaml"
    path.write_text(
        f"""
name: baked
checks:
  errors:
    provider: cloudwatch
    endpoint_url: {moto.url}
{check}
    interval: 0.2s
    failure_limit: 0
phases:
  - name: bake
    steps:
      - name: watch the release
        wait: {{duration: 2s, analysis: [errors]}}
"""
    )
    return path


@pytest.mark.slow
def test_an_alarm_in_alarm_fails_the_bake_and_an_ok_alarm_passes(
    run_cli: RunCli, moto: Moto, tmp_path: Path
) -> None:
    _alarm(moto, "lexiscan-error-rate", "ALARM")
    book = _runbook(tmp_path, moto, "    alarm: lexiscan-error-rate")
    env = aws_environ(tmp_path)
    failed = run_cli("deploy", str(book), "--version", "v1", env=env)
    assert failed.returncode == 1, failed.stderr
    log = json.loads(run_cli("logs", "1", "--json").stdout)
    failure = [e for e in log["events"] if e["type"] == "step.failed"][0]
    assert failure["data"]["error"] == "errors was 1 (> 0): 1 breach, more than failure_limit 0"
    report = run_cli("report", "1").stdout
    assert "alarm lexiscan-error-rate" in report
    assert "ALARM: test set ALARM" in report

    _alarm(moto, "lexiscan-error-rate", "OK")
    passed = run_cli("deploy", str(book), "--version", "v2", env=env)
    assert passed.returncode == 0, passed.stderr


@pytest.mark.slow
def test_a_metric_over_its_threshold_fails_the_bake(
    run_cli: RunCli, moto: Moto, tmp_path: Path
) -> None:
    moto.client("cloudwatch").put_metric_data(
        Namespace="AWS/ApplicationELB",
        MetricData=[
            {
                "MetricName": "HTTPCode_Target_5XX_Count",
                "Dimensions": [{"Name": "LoadBalancer", "Value": "app/shop/1"}],
                "Timestamp": dt.datetime.now(dt.UTC),
                "Value": 42.0,
                "Unit": "Count",
            }
        ],
    )
    query = "    query: 'AWS/ApplicationELB HTTPCode_Target_5XX_Count{LoadBalancer=\"app/shop/1\"}'"
    book = _runbook(tmp_path, moto, f"{query}\n    stat: Sum\n    period: 1m\n    fail_if: '> 5'")
    failed = run_cli("deploy", str(book), "--version", "v1", env=aws_environ(tmp_path))
    assert failed.returncode == 1, failed.stderr
    report = run_cli("report", "1").stdout
    assert "HTTPCode_Target_5XX_Count" in report
    assert "42" in report


def test_missing_region_or_credentials_exit_2_with_a_hint(
    run_cli: RunCli, moto: Moto, tmp_path: Path
) -> None:
    book = _runbook(tmp_path, moto, "    alarm: lexiscan-error-rate")
    env = aws_environ(tmp_path)
    no_region = {k: v for k, v in env.items() if k != "AWS_DEFAULT_REGION"}
    result = run_cli("deploy", str(book), "--version", "v1", env=no_region)
    assert result.returncode == 2
    assert f"{book}:" in result.stderr
    assert "no AWS region" in result.stderr
    assert "AWS_REGION" in result.stderr
    assert "Traceback" not in result.stderr

    no_keys = {k: v for k, v in env.items() if not k.startswith("AWS_ACCESS") and "SECRET" not in k}
    result = run_cli("deploy", str(book), "--version", "v1", env=no_keys)
    assert result.returncode == 2
    assert "no AWS credentials" in result.stderr
    assert "Traceback" not in result.stderr

"""examples/aws-bluegreen.yaml against moto in server mode: an RDS snapshot before each
release, v2 released blue-green by the ALB listener's target group weights (every weight
change recorded on its way to moto and asserted), and v3 rolled back to 100% on v2 by a
CloudWatch alarm in ALARM during the bake."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conftest import ROOT, RunCli
from tests.support.moto_server import Moto, Recorder, aws_environ, recording, running_moto
from tests.support.receipt_aws import bound, receipt_vault, weights

EXAMPLE = ROOT / "examples" / "aws-bluegreen.yaml"


@pytest.fixture
def aws() -> Iterator[tuple[Moto, Recorder, dict[str, str]]]:
    with running_moto() as moto, recording(moto) as recorder:
        arns = receipt_vault(
            moto, balancer="receipt-vault", database="receipt-vault-db", alarm="receipt-vault-5xx"
        )
        names = {**arns, "aws_endpoint": recorder.url}
        yield moto, recorder, names


def _weights(call: dict[str, str], colours: dict[str, str]) -> dict[str, int]:
    """colour -> weight of one recorded ModifyListener call."""
    out: dict[str, int] = {}
    prefix = "DefaultActions.member.1.ForwardConfig.TargetGroups.member."
    for n in range(1, 5):
        arn = call.get(f"{prefix}{n}.TargetGroupArn")
        if arn is None:
            break
        out[colours[arn]] = int(call.get(f"{prefix}{n}.Weight", "1"))
    return out


def _live(moto: Moto, listener: str, colours: dict[str, str]) -> dict[str, int]:
    return {colours[arn]: weight for arn, weight in weights(moto, listener).items()}


@pytest.mark.slow
def test_the_aws_example_releases_blue_green_by_alb_weights_and_rolls_back_on_an_alarm(
    run_cli: RunCli, aws: tuple[Moto, Recorder, dict[str, str]], tmp_path: Path
) -> None:
    moto, recorder, names = aws
    colours = {names["blue"]: "blue", names["green"]: "green"}
    env = aws_environ(tmp_path)
    args = [f"--var={k}={v}" for k, v in names.items()]

    # The second person is named with RUNWRIGHT_USER from this one OS account: the copy lets
    # production count such self-declared names (the example itself does not).
    book = tmp_path / EXAMPLE.name
    book.write_text(
        EXAMPLE.read_text().replace(
            "    approvals: {required: 1, not_by_initiator: true}\n",
            "    approvals: {required: 1, not_by_initiator: true}\n    identity: self_declared\n",
        )
    )
    assert "identity: self_declared" in book.read_text()

    def deploy(version: str) -> tuple[int, list[dict[str, int]], str]:
        before = len(recorder.actions("ModifyListener"))
        waiting = run_cli(
            "deploy", str(book), "-e", "production", "--version", version, *args, env=env
        )
        assert waiting.returncode == 3, waiting.stderr
        run = {"v1": 1, "v2": 2, "v3": 3}[version]
        approved = run_cli("approve", str(run), "--note", "release plan reviewed", user="bob")
        assert approved.returncode == 0, approved.stderr
        done = run_cli("resume", str(run), env=env)
        changes = [_weights(c, colours) for c in recorder.actions("ModifyListener")[before:]]
        return done.returncode, changes, done.stderr

    code, changes, err = deploy("v1")
    assert code == 0, err
    assert changes[-1] == {"blue": 100}
    assert bound(moto, names["blue"]) == "v1"

    code, changes, err = deploy("v2")
    assert code == 0, err
    assert changes[0] == {"blue": 100, "green": 100}, "make before break: green raised first"
    assert changes[-1].get("green") == 100
    assert changes[-1].get("blue", 0) == 0
    assert all(any(w > 0 for w in c.values()) for c in changes), "never a table with no traffic"
    assert bound(moto, names["green"]) == "v2"
    assert _live(moto, names["listener"], colours).get("green") == 100

    snapshots = moto.client("rds").describe_db_snapshots(SnapshotType="manual")["DBSnapshots"]
    assert len(snapshots) == 2, "one RDS snapshot before each release"

    moto.client("cloudwatch").set_alarm_state(
        AlarmName="receipt-vault-5xx", StateValue="ALARM", StateReason="5xx above 5"
    )
    code, changes, err = deploy("v3")
    assert code == 1, err
    live = _live(moto, names["listener"], colours)
    assert live.get("green") == 100, live
    assert live.get("blue", 0) == 0, live
    assert bound(moto, names["blue"]) == "v3"
    status = json.loads(run_cli("status", "3", "--json").stdout)
    assert status["status"] == "rolled_back"

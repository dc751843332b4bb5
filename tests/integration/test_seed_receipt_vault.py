"""Seed 001 (Receipt Vault Pro), ``examples/seeds/receipt-vault``, released by the real CLI
against AWS in moto's server mode: an RDS snapshot before every release, blue-green by the
ALB listener's target group weights, the validation chain, and the bake watched by the 5xx
alarm. v1 and v2 go out (exit 0, approved by a second person); v3 meets the alarm in ALARM and
its "quick rollback" holds: the listener is back on v2's group at 100% (exit 1), a snapshot
was taken before each release, and ``rollback --wait`` puts v1 back with no approval.
(Staging has an ALB of its own; this copy releases production only, outside its window.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.support.moto_server import Moto, aws_environ, running_moto
from tests.support.seeds import open_seed

pytestmark = pytest.mark.slow


@pytest.fixture
def aws() -> Iterator[tuple[Moto, dict[str, str]]]:
    with running_moto() as moto:
        ec2, elb = moto.client("ec2"), moto.client("elbv2")
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnets = [
            ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24",
                              AvailabilityZone=f"eu-west-1{z}")["Subnet"]["SubnetId"]
            for i, z in ((1, "a"), (2, "b"))
        ]  # fmt: skip
        balancer = elb.create_load_balancer(Name="receipt-vault-production-alb", Subnets=subnets)
        groups = {
            colour: elb.create_target_group(
                Name=f"receipt-{colour}", Protocol="HTTP", Port=80, VpcId=vpc, TargetType="ip"
            )["TargetGroups"][0]["TargetGroupArn"]
            for colour in ("blue", "green")
        }
        listener = elb.create_listener(
            LoadBalancerArn=balancer["LoadBalancers"][0]["LoadBalancerArn"],
            Protocol="HTTP",
            Port=80,
            DefaultActions=[{"Type": "forward", "TargetGroupArn": groups["blue"]}],
        )["Listeners"][0]["ListenerArn"]
        moto.client("rds").create_db_instance(
            DBInstanceIdentifier="receipt-vault-production", DBInstanceClass="db.t3.micro",
            Engine="postgres", AllocatedStorage=20, MasterUsername="receipts",
            MasterUserPassword="not-a-real-one",
        )  # fmt: skip
        cw = moto.client("cloudwatch")
        cw.put_metric_alarm(
            AlarmName="receipt-vault-production-5xx", Namespace="AWS/ApplicationELB",
            MetricName="HTTPCode_Target_5XX_Count", Statistic="Sum", Period=60,
            EvaluationPeriods=5, Threshold=5.0, ComparisonOperator="GreaterThanThreshold",
        )  # fmt: skip
        cw.set_alarm_state(
            AlarmName="receipt-vault-production-5xx", StateValue="OK", StateReason="quiet"
        )
        yield moto, {"listener": listener, **groups, "aws_endpoint": moto.url}


def _on(moto: Moto, listener: str, groups: dict[str, str]) -> dict[str, int]:
    colours = {arn: colour for colour, arn in groups.items()}
    action = moto.client("elbv2").describe_listeners(ListenerArns=[listener])["Listeners"][0][
        "DefaultActions"
    ][0]
    return {
        colours[g["TargetGroupArn"]]: g["Weight"]
        for g in action["ForwardConfig"]["TargetGroups"]
        if g["Weight"]
    }


def _bound(moto: Moto, group: str) -> str:
    tags = moto.client("elbv2").describe_tags(ResourceArns=[group])["TagDescriptions"][0]["Tags"]
    return next(t["Value"] for t in tags if t["Key"] == "runwright:version")


def test_receipt_vault_blue_green_on_the_alb_and_the_quick_rollback(
    aws: tuple[Moto, dict[str, str]],
    tmp_path: Path,
    state_dir: Path,
    free_port: Callable[[], int],
) -> None:
    moto, names = aws
    groups = {"blue": names["blue"], "green": names["green"]}

    def edit(book: dict[str, Any]) -> None:
        book["vars"].update(names)
        production = book["environments"]["production"]
        production.pop("requires")
        production.pop("windows")
        for check in book["checks"].values():
            check["interval"] = "250ms"
            if "for" in check:
                check["for"] = "0.5s"
        book["release"].update(bake="1s", keep_previous="0s")
        book["service"]["router"]["drain"] = "0s"

    with open_seed(
        "receipt-vault", state_dir, free_port, env=aws_environ(tmp_path), edit=edit
    ) as seed:
        assert seed.run("lint", str(seed.book)).returncode == 0
        for version in ("v1", "v2"):
            done = seed.deploy(version)
            assert done.returncode == 0, done.stdout + done.stderr
        live = _on(moto, names["listener"], groups)
        assert len(live) == 1
        assert _bound(moto, groups[next(iter(live))]) == "v2"

        moto.client("cloudwatch").set_alarm_state(
            AlarmName="receipt-vault-production-5xx", StateValue="ALARM", StateReason="5xx > 5"
        )
        bad = seed.deploy("v3")
        assert bad.returncode == 1, bad.stdout + bad.stderr
        live = _on(moto, names["listener"], groups)
        assert list(live.values()) == [100]
        assert _bound(moto, groups[next(iter(live))]) == "v2"
        snapshots = moto.client("rds").describe_db_snapshots(SnapshotType="manual")
        assert len(snapshots["DBSnapshots"]) == 3, "a snapshot before every release"

        moto.client("cloudwatch").set_alarm_state(
            AlarmName="receipt-vault-production-5xx", StateValue="OK", StateReason="quiet"
        )
        back = seed.run("rollback", "-e", "production", "--wait")
        assert back.returncode == 0, back.stdout + back.stderr
        live = _on(moto, names["listener"], groups)
        assert _bound(moto, groups[next(iter(live))]) == "v1"

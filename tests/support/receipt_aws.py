"""Receipt Vault's AWS in moto: what ``examples/aws-bluegreen.yaml`` and the receipt-vault seed
release against, set up once for their tests and the emergency-rollback benchmark.

An ALB whose listener forwards to a blue and a green target group (the traffic runwright
moves by weights), the RDS instance a release snapshots, and the 5xx alarm its bake watches
(in OK). The readers say where the listener sends traffic and which version a target group
serves (the ``runwright:version`` tag the ALB router puts on it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.support import moto_server
from tests.support.moto_server import Moto

COLOURS = ("blue", "green")


def receipt_vault(moto: Moto, *, balancer: str, database: str, alarm: str) -> dict[str, str]:
    """Create the ALB ``balancer``, its target groups, the RDS instance ``database`` and the
    alarm ``alarm``; the listener's and the groups' ARNs (``listener``, ``blue``, ``green``)."""
    ec2, elb = moto.client("ec2"), moto.client("elbv2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"eu-west-1{z}")[
            "Subnet"
        ]["SubnetId"]
        for i, z in ((1, "a"), (2, "b"))
    ]
    created = elb.create_load_balancer(Name=balancer, Subnets=subnets)
    groups = {
        colour: elb.create_target_group(
            Name=f"receipt-{colour}", Protocol="HTTP", Port=80, VpcId=vpc, TargetType="ip"
        )["TargetGroups"][0]["TargetGroupArn"]
        for colour in COLOURS
    }
    listener = elb.create_listener(
        LoadBalancerArn=created["LoadBalancers"][0]["LoadBalancerArn"],
        Protocol="HTTP",
        Port=80,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": groups["blue"]}],
    )["Listeners"][0]["ListenerArn"]
    moto.client("rds").create_db_instance(
        DBInstanceIdentifier=database,
        DBInstanceClass="db.t3.micro",
        Engine="postgres",
        AllocatedStorage=20,
        MasterUsername="receipts",
        MasterUserPassword="not-a-real-one",
    )
    moto_server.alarm(
        moto,
        alarm,
        "OK",
        namespace="AWS/ApplicationELB",
        metric="HTTPCode_Target_5XX_Count",
        statistic="Sum",
    )
    return {"listener": listener, **groups}


def weights(moto: Moto, listener: str) -> dict[str, int]:
    """Target group ARN -> weight, for every group the listener's forward action names."""
    action = moto.client("elbv2").describe_listeners(ListenerArns=[listener])["Listeners"][0][
        "DefaultActions"
    ][0]
    return {g["TargetGroupArn"]: g["Weight"] for g in action["ForwardConfig"]["TargetGroups"]}


def bound(moto: Moto, group: str) -> str:
    """The version target group ``group`` serves ("" when it carries no version tag)."""
    tags = moto.client("elbv2").describe_tags(ResourceArns=[group])["TagDescriptions"][0]["Tags"]
    return next((t["Value"] for t in tags if t["Key"] == "runwright:version"), "")


def seed_edit(names: dict[str, str]) -> Callable[[dict[str, Any]], None]:
    """The receipt-vault seed as its test and the benchmark run it: against these AWS names,
    production only and outside its window, its minutes cut to fractions of a second."""

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

    return edit

"""The ECS driver: its rollout judgement on recorded DescribeServices sequences (stable, rolled
back by the circuit breaker, stuck), served over ECS's wire protocol, and its API calls
(task definition revision, colour service, target group tag) against moto in server mode."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.support.ecs_recorded import CIRCUIT_BREAKER, NEW, OLD_TD, STABLE, STUCK, recorded_ecs
from tests.support.moto_server import REGION, Moto, running_moto

from runwright.aws.session import AwsSettings
from runwright.drivers.base import ServiceSpec
from runwright.drivers.ecs import EcsDriver, EcsSettings, judge
from runwright.engine.clock import FakeClock
from runwright.errors import DriverError


@pytest.fixture(autouse=True)
def aws_credentials(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    tmp = tmp_path_factory.mktemp("aws")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp / "credentials"))


def _driver(url: str, clock: FakeClock, groups: tuple[str, ...] = ("tg-a", "tg-b")) -> EcsDriver:
    return EcsDriver(
        EcsSettings(
            aws=AwsSettings(region=REGION, endpoint_url=url),
            cluster="prod",
            task_definition="shop",
            image="registry.example/shop:{{ version }}",
            container="web",
            target_groups=groups,
            desired_count=2,
            poll_interval=5.0,
        ),
        clock,
    )


async def test_a_stable_rollout_succeeds_once_ecs_reports_it_complete() -> None:
    with recorded_ecs(STABLE) as (url, calls):
        await _driver(url, FakeClock()).wait_stable("shop-blue", NEW, 600)
    assert calls == ["DescribeServices"] * 3


async def test_a_rollout_the_circuit_breaker_rolled_back_is_a_failure_with_its_reason() -> None:
    with recorded_ecs(CIRCUIT_BREAKER) as (url, _calls), pytest.raises(DriverError) as caught:
        await _driver(url, FakeClock()).wait_stable("shop-blue", NEW, 600)
    message = caught.value.message
    assert "deployment ecs-svc/2222 failed" in message
    assert "ECS deployment circuit breaker: tasks failed to start." in message
    assert "rolling back to deployment ecs-svc/3333" in message
    assert caught.value.retryable is False


def test_a_settled_service_running_the_old_revision_is_not_our_success() -> None:
    settled = CIRCUIT_BREAKER[-1]["services"][0]
    verdict = judge(settled, NEW)
    assert not verdict.stable
    assert "rolled deployment ecs-svc/2222 back" in verdict.failure
    assert OLD_TD in verdict.failure


async def test_a_stuck_deployment_fails_after_the_start_timeout_with_the_events() -> None:
    clock = FakeClock()
    with recorded_ecs(STUCK) as (url, calls), pytest.raises(DriverError) as caught:
        await _driver(url, clock).wait_stable("shop-blue", NEW, 60)
    message = caught.value.message
    assert "stuck after 60s (0 of 2 tasks running, rollout IN_PROGRESS)" in message
    assert "unable to place a task" in message
    assert clock.monotonic() >= 60
    assert calls.count("DescribeServices") == 13


@pytest.fixture
def moto() -> Iterator[Moto]:
    with running_moto() as server:
        yield server


@pytest.mark.slow
async def test_a_version_gets_a_task_definition_revision_a_colour_service_and_a_tagged_group(
    moto: Moto,
) -> None:
    ecs, elb, ec2 = moto.client("ecs"), moto.client("elbv2"), moto.client("ec2")
    ecs.create_cluster(clusterName="prod")
    ecs.register_task_definition(
        family="shop",
        containerDefinitions=[
            {
                "name": "web",
                "image": "registry.example/shop:v1",
                "memory": 256,
                "portMappings": [{"containerPort": 80}],
            }
        ],
    )
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    groups = tuple(
        elb.create_target_group(Name=n, Protocol="HTTP", Port=80, VpcId=vpc)["TargetGroups"][0][
            "TargetGroupArn"
        ]
        for n in ("shop-blue", "shop-green")
    )
    driver = _driver(moto.url, FakeClock(), groups)
    spec = ServiceSpec(name="shop-production", command="")

    revision = await driver.register_revision("v2")
    assert revision.endswith("task-definition/shop:2")
    described = ecs.describe_task_definition(taskDefinition="shop:2")["taskDefinition"]
    assert described["containerDefinitions"][0]["image"] == "registry.example/shop:v2"

    name, deployment, group = await driver.deploy(spec, "v2", revision)
    assert (name, group) == ("shop-production-blue", groups[0])
    assert deployment
    service = ecs.describe_services(cluster="prod", services=[name], include=["TAGS"])
    found = service["services"][0]
    assert found["taskDefinition"] == revision
    assert found["desiredCount"] == 2
    assert found["loadBalancers"][0]["targetGroupArn"] == groups[0]
    tags = elb.describe_tags(ResourceArns=[groups[0]])["TagDescriptions"][0]["Tags"]
    assert {"Key": "runwright:version", "Value": "v2"} in tags

    second, _dep, other = await driver.deploy(spec, "v3", await driver.register_revision("v3"))
    assert (second, other) == ("shop-production-green", groups[1])
    with pytest.raises(DriverError, match="every colour runs a version"):
        await driver.deploy(spec, "v4", await driver.register_revision("v4"))

"""The ``ecs`` driver: each version a task definition revision, run by an ECS service.

``start`` registers a revision of the runbook's task definition family with the version's
image, then either updates one service in place (``mode: in_place``) or, for blue-green
behind an ALB, gives the version a colour: one service per colour (``NAME-blue``,
``NAME-green``...), each registered with its own target group, which is tagged
``runwright:version`` so the ``alb`` router sends the version's traffic there. The version is
ready when ECS says its deployment is stable: the PRIMARY deployment is the one we started,
its rollout state is COMPLETED and it runs as many tasks as desired.

ECS's deployment circuit breaker can roll a failing deployment back on its own; ECS then
makes a new PRIMARY deployment of the previous task definition and the service settles,
"stable", on the old version. ``judge`` notices that the PRIMARY deployment is no longer ours
and reports the rollback as the failure it is. A deployment that never settles within the
start timeout fails with the service's last events.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from runwright.aws.session import AwsSettings, call, ecs, elbv2
from runwright.drivers.base import Instance, ServiceSpec
from runwright.engine.clock import Clock
from runwright.errors import DriverError, SettingError
from runwright.model.templating import render

VERSION_TAG = "runwright:version"
SERVICE_TAG = "runwright:service"
COLOURS = ("blue", "green", "cyan", "magenta")
COPIED = (
    "taskRoleArn",
    "executionRoleArn",
    "networkMode",
    "volumes",
    "placementConstraints",
    "requiresCompatibilities",
    "cpu",
    "memory",
    "pidMode",
    "ipcMode",
    "runtimePlatform",
    "ephemeralStorage",
)


@dataclass(frozen=True)
class EcsSettings:
    aws: AwsSettings
    cluster: str
    task_definition: str
    image: str
    mode: str = "blue_green"
    service: str | None = None
    container: str | None = None
    target_groups: tuple[str, ...] = ()
    container_port: int = 80
    desired_count: int = 2
    poll_interval: float = 5.0
    launch_type: str | None = None
    network: Mapping[str, Any] = field(default_factory=dict)
    variables: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Verdict:
    stable: bool
    failure: str = ""
    progress: str = ""


def judge(service: Mapping[str, Any], deployment_id: str) -> Verdict:
    """Where a rollout of ``deployment_id`` stands, from one DescribeServices answer."""
    deployments = list(service.get("deployments", []))
    ours = next((d for d in deployments if d.get("id") == deployment_id), None)
    primary = next((d for d in deployments if d.get("status") == "PRIMARY"), None)
    if ours is not None and ours.get("rolloutState") == "FAILED":
        reason = ours.get("rolloutStateReason") or "ECS marked the deployment FAILED"
        return Verdict(False, f"deployment {deployment_id} failed: {reason}")
    if primary is None or primary.get("id") != deployment_id:
        now = primary.get("taskDefinition", "?") if primary else "nothing"
        reason = (ours or {}).get("rolloutStateReason", "")
        text = (
            f"ECS rolled deployment {deployment_id} back (deployment circuit breaker): the "
            f"service runs {now} again"
        )
        return Verdict(False, text + (f"; {reason}" if reason else ""))
    running, desired = int(primary.get("runningCount", 0)), int(primary.get("desiredCount", 0))
    progress = f"{running} of {desired} tasks running, rollout {primary.get('rolloutState', '?')}"
    done = primary.get("rolloutState") == "COMPLETED" and running == desired and desired > 0
    return Verdict(done and len(deployments) == 1, progress=progress)


def last_events(service: Mapping[str, Any], count: int = 5) -> list[str]:
    return [str(e.get("message", "")) for e in list(service.get("events", []))[:count]]


class EcsDriver:
    def __init__(self, settings: EcsSettings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
        self._ecs: Any = None
        self._elb: Any = None

    def _client(self) -> Any:
        if self._ecs is None:
            self._ecs = ecs(self.settings.aws)
        return self._ecs

    def _elbv2(self) -> Any:
        if self._elb is None:
            self._elb = elbv2(self.settings.aws)
        return self._elb

    # -- pieces -------------------------------------------------------------------------------

    async def register_revision(self, version: str) -> str:
        """A new revision of the family with the version's image; its ARN."""
        s = self.settings
        answer = await call(
            f"ECS DescribeTaskDefinition {s.task_definition}",
            self._client().describe_task_definition,
            taskDefinition=s.task_definition,
        )
        base = answer["taskDefinition"]
        image = render(s.image, {**s.variables, "version": version}, where="driver.image")
        containers = [dict(c) for c in base["containerDefinitions"]]
        names = [c["name"] for c in containers]
        target = s.container or names[0]
        if target not in names:
            raise DriverError(
                f"task definition {s.task_definition} has no container {target!r}",
                retryable=False,
                hint="containers: " + ", ".join(names),
            )
        for c in containers:
            if c["name"] == target:
                c["image"] = image
        kwargs = {k: base[k] for k in COPIED if base.get(k)}
        registered = await call(
            f"ECS RegisterTaskDefinition {base['family']}",
            self._client().register_task_definition,
            family=base["family"],
            containerDefinitions=containers,
            tags=[{"key": VERSION_TAG, "value": version}],
            **kwargs,
        )
        return str(registered["taskDefinition"]["taskDefinitionArn"])

    async def describe(self, service: str) -> dict[str, Any] | None:
        answer = await call(
            f"ECS DescribeServices {service}",
            self._client().describe_services,
            cluster=self.settings.cluster,
            services=[service],
            include=["TAGS"],
        )
        found = [s for s in answer.get("services", []) if s.get("status") != "INACTIVE"]
        return dict(found[0]) if found else None

    def _colour_service(self, spec: ServiceSpec, colour: str) -> str:
        return f"{self.settings.service or spec.name}-{colour}"

    async def _free_colour(self, spec: ServiceSpec) -> tuple[str, str, dict[str, Any] | None]:
        colours = COLOURS[: len(self.settings.target_groups)]
        for colour, group in zip(colours, self.settings.target_groups, strict=True):
            name = self._colour_service(spec, colour)
            found = await self.describe(name)
            if found is None or int(found.get("desiredCount", 0)) == 0:
                return name, group, found
        raise DriverError(
            "every colour runs a version: no free service to start a new one in",
            retryable=False,
            hint="stop the previous version first, or list one more target group",
        )

    async def deploy(
        self, spec: ServiceSpec, version: str, revision: str
    ) -> tuple[str, str, str | None]:
        """Run ``revision``; (service name, its new deployment id, target group or None)."""
        s = self.settings
        tags = [{"key": SERVICE_TAG, "value": spec.name}, {"key": VERSION_TAG, "value": version}]
        group: str | None = None
        if s.mode == "in_place":
            name = s.service or spec.name
            found = await self.describe(name)
            if found is None:
                raise DriverError(f"ECS service {name} does not exist", retryable=False)
        else:
            name, group, found = await self._free_colour(spec)
        if found is None:
            answer = await self._create(name, revision, group, tags)
        else:
            answer = await call(
                f"ECS UpdateService {name}",
                self._client().update_service,
                cluster=s.cluster,
                service=name,
                taskDefinition=revision,
                desiredCount=s.desired_count,
                forceNewDeployment=True,
            )
            await call(
                f"ECS TagResource {name}",
                self._client().tag_resource,
                resourceArn=answer["service"]["serviceArn"],
                tags=tags,
            )
        primary = [d for d in answer["service"].get("deployments", []) if d["status"] == "PRIMARY"]
        if group:
            await call(
                "ELB AddTags",
                self._elbv2().add_tags,
                ResourceArns=[group],
                Tags=[{"Key": VERSION_TAG, "Value": version}],
            )
        return name, str(primary[0]["id"]) if primary else "", group

    async def _create(
        self, name: str, revision: str, group: str | None, tags: list[dict[str, str]]
    ) -> Any:
        s = self.settings
        extra: dict[str, Any] = {}
        if group and s.container:
            extra["loadBalancers"] = [
                {
                    "targetGroupArn": group,
                    "containerName": s.container,
                    "containerPort": s.container_port,
                }
            ]
        if s.launch_type:
            extra["launchType"] = s.launch_type
        if s.network:
            extra["networkConfiguration"] = dict(s.network)
        return await call(
            f"ECS CreateService {name}",
            self._client().create_service,
            cluster=s.cluster,
            serviceName=name,
            taskDefinition=revision,
            desiredCount=s.desired_count,
            deploymentConfiguration={
                "deploymentCircuitBreaker": {"enable": True, "rollback": True}
            },
            tags=tags,
            **extra,
        )

    async def wait_stable(self, name: str, deployment: str, timeout: float) -> None:  # noqa: ASYNC109
        """Return when ``deployment`` of ``name`` is stable; DriverError when ECS rolled it
        back, marked it failed, or it is not stable within ``timeout`` seconds."""
        deadline = self.clock.monotonic() + timeout
        while True:
            service = await self.describe(name)
            if service is None:
                raise DriverError(f"ECS service {name} is gone", retryable=False)
            verdict = judge(service, deployment)
            if verdict.failure:
                raise DriverError(
                    f"{name}: {verdict.failure}; last events: " + " | ".join(last_events(service)),
                    retryable=False,
                )
            if verdict.stable:
                return
            if self.clock.monotonic() >= deadline:
                raise DriverError(
                    f"{name}: deployment {deployment} is stuck after {timeout:g}s "
                    f"({verdict.progress}); last events: " + " | ".join(last_events(service)),
                    retryable=False,
                    hint="look at the service's events and stopped tasks in the ECS console",
                )
            await self.clock.sleep(self.settings.poll_interval)

    def _instance(
        self, spec: ServiceSpec, version: str, name: str, handle: dict[str, str]
    ) -> Instance:
        return Instance(
            service=spec.name,
            version=version,
            host=name,
            port=self.settings.container_port,
            pid=0,
            started_at=self.clock.now(),
            health=spec.health,
            handle=handle,
        )

    # -- the Driver contract ----------------------------------------------------------------

    async def start(self, spec: ServiceSpec, version: str) -> Instance:
        revision = await self.register_revision(version)
        name, deployment, group = await self.deploy(spec, version, revision)
        await self.wait_stable(name, deployment, spec.start_timeout)
        handle = {"cluster": self.settings.cluster, "service": name, "taskDefinition": revision}
        if group:
            handle["targetGroup"] = group
        return self._instance(spec, version, name, handle)

    async def stop(self, instance: Instance, grace: float) -> None:
        if self.settings.mode == "in_place":
            return
        name = instance.handle.get("service", instance.host)
        if await self.describe(name) is None:
            return
        await call(
            f"ECS UpdateService {name} to 0 tasks",
            self._client().update_service,
            cluster=self.settings.cluster,
            service=name,
            desiredCount=0,
        )
        group = instance.handle.get("targetGroup")
        if group:
            await call(
                "ELB RemoveTags",
                self._elbv2().remove_tags,
                ResourceArns=[group],
                TagKeys=[VERSION_TAG],
            )

    async def instances(self, service: str) -> list[Instance]:
        s = self.settings
        names = (
            [s.service or service]
            if s.mode == "in_place"
            else [f"{s.service or service}-{c}" for c in COLOURS[: len(s.target_groups)]]
        )
        found: list[Instance] = []
        for name, group in zip(names, [*s.target_groups, None, None], strict=False):
            described = await self.describe(name)
            if described is None or int(described.get("desiredCount", 0)) == 0:
                continue
            tags = {t["key"]: t["value"] for t in described.get("tags", [])}
            version = tags.get(VERSION_TAG, "")
            handle = {
                "cluster": s.cluster,
                "service": name,
                "taskDefinition": str(described.get("taskDefinition", "")),
            }
            if group and s.mode != "in_place":
                handle["targetGroup"] = group
            spec = ServiceSpec(name=service, command="")
            found.append(self._instance(spec, version, name, handle))
        return found

    async def healthy(self, instance: Instance) -> bool:
        name = instance.handle.get("service", instance.host)
        described = await self.describe(name)
        if described is None:
            return False
        primary = [d for d in described.get("deployments", []) if d.get("status") == "PRIMARY"]
        return bool(primary) and judge(described, str(primary[0]["id"])).stable

    async def verify(self) -> None:
        try:
            await call(
                f"ECS DescribeTaskDefinition {self.settings.task_definition}",
                self._client().describe_task_definition,
                taskDefinition=self.settings.task_definition,
            )
        except DriverError as exc:
            raise SettingError(exc.message, ("driver", "task_definition"), hint=exc.hint) from None

    def plan(self, action: str, argument: Mapping[str, int] | str) -> list[str]:
        s = self.settings
        if action != "start" or not isinstance(argument, str):
            return []
        image = render(s.image, {**s.variables, "version": argument}, where="driver.image")
        where = (
            f"service {s.service}"
            if s.mode == "in_place"
            else "the free colour's service of "
            + ", ".join(f"{c}" for c in COLOURS[: len(s.target_groups)])
        )
        return [
            f"RegisterTaskDefinition {s.task_definition} with image {image}",
            f"run it in {where} on cluster {s.cluster}; ready when the deployment is stable "
            "(a rollback by ECS's circuit breaker is a failure)",
        ]

"""The ``alb`` router: weighted target groups of an Application Load Balancer listener.

Traffic is the ``ForwardConfig.TargetGroups`` of a listener's default action (or of one of
its rules): each version has a target group (a "colour") and a weight (0-999). A version is
bound to a target group by the tag ``runwright:version`` on the group: the ECS driver tags the
group its service registers with; for any other driver this router binds a free colour itself
(one carrying no traffic), registers the version's address as the group's target and tags it.
The binding lives in AWS, so a resumed run, or another runwright, finds it again.

Make-before-break is ``transition``'s: the new version's weight is raised in one
ModifyListener/ModifyRule call before the old one is lowered in the next. Stickiness settings
of the action are kept as they are. ALB has no per-request counters here: analysis reads
CloudWatch (provider ``cloudwatch``) or Prometheus.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from runwright.aws.session import AwsSettings, call, check_credentials, elbv2
from runwright.engine.clock import Clock
from runwright.errors import DriverError, SettingError
from runwright.routers.base import Backend, BackendCounters, transition

VERSION_TAG = "runwright:version"
MAX_ALB_WEIGHT = 999


@dataclass(frozen=True)
class AlbSettings:
    aws: AwsSettings
    listener: str
    target_groups: tuple[str, ...]
    rule: str | None = None
    drain: float = 0.0


class AlbRouter:
    def __init__(self, settings: AlbSettings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
        self._elb: Any = None

    def _client(self) -> Any:
        if self._elb is None:
            self._elb = elbv2(self.settings.aws)
        return self._elb

    # -- reading -------------------------------------------------------------------------

    async def _action(self) -> dict[str, Any]:
        elb = self._client()
        if self.settings.rule:
            answer = await call(
                f"ELB DescribeRules {self.settings.rule}",
                elb.describe_rules,
                RuleArns=[self.settings.rule],
            )
            actions = answer["Rules"][0]["Actions"]
        else:
            answer = await call(
                f"ELB DescribeListeners {self.settings.listener}",
                elb.describe_listeners,
                ListenerArns=[self.settings.listener],
            )
            actions = answer["Listeners"][0]["DefaultActions"]
        forward = [a for a in actions if a.get("Type") == "forward"]
        if not forward:
            raise DriverError(
                "the listener's action does not forward to target groups",
                retryable=False,
                hint="make its default action (or the rule's) a forward action",
            )
        action: dict[str, Any] = forward[0]
        return action

    async def _bindings(self) -> dict[str, str]:
        """version -> target group ARN, from the groups' ``runwright:version`` tags."""
        answer = await call(
            "ELB DescribeTags",
            self._client().describe_tags,
            ResourceArns=list(self.settings.target_groups),
        )
        out: dict[str, str] = {}
        for item in answer["TagDescriptions"]:
            for tag in item.get("Tags", []):
                if tag["Key"] == VERSION_TAG and tag["Value"]:
                    out[tag["Value"]] = item["ResourceArn"]
        return out

    async def weights(self) -> dict[str, int]:
        """target group ARN -> weight, as the listener forwards now."""
        action = await self._action()
        config = action.get("ForwardConfig") or {}
        groups = config.get("TargetGroups") or []
        if not groups and action.get("TargetGroupArn"):
            return {action["TargetGroupArn"]: 1}
        return {g["TargetGroupArn"]: int(g.get("Weight", 1)) for g in groups}

    # -- the Router contract -------------------------------------------------------------------

    async def verify(self) -> None:
        try:
            check_credentials(self.settings.aws, "the alb router")
        except SettingError as exc:
            where = "region" if self.settings.aws.region else "kind"
            raise SettingError(exc.message, ("router", where), hint=exc.hint) from None
        try:
            await self._action()
        except DriverError as exc:
            raise SettingError(exc.message, ("router", "listener"), hint=exc.hint) from None
        try:
            await call(
                "ELB DescribeTargetGroups",
                self._client().describe_target_groups,
                TargetGroupArns=list(self.settings.target_groups),
            )
        except DriverError as exc:
            raise SettingError(exc.message, ("router", "target_groups"), hint=exc.hint) from None

    async def ensure_started(self) -> None:
        await self._action()

    async def _bind(self, backend: Backend, bindings: dict[str, str], live: set[str]) -> str:
        """The target group for ``backend``: its tagged one, else a free colour bound now."""
        if backend.name in bindings:
            return bindings[backend.name]
        busy = {arn for version, arn in bindings.items() if version in live}
        free = [arn for arn in self.settings.target_groups if arn not in busy]
        if not free:
            raise DriverError(
                f"no free target group for {backend.name}: every colour carries a live version",
                retryable=False,
                hint="list one more target group under router.target_groups",
            )
        arn = free[0]
        elb = self._client()
        old = await call("ELB DescribeTargetHealth", elb.describe_target_health, TargetGroupArn=arn)
        stale = [
            {"Id": t["Target"]["Id"], "Port": t["Target"]["Port"]}
            for t in old["TargetHealthDescriptions"]
        ]
        if stale:
            await call(
                "ELB DeregisterTargets", elb.deregister_targets, TargetGroupArn=arn, Targets=stale
            )
        await call(
            f"ELB RegisterTargets {backend.address}",
            elb.register_targets,
            TargetGroupArn=arn,
            Targets=[{"Id": backend.host, "Port": backend.port}],
        )
        await call(
            "ELB AddTags",
            elb.add_tags,
            ResourceArns=[arn],
            Tags=[{"Key": VERSION_TAG, "Value": backend.name}],
        )
        bindings[backend.name] = arn
        return arn

    async def current(self) -> list[Backend]:
        bindings = await self._bindings()
        by_arn = {arn: version for version, arn in bindings.items()}
        return [
            Backend(by_arn[arn], "alb", 80, min(weight, 256))
            for arn, weight in (await self.weights()).items()
            if arn in by_arn
        ]

    async def apply(self, backends: Sequence[Backend]) -> None:
        bindings = await self._bindings()
        current = await self.current()
        live = {b.name for b in backends} | {b.name for b in current if b.weight > 0}
        arns = {b.name: await self._bind(b, bindings, live) for b in backends}
        target = [Backend(b.name, "alb", 80, b.weight) for b in backends]
        for table in transition(current, target):
            await self._forward({arns[b.name]: b.weight for b in table if b.name in arns})

    def forward_call(self, weights: Mapping[str, int], stickiness: Any = None) -> dict[str, Any]:
        """The ModifyListener/ModifyRule arguments that set ``weights`` (ARN -> 0..999)."""
        config: dict[str, Any] = {
            "TargetGroups": [
                {"TargetGroupArn": arn, "Weight": min(MAX_ALB_WEIGHT, weight)}
                for arn, weight in sorted(weights.items())
            ]
        }
        if stickiness:
            config["TargetGroupStickinessConfig"] = stickiness
        action = {"Type": "forward", "ForwardConfig": config}
        if self.settings.rule:
            return {"RuleArn": self.settings.rule, "Actions": [action]}
        return {"ListenerArn": self.settings.listener, "DefaultActions": [action]}

    async def _forward(self, weights: Mapping[str, int]) -> None:
        action = await self._action()
        stickiness = (action.get("ForwardConfig") or {}).get("TargetGroupStickinessConfig")
        arguments = self.forward_call(weights, stickiness)
        elb = self._client()
        method = elb.modify_rule if self.settings.rule else elb.modify_listener
        await call("ELB set the target group weights", method, **arguments)

    async def drain(self, name: str, timeout: float) -> None:  # noqa: ASYNC109
        if self.settings.drain:
            await self.clock.sleep(min(self.settings.drain, timeout))

    async def counters(self) -> dict[str, BackendCounters]:
        return {}

    def plan(self, action: str, argument: Mapping[str, int] | str) -> list[str]:
        if action != "route" or isinstance(argument, str):
            return []
        verb = "ModifyRule" if self.settings.rule else "ModifyListener"
        weights = {f"<target group of {name}>": weight for name, weight in argument.items()}
        return [f"{verb} {json.dumps(self.forward_call(weights), sort_keys=True)}"]

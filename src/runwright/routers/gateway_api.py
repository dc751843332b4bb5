"""The ``gateway-api`` router: canary weights as an HTTPRoute's ``backendRefs``.

The Gateway API carries weights natively: the first rule of the user's HTTPRoute
(``router.route``) gets one backendRef per version's Service with its weight. The whole table
changes in one PUT (with the resourceVersion read, retried on 409), which a gateway applies
atomically, so there is no moment without a backend; a version only ever gets weight once its
Deployment is rolled out. Draining and counters are the gateway's: analysis reads Prometheus.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from runwright.errors import DriverError
from runwright.kube.client import Kube, replace_with_retry
from runwright.kube.names import object_name
from runwright.kube.objects import route_refs
from runwright.kube.routing import entrance, ready, targets
from runwright.routers.base import Backend, BackendCounters


class GatewayApiRouter:
    def __init__(self, kube: Kube, route: str, owner: str = "") -> None:
        self.kube = kube
        self.route = route
        self.owner = owner

    async def verify(self) -> None:
        hint = "name the HTTPRoute users reach (kubectl get httproutes)"
        await entrance(self.kube, "HTTPRoute", self.route, ("router", "route"), hint)

    async def ensure_started(self) -> None:
        await entrance(self.kube, "HTTPRoute", self.route)

    async def apply(self, backends: Sequence[Backend]) -> None:
        table = targets(backends)
        if not any(t.weight > 0 for t in table):
            raise DriverError(
                "refusing a traffic table in which no version takes traffic", retryable=False
            )
        for t in table:
            if t.weight > 0:
                await ready(self.kube, t)
        refs = route_refs({t.service: (t.port, t.weight) for t in table if t.weight > 0})

        def edit(route: dict[str, Any]) -> dict[str, Any] | None:
            rules = (route.get("spec") or {}).get("rules") or [{}]
            if rules[0].get("backendRefs") == refs:
                return None
            rules[0]["backendRefs"] = refs
            route.setdefault("spec", {})["rules"] = rules
            route.pop("status", None)
            return route

        await replace_with_retry(self.kube, "HTTPRoute", self.route, edit)

    async def drain(self, name: str, timeout: float) -> None:  # noqa: ASYNC109
        return None

    async def counters(self) -> dict[str, BackendCounters]:
        return {}

    def plan(self, action: str, argument: Mapping[str, int] | str) -> list[str]:
        weights = dict(argument) if isinstance(argument, Mapping) else {}
        refs = [
            {"name": object_name(self.owner, v), "weight": w} for v, w in weights.items() if w > 0
        ]
        return [
            f"PUT gateway.networking.k8s.io/v1 HTTPRoute {self.kube.namespace}/{self.route} "
            f"(with its resourceVersion): rules[0].backendRefs = {json.dumps(refs)}"
        ]

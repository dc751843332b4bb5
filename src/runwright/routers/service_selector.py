"""The ``service-selector`` router: blue-green on Kubernetes by moving a Service's selector.

Users reach the service through a Service of theirs (``router.service``). Sending all traffic
to a version sets the version label in that Service's selector, so it selects the version's
pods and no others: one write (a PUT carrying the resourceVersion read, retried on 409), made
only once the version's Deployment is rolled out with available pods. The table applied is
kept in an annotation, which is how a resumed run sees what it last did. A selector names one
version, so a table with two versions taking traffic is refused: use ``ingress-nginx`` or
``gateway-api`` for a canary. Draining is Kubernetes' own (the endpoints go, pods get their
grace period); there are no counters: analysis reads Prometheus.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from runwright.errors import DriverError
from runwright.kube.client import Kube, replace_with_retry
from runwright.kube.names import SERVICE_LABEL, WEIGHTS_ANNOTATION, dns_label, label_value
from runwright.kube.routing import entrance, percentages, ready, targets
from runwright.routers.base import Backend, BackendCounters


class ServiceSelectorRouter:
    def __init__(self, kube: Kube, service: str, owner: str, version_label: str) -> None:
        self.kube = kube
        self.service = service
        self.owner = owner
        self.version_label = version_label

    async def verify(self) -> None:
        hint = "name the Service users reach (kubectl get services)"
        await entrance(self.kube, "Service", self.service, ("router", "service"), hint)

    async def ensure_started(self) -> None:
        await entrance(self.kube, "Service", self.service)

    async def apply(self, backends: Sequence[Backend]) -> None:
        live = percentages(targets(backends))
        if len(live) != 1:
            raise DriverError(
                "service-selector sends all traffic to one version; got "
                + ", ".join(f"{t.version} {t.weight}%" for t in live),
                retryable=False,
                hint="use strategy blue_green, or router ingress-nginx/gateway-api for a canary",
            )
        target = live[0]
        await ready(self.kube, target)
        selector = self.selector(target.version)
        table = json.dumps({b.name: b.weight for b in backends}, sort_keys=True)

        def edit(svc: dict[str, Any]) -> dict[str, Any] | None:
            current = (svc.get("spec") or {}).get("selector") or {}
            notes = svc["metadata"].get("annotations") or {}
            if (
                all(current.get(k) == v for k, v in selector.items())
                and notes.get(WEIGHTS_ANNOTATION) == table
            ):
                return None
            svc["spec"]["selector"] = {**current, **selector}
            svc["metadata"]["annotations"] = {**notes, WEIGHTS_ANNOTATION: table}
            svc.pop("status", None)
            return svc

        await replace_with_retry(self.kube, "Service", self.service, edit)

    async def drain(self, name: str, timeout: float) -> None:  # noqa: ASYNC109
        return None

    async def counters(self) -> dict[str, BackendCounters]:
        return {}

    def selector(self, version: str) -> dict[str, str]:
        return {SERVICE_LABEL: dns_label(self.owner), self.version_label: label_value(version)}

    def plan(self, action: str, argument: Mapping[str, int] | str) -> list[str]:
        weights = dict(argument) if isinstance(argument, Mapping) else {}
        live = [v for v, w in weights.items() if w > 0]
        if len(live) != 1:
            return [f"service-selector cannot split traffic ({weights}): this step will fail"]
        patch = {"spec": {"selector": self.selector(live[0])}}
        return [
            f"once Deployment of {live[0]} has available replicas: PUT v1 Service "
            f"{self.kube.namespace}/{self.service} (with its resourceVersion) changing "
            f"{json.dumps(patch)}"
        ]

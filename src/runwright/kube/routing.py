"""What the Kubernetes routers share: reading a weight table the Kubernetes way.

A router gets the table of backends (a version's Service host, port and weight) like every
router; here it becomes Service names, and the rule that traffic only ever moves to a version
whose Deployment is rolled out (``ready``) is checked before any write.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from runwright.errors import DriverError, SettingError
from runwright.kube.client import Kube
from runwright.kube.names import name_of_host
from runwright.kube.objects import serving


@dataclass(frozen=True)
class Target:
    """One version's Service (named like its Deployment), port and weight."""

    version: str
    service: str
    port: int
    weight: int


async def entrance(
    kube: Kube, kind: str, name: str, setting: tuple[str, ...] | None = None, hint: str = ""
) -> dict[str, Any]:
    """The object users reach the service through (a Service, Ingress or HTTPRoute). Missing,
    it is a SettingError at ``setting`` while the runbook is checked (``verify``), else a
    DriverError: it went away under a run."""
    found = await kube.get(kind, name)
    if found is None:
        message = f"{kind} {kube.namespace}/{name} does not exist"
        if setting is not None:
            raise SettingError(message, setting, hint=hint)
        raise DriverError(message, retryable=False)
    return found


def targets(backends: Sequence[object]) -> list[Target]:
    out = []
    for b in backends:
        name, host, port, weight = (getattr(b, k) for k in ("name", "host", "port", "weight"))
        out.append(Target(str(name), name_of_host(str(host)), int(port), int(weight)))
    return out


def percentages(table: Sequence[Target]) -> list[Target]:
    """The backends that take traffic, weights scaled to percentages summing to 100."""
    live = [t for t in table if t.weight > 0]
    total = sum(t.weight for t in live)
    if not live:
        raise DriverError(
            "refusing a traffic table in which no version takes traffic", retryable=False
        )
    out, given = [], 0
    for i, t in enumerate(live):
        share = 100 - given if i == len(live) - 1 else round(100 * t.weight / total)
        given += share
        out.append(Target(t.version, t.service, t.port, share))
    return out


async def ready(kube: Kube, target: Target) -> None:
    """DriverError unless ``target``'s Deployment is rolled out with pods available."""
    deployment = await kube.get("Deployment", target.service)
    if not serving(deployment):
        raise DriverError(
            f"refusing to send traffic to {target.version}: Deployment "
            f"{kube.namespace}/{target.service} has no available replicas",
            retryable=True,
            hint="start the version first and wait until it is rolled out",
        )

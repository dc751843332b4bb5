"""The ``ingress-nginx`` router: canary weights on Kubernetes through a canary Ingress.

ingress-nginx splits traffic with two Ingresses for the same host and paths: the user's main
one (``router.ingress``), whose backend is the stable version's Service, and a canary one
(``nginx.ingress.kubernetes.io/canary: "true"``) whose ``canary-weight`` percent goes to the
other version's Service. A table of two versions keeps the stable one on the main Ingress and
puts the other on the canary Ingress with its share. Promoting a version to 100% is three
writes, each leaving traffic on running versions only (make-before-break): the canary
Ingress takes 100% to it, the main Ingress is pointed at it, the canary drops to 0. A run
killed between two of them resumes by applying the same table again, which finishes them.
When the main Ingress sends to neither version of a two-version table (the first canary
after releases by Service selector, whose Service the Ingress names), the version with the
larger share is first made the stable one that way. Every write is a PUT with the
resourceVersion read, retried on 409, and only ever towards a version whose Deployment is
rolled out.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from runwright.errors import DriverError, SettingError
from runwright.kube.client import Kube, replace_with_retry
from runwright.kube.names import object_name
from runwright.kube.objects import (
    CANARY_WEIGHT,
    canary_ingress,
    ingress_backends,
    point_ingress,
)
from runwright.kube.routing import Target, entrance, percentages, ready, targets
from runwright.routers.base import Backend, BackendCounters


class IngressNginxRouter:
    def __init__(self, kube: Kube, ingress: str, canary: str = "", owner: str = "") -> None:
        self.kube = kube
        self.ingress = ingress
        self.canary = canary or f"{ingress}-canary"
        self.owner = owner

    async def verify(self) -> None:
        hint = "name the Ingress users reach (kubectl get ingress)"
        main = await entrance(self.kube, "Ingress", self.ingress, ("router", "ingress"), hint)
        if not ingress_backends(main):
            raise SettingError(
                f"Ingress {self.ingress} has no service backend", ("router", "ingress")
            )

    async def ensure_started(self) -> None:
        await entrance(self.kube, "Ingress", self.ingress)

    async def apply(self, backends: Sequence[Backend]) -> None:
        live = percentages(targets(backends))
        if len(live) > 2:
            raise DriverError(
                "ingress-nginx splits traffic between two versions at most; got "
                + ", ".join(t.version for t in live),
                retryable=False,
            )
        for t in live:
            await ready(self.kube, t)
        stable = await self._stable()
        if len(live) == 1:
            await self._promote(live[0], stable)
            return
        on_main = [t for t in live if t.service == stable]
        if not on_main:
            first = max(live, key=lambda t: t.weight)
            await self._promote(first, stable)
            stable, on_main = first.service, [first]
        other = next(t for t in live if t is not on_main[0])
        await self._set_canary(stable, other, other.weight)

    async def _stable(self) -> str | None:
        main = await self.kube.get("Ingress", self.ingress)
        names = ingress_backends(main or {})
        return names[0] if names else None

    async def _promote(self, target: Target, stable: str | None) -> None:
        if stable != target.service:
            await self._set_canary(stable, target, 100)

            def repoint(ing: dict[str, Any]) -> dict[str, Any] | None:
                now = ingress_backends(ing)
                if now and now[0] == target.service:
                    return None
                return point_ingress(ing, now[0] if now else None, target.service, target.port)

            await replace_with_retry(self.kube, "Ingress", self.ingress, repoint)
        await self._canary_weight(0)

    async def _set_canary(self, stable: str | None, target: Target, weight: int) -> None:
        main = await self.kube.get("Ingress", self.ingress)
        assert main is not None
        wanted = canary_ingress(main, self.canary, stable, target.service, target.port, weight)
        if await self.kube.get("Ingress", self.canary) is None:
            await self.kube.create(wanted)
            return

        def edit(ing: dict[str, Any]) -> dict[str, Any] | None:
            notes = ing["metadata"].get("annotations") or {}
            same = notes.get(CANARY_WEIGHT) == str(weight) and ingress_backends(
                ing
            ) == ingress_backends(wanted)
            if same:
                return None
            wanted["metadata"]["resourceVersion"] = ing["metadata"].get("resourceVersion")
            return wanted

        await replace_with_retry(self.kube, "Ingress", self.canary, edit)

    async def _canary_weight(self, weight: int) -> None:
        if await self.kube.get("Ingress", self.canary) is None:
            return

        def edit(ing: dict[str, Any]) -> dict[str, Any] | None:
            notes = ing["metadata"].get("annotations") or {}
            if notes.get(CANARY_WEIGHT) == str(weight):
                return None
            ing["metadata"]["annotations"] = {**notes, CANARY_WEIGHT: str(weight)}
            return ing

        await replace_with_retry(self.kube, "Ingress", self.canary, edit)

    async def drain(self, name: str, timeout: float) -> None:  # noqa: ASYNC109
        return None

    async def counters(self) -> dict[str, BackendCounters]:
        return {}

    def plan(self, action: str, argument: Mapping[str, int] | str) -> list[str]:
        weights = {v: w for v, w in (argument.items() if isinstance(argument, Mapping) else ())}
        live = {v: w for v, w in weights.items() if w > 0}
        ns = self.kube.namespace
        if len(live) == 1:
            (only,) = live
            svc = object_name(self.owner, only)
            return [
                f"if Ingress {ns}/{self.ingress} does not already send to {svc}:",
                f"  PUT Ingress {ns}/{self.canary}: backend {svc}, "
                f"annotations {json.dumps({CANARY_WEIGHT: '100'})}",
                f"  PUT Ingress {ns}/{self.ingress}: backend {svc}",
                f"PUT Ingress {ns}/{self.canary}: annotations {json.dumps({CANARY_WEIGHT: '0'})}",
            ]
        total = sum(live.values()) or 1
        return [
            f"PUT Ingress {ns}/{self.canary} (created if missing): backend "
            f"{object_name(self.owner, v)}, annotations "
            f"{json.dumps({CANARY_WEIGHT: str(round(100 * w / total))})} "
            f"if {v} is not the stable version on {self.ingress}"
            for v, w in live.items()
        ]

"""The objects runwright sends to Kubernetes, computed without I/O so ``plan`` can show them.

A version's Deployment is a clone of the user's template (a manifest file or an existing
Deployment) with a new name, the version's labels added to its selector and pod template, and
the image of one container set. Its Service selects exactly those pods. ``rollout`` judges a
Deployment as ``kubectl rollout status`` does. The routers' edits (an Ingress backend, an
HTTPRoute's backendRefs) are here too, as pure functions of the object read.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from runwright.kube.names import SERVICE_LABEL

_SERVER_FIELDS = (
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "generation",
    "managedFields",
    "selfLink",
    "ownerReferences",
)


def clone_deployment(
    template: Mapping[str, Any],
    *,
    name: str,
    namespace: str,
    labels: Mapping[str, str],
    image: str,
    container: str | None,
) -> dict[str, Any]:
    """The Deployment of one version; ValueError when the template cannot be used."""
    if template.get("kind") != "Deployment":
        raise ValueError(
            f"the template is a {template.get('kind') or 'document without kind'}, not a Deployment"
        )
    body = copy.deepcopy(dict(template))
    body.pop("status", None)
    meta = body.setdefault("metadata", {})
    for key in _SERVER_FIELDS:
        meta.pop(key, None)
    (meta.get("annotations") or {}).pop("deployment.kubernetes.io/revision", None)
    meta.update(name=name, namespace=namespace)
    meta["labels"] = {**(meta.get("labels") or {}), **labels}
    spec = body.setdefault("spec", {})
    selector = spec.setdefault("selector", {})
    selector["matchLabels"] = {**(selector.get("matchLabels") or {}), **labels}
    pod_meta = spec.setdefault("template", {}).setdefault("metadata", {})
    pod_meta["labels"] = {**(pod_meta.get("labels") or {}), **labels}
    target = _container(spec, container)
    target["image"] = image
    return body


def _container(spec: Mapping[str, Any], name: str | None) -> dict[str, Any]:
    containers: list[dict[str, Any]] = (
        spec.get("template", {}).get("spec", {}).get("containers") or []
    )
    if not containers:
        raise ValueError("the template's pod has no containers")
    if name is None:
        return containers[0]
    for c in containers:
        if c.get("name") == name:
            return c
    raise ValueError(
        f"the template has no container {name!r} (it has "
        + ", ".join(str(c.get("name")) for c in containers)
        + ")"
    )


def container_port(deployment: Mapping[str, Any], container: str | None) -> int | None:
    ports = _container(deployment.get("spec", {}), container).get("ports") or []
    return int(ports[0]["containerPort"]) if ports else None


def version_service(
    name: str, namespace: str, labels: Mapping[str, str], port: int
) -> dict[str, Any]:
    """The Service in front of one version's pods (its preview address and routing target)."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
        "spec": {
            "type": "ClusterIP",
            "selector": dict(labels),
            "ports": [{"name": "http", "port": port, "targetPort": port, "protocol": "TCP"}],
        },
    }


@dataclass(frozen=True)
class Rollout:
    """Where a Deployment's rollout stands: ``done``, ``failed`` (with the reason) or neither."""

    done: bool
    failed: bool
    message: str


def rollout(deployment: Mapping[str, Any]) -> Rollout:
    """As ``kubectl rollout status`` decides it (observedGeneration, updated, available,
    ProgressDeadlineExceeded)."""
    name = deployment.get("metadata", {}).get("name", "?")
    spec, status = deployment.get("spec") or {}, deployment.get("status") or {}
    generation = deployment.get("metadata", {}).get("generation") or 0
    if generation > (status.get("observedGeneration") or 0):
        return Rollout(False, False, "waiting for the deployment spec update to be observed")
    for cond in status.get("conditions") or []:
        if cond.get("type") == "Progressing" and cond.get("reason") == "ProgressDeadlineExceeded":
            return Rollout(False, True, f'deployment "{name}" exceeded its progress deadline')
    want = spec.get("replicas", 1)
    updated = status.get("updatedReplicas") or 0
    total = status.get("replicas") or 0
    available = status.get("availableReplicas") or 0
    if updated < want:
        return Rollout(False, False, f"{updated} of {want} updated replicas are available")
    if total > updated:
        return Rollout(False, False, f"{total - updated} old replicas are pending termination")
    if available < updated:
        return Rollout(False, False, f"{available} of {updated} updated replicas are available")
    return Rollout(True, False, f'deployment "{name}" successfully rolled out')


def serving(deployment: Mapping[str, Any] | None) -> bool:
    """Whether a Deployment has pods to take traffic: rolled out, with at least one replica."""
    if deployment is None:
        return False
    replicas = (deployment.get("spec") or {}).get("replicas", 1)
    return bool(replicas) and rollout(deployment).done


def is_ours(obj: Mapping[str, Any], service: str) -> bool:
    return (obj.get("metadata", {}).get("labels") or {}).get(SERVICE_LABEL) == service


# -- router edits --------------------------------------------------------------------------------


def ingress_backends(ingress: Mapping[str, Any]) -> list[str]:
    """The Service names an Ingress sends traffic to, in order."""
    spec = ingress.get("spec") or {}
    out = []
    default = (spec.get("defaultBackend") or {}).get("service")
    if default:
        out.append(default["name"])
    for rule in spec.get("rules") or []:
        for path in (rule.get("http") or {}).get("paths") or []:
            svc = (path.get("backend") or {}).get("service")
            if svc:
                out.append(svc["name"])
    return out


def point_ingress(
    ingress: Mapping[str, Any], old: str | None, name: str, port: int
) -> dict[str, Any]:
    """``ingress`` with its backends that name ``old`` (every one when ``old`` is None)
    sent to Service ``name``:``port``."""
    body = copy.deepcopy(dict(ingress))
    spec = body.setdefault("spec", {})
    targets = []
    if (spec.get("defaultBackend") or {}).get("service"):
        targets.append(spec["defaultBackend"])
    for rule in spec.get("rules") or []:
        for path in (rule.get("http") or {}).get("paths") or []:
            if (path.get("backend") or {}).get("service"):
                targets.append(path["backend"])
    for backend in targets:
        if old is None or backend["service"]["name"] == old:
            backend["service"] = {"name": name, "port": {"number": port}}
    return body


CANARY = "nginx.ingress.kubernetes.io/canary"
CANARY_WEIGHT = "nginx.ingress.kubernetes.io/canary-weight"


def canary_ingress(
    main: Mapping[str, Any], name: str, stable: str | None, target: str, port: int, weight: int
) -> dict[str, Any]:
    """A canary Ingress beside ``main``: same hosts and paths, sending ``weight``% to
    ``target`` (ingress-nginx's canary annotations)."""
    body = point_ingress(main, stable, target, port)
    meta = body["metadata"]
    for key in ("uid", "resourceVersion", "creationTimestamp", "generation", "managedFields"):
        meta.pop(key, None)
    body.pop("status", None)
    meta["name"] = name
    meta["annotations"] = {
        **(meta.get("annotations") or {}),
        CANARY: "true",
        CANARY_WEIGHT: str(weight),
    }
    return body


def route_refs(weights: Mapping[str, tuple[int, int]]) -> list[dict[str, Any]]:
    """HTTPRoute backendRefs for ``{service name: (port, weight)}``."""
    return [
        {"group": "", "kind": "Service", "name": n, "port": p, "weight": w}
        for n, (p, w) in sorted(weights.items())
    ]

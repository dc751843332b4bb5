"""The ``kubernetes`` driver: each version of a service is a Deployment of its own.

Blue-green and canary need two versions side by side, so a version is not a new image in the
user's one Deployment (that is a rolling update runwright could not steer) but a Deployment
cloned from a template: the user's manifest file or an existing Deployment, renamed
``SERVICE-VERSION``, with the version's labels on its selector and pods and the image of one
container set. A Service of the same name selects those pods: it is the version's preview
address and what the routers (``service-selector``, ``ingress-nginx``, ``gateway-api``) point
traffic at.

Ready means what ``kubectl rollout status`` says (``kube.objects.rollout``). When a version
never gets there (a progress deadline, or ``start_timeout``), the error carries why: each
pod's waiting reason, its Warning events (ImagePullBackOff, CrashLoopBackOff...) and the last
log lines of the failing container; the Deployment is then removed (or scaled back to zero
when it was a retained one being brought back). ``stop`` scales a version to zero and keeps the
newest ``retain`` such Deployments, so rolling back to a recent revision is a scale-up, and
deletes older ones with their Services. Everything is found again by label after a restart.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from runwright.drivers.base import Instance, ServiceSpec
from runwright.engine.clock import Clock, SystemClock
from runwright.errors import DriverError, InputError, RunbookError, SettingError
from runwright.kube.client import Kube
from runwright.kube.names import SERVICE_LABEL, dns_label, object_name, service_host, version_labels
from runwright.kube.objects import (
    clone_deployment,
    container_port,
    rollout,
    serving,
    version_service,
)
from runwright.model.source import parse_yaml_documents
from runwright.model.templating import render

log = logging.getLogger(__name__)
PORT_ANNOTATION = "runwright.dev/port"
VERSION_ANNOTATION = "runwright.dev/version"
STOPPED_ANNOTATION = "runwright.dev/stopped-at"


@dataclass(frozen=True)
class KubernetesSettings:
    """The driver's part of the runbook (``service.driver``), paths already resolved."""

    image: str
    service: str = "SERVICE"
    template_file: Path | None = None
    template_deployment: str | None = None
    container: str | None = None
    port: int | None = None
    retain: int = 1
    version_label: str = "runwright.dev/version"
    poll_interval: float = 0.25
    log_lines: int = 20
    variables: Mapping[str, str] = field(default_factory=dict)


class KubernetesDriver:
    """Versions as Deployments; see the module docstring."""

    def __init__(self, kube: Kube, settings: KubernetesSettings, clock: Clock | None = None):
        self.kube = kube
        self.settings = settings
        self.clock: Clock = clock or SystemClock()

    # -- settings ----------------------------------------------------------------------------

    async def verify(self) -> None:
        if not await self.kube.namespace_exists():
            raise SettingError(
                f"namespace {self.kube.namespace!r} does not exist in the cluster",
                ("driver", "namespace"),
                hint="create it (kubectl create namespace ...) or fix driver.namespace",
            )
        template = await self._template()
        # The image is rendered per version at start (with the run's variables); here only
        # whether the template can be cloned at all.
        self._clone(template, "probe", "probe", image="probe")

    async def _template(self) -> dict[str, Any]:
        s = self.settings
        if s.template_file is not None:
            return self._template_file(s.template_file)
        assert s.template_deployment is not None
        found = await self.kube.get("Deployment", s.template_deployment)
        if found is None:
            raise SettingError(
                f"template Deployment {self.kube.namespace}/{s.template_deployment} does not exist",
                ("driver", "template_deployment"),
                hint="name a Deployment of the namespace, or give template: a manifest file",
            )
        return found

    def _template_file(self, path: Path) -> dict[str, Any]:
        try:
            docs = [
                d for d in parse_yaml_documents(path.read_text(encoding="utf-8"), str(path)) if d
            ]
        except OSError as exc:
            raise SettingError(
                f"cannot read the template {path}: {exc.strerror or exc}",
                ("driver", "template"),
                hint="give the path of a Deployment manifest, relative to the runbook",
            ) from None
        except RunbookError as exc:
            raise SettingError(
                f"the template {exc.location}: {exc.message}", ("driver", "template"), hint=exc.hint
            ) from None
        for doc in docs:
            if isinstance(doc, dict) and doc.get("kind") == "Deployment":
                return doc
        raise SettingError(f"the template {path} holds no Deployment", ("driver", "template"))

    def _clone(
        self, template: Mapping[str, Any], service: str, version: str, image: str | None = None
    ) -> dict[str, Any]:
        s = self.settings
        context = {**s.variables, "version": version, "service": service}
        if image is None:
            image = render(s.image, context, where="service.driver.image")
        where = ("driver", "template" if s.template_file else "template_deployment")
        try:
            body = clone_deployment(
                template,
                name=object_name(service, version),
                namespace=self.kube.namespace,
                labels=version_labels(service, version, s.version_label),
                image=image,
                container=s.container,
            )
            port = s.port or container_port(body, s.container)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise SettingError(f"cannot use the template: {exc}", where) from None
        if port is None:
            raise SettingError(
                "the template's container declares no port",
                ("driver", "port"),
                hint="set driver.port (the port the service listens on)",
            )
        body["spec"]["replicas"] = body["spec"].get("replicas") or 1
        annotations = body["metadata"].setdefault("annotations", {})
        annotations[PORT_ANNOTATION] = str(port)
        annotations[VERSION_ANNOTATION] = version
        return body

    # -- the driver contract -----------------------------------------------------------------

    async def start(self, spec: ServiceSpec, version: str) -> Instance:
        body = self._clone(await self._template(), spec.name, version)
        name = body["metadata"]["name"]
        port = int(body["metadata"]["annotations"][PORT_ANNOTATION])
        existing = await self.kube.get("Deployment", name)
        if existing is None:
            await self.kube.create(body)
        else:
            await self.kube.patch("Deployment", name, _scale_up(body))
        if await self.kube.get("Service", name) is None:
            labels = version_labels(spec.name, version, self.settings.version_label)
            await self.kube.create(version_service(name, self.kube.namespace, labels, port))
        deployment = await self._wait(spec, version, name, created=existing is None)
        return self._instance(spec.name, deployment)

    async def stop(self, instance: Instance, grace: float) -> None:
        name = instance.handle.get("deployment") or object_name(instance.service, instance.version)
        if await self.kube.get("Deployment", name) is not None:
            await self.kube.patch("Deployment", name, self._scale_down())
            log.info("scaled %s to zero", name)
        await self._prune(instance.service)

    async def instances(self, service: str) -> list[Instance]:
        found = await self.kube.find("Deployment", {SERVICE_LABEL: dns_label(service)})
        running = [d for d in found if (d.get("spec") or {}).get("replicas", 1)]
        running.sort(
            key=lambda d: (str(d["metadata"].get("creationTimestamp")), d["metadata"]["name"])
        )
        return [self._instance(service, d) for d in running]

    async def healthy(self, instance: Instance) -> bool:
        name = instance.handle.get("deployment") or object_name(instance.service, instance.version)
        return serving(await self.kube.get("Deployment", name))

    # -- plan --------------------------------------------------------------------------------

    def plan(self, action: str, argument: Mapping[str, int] | str) -> list[str]:
        """What ``start``/``stop`` will send, for ``plan`` (the template is read from a
        file here; a template Deployment is named, as it is read only at run time)."""
        version = str(argument)
        service = self.settings.service
        name = object_name(service, version)
        ns = self.kube.namespace
        if action == "stop":
            return [
                f"PATCH apps/v1 Deployment {ns}/{name} (merge): "
                + json.dumps({"spec": {"replicas": 0}}),
                f"DELETE Deployments (and their Services) of {service} at zero replicas beyond "
                f"the newest {self.settings.retain}",
            ]
        if self.settings.template_file is None:
            template: dict[str, Any] = {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": f"<{self.settings.template_deployment}, read at run time>"},
                "spec": {
                    "template": {
                        "spec": {
                            "containers": [{"name": self.settings.container or "<first container>"}]
                        }
                    }
                },
            }
        else:
            template = self._template_file(self.settings.template_file)
        body = self._clone(template, service, version)
        port = int(body["metadata"]["annotations"][PORT_ANNOTATION])
        labels = version_labels(service, version, self.settings.version_label)
        svc = version_service(name, ns, labels, port)
        return [
            f"POST apps/v1 Deployment {ns}/{name} (or, if it exists, PATCH (merge) its replicas "
            "and pod template):",
            *_indent(yaml.safe_dump(body, sort_keys=False)),
            f"POST v1 Service {ns}/{name} unless it exists:",
            *_indent(yaml.safe_dump(svc, sort_keys=False)),
            f"then GET the Deployment every {self.settings.poll_interval:g}s until it is rolled "
            "out (kubectl rollout status)",
        ]

    # -- helpers -----------------------------------------------------------------------------

    async def _wait(
        self, spec: ServiceSpec, version: str, name: str, created: bool
    ) -> dict[str, Any]:
        deadline = self.clock.monotonic() + spec.start_timeout
        while True:
            deployment = await self.kube.get("Deployment", name)
            if deployment is None:
                raise DriverError(
                    f"Deployment {name} vanished while it rolled out", retryable=False
                )
            state = rollout(deployment)
            if state.done:
                log.info("%s is rolled out", name)
                return deployment
            late = self.clock.monotonic() >= deadline
            if state.failed or late:
                why = (
                    state.message
                    if state.failed
                    else (f"not ready within {spec.start_timeout:g}s: {state.message}")
                )
                details = await self._diagnose(spec.name, version)
                await self._give_up(name, created)
                raise DriverError(
                    f"{spec.name} {version} (Deployment {self.kube.namespace}/{name}) did not "
                    f"become ready: {why}\n" + "\n".join(details),
                    retryable=False,
                    hint="check the image and the pods' events (kubectl describe pods)",
                )
            await self.clock.sleep(self.settings.poll_interval)

    async def _diagnose(self, service: str, version: str) -> list[str]:
        """Each pod's state, its Warning events and the failing container's last lines."""
        labels = version_labels(service, version, self.settings.version_label)
        out: list[str] = []
        for pod in await self.kube.find("Pod", labels):
            pod_name = pod["metadata"]["name"]
            failing: str | None = None
            for cs in (pod.get("status") or {}).get("containerStatuses") or []:
                waiting = (cs.get("state") or {}).get("waiting") or {}  # not a status
                if waiting.get("reason"):
                    if cs.get("restartCount"):  # it ran: its log says why it stopped
                        failing = failing or cs.get("name")
                    msg = f": {waiting['message']}" if waiting.get("message") else ""
                    out.append(
                        f"  pod {pod_name} container {cs.get('name')}: {waiting['reason']}{msg}"
                    )
            events = await self.kube.find("Event", fields={"involvedObject.name": pod_name})
            for ev in events:
                if ev.get("type") == "Warning":
                    out.append(f"  event {pod_name}: {ev.get('reason')}: {ev.get('message')}")
            if failing is not None:
                try:
                    lines = await self.kube.logs(pod_name, failing, self.settings.log_lines)
                except DriverError as exc:  # no kubelet answering, or no right to read it
                    out.append(f"  (no log of {pod_name}/{failing}: {exc.message})")
                    continue
                if lines:
                    out.append(f"  last log lines of {pod_name}/{failing}:")
                    out += [f"  | {line}" for line in lines]
        return out or ["  (no pods found)"]

    async def _give_up(self, name: str, created: bool) -> None:
        if created:
            await self.kube.delete("Deployment", name)
            await self.kube.delete("Service", name)
        else:
            await self.kube.patch("Deployment", name, self._scale_down())

    def _scale_down(self) -> dict[str, Any]:
        stamp = self.clock.now().isoformat()
        return {"metadata": {"annotations": {STOPPED_ANNOTATION: stamp}}, "spec": {"replicas": 0}}

    async def _prune(self, service: str) -> None:
        found = await self.kube.find("Deployment", {SERVICE_LABEL: dns_label(service)})
        idle = [d for d in found if (d.get("spec") or {}).get("replicas", 1) == 0]
        idle.sort(key=_stopped_at)
        keep = self.settings.retain
        for old in idle[: max(len(idle) - keep, 0)]:
            name = old["metadata"]["name"]
            await self.kube.delete("Deployment", name)
            await self.kube.delete("Service", name)
            log.info("deleted %s (beyond retain %d)", name, keep)

    def _instance(self, service: str, deployment: Mapping[str, Any]) -> Instance:
        meta = deployment["metadata"]
        annotations = meta.get("annotations") or {}
        name = meta["name"]
        version = annotations.get(VERSION_ANNOTATION) or (meta.get("labels") or {}).get(
            self.settings.version_label, name
        )
        try:
            port = int(annotations.get(PORT_ANNOTATION) or self.settings.port or 80)
        except ValueError:
            raise InputError(f"Deployment {name} has a bad {PORT_ANNOTATION} annotation") from None
        host = service_host(name, self.kube.namespace)
        return Instance(
            service=service,
            version=str(version),
            host=host,
            port=port,
            pid=0,
            started_at=_timestamp(meta.get("creationTimestamp")),
            handle={
                "deployment": name,
                "namespace": self.kube.namespace,
                "uid": str(meta.get("uid", "")),
            },
            preview_url=f"http://{host}:{port}",
        )


def _stopped_at(deployment: Mapping[str, Any]) -> tuple[str, str]:
    """Deployments retired last sort last (and are the ones ``retain`` keeps)."""
    meta = deployment["metadata"]
    stamp = (meta.get("annotations") or {}).get(STOPPED_ANNOTATION) or ""
    return str(stamp), str(meta.get("creationTimestamp"))


def _scale_up(body: Mapping[str, Any]) -> dict[str, Any]:
    spec = body["spec"]
    return {
        "metadata": {
            "labels": body["metadata"]["labels"],
            "annotations": {**body["metadata"]["annotations"], STOPPED_ANNOTATION: None},
        },
        "spec": {"replicas": spec.get("replicas", 1), "template": spec["template"]},
    }


def _timestamp(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return datetime.fromtimestamp(0, UTC)


def _indent(text: str) -> list[str]:
    return ["    " + line for line in text.rstrip("\n").splitlines()]

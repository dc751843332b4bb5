"""A small dict-in, dict-out view of the Kubernetes API over lightkube's async client.

The driver and routers edit objects as plain mappings (what a manifest file holds, what
``plan`` prints), so this module converts at the edge: lightkube's typed models go in and out
here only. It also translates failures once: an unreachable API server or an answer other
than the one hoped for becomes a ``DriverError`` saying which call failed and why; a bad
setting (kubeconfig, context) found while connecting becomes a ``SettingError``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2 as httpx
from lightkube import AsyncClient, codecs
from lightkube.config.kubeconfig import KubeConfig, SingleConfig
from lightkube.core.exceptions import ApiError, ConfigError
from lightkube.generic_resource import create_namespaced_resource
from lightkube.resources.apps_v1 import Deployment, ReplicaSet
from lightkube.resources.core_v1 import Event, Namespace, Pod, Service
from lightkube.resources.networking_v1 import Ingress
from lightkube.types import PatchType

from runwright.errors import DriverError, SettingError

HTTPRoute = create_namespaced_resource("gateway.networking.k8s.io", "v1", "HTTPRoute", "httproutes")
KINDS: dict[str, Any] = {
    "Deployment": Deployment,
    "ReplicaSet": ReplicaSet,
    "Service": Service,
    "Pod": Pod,
    "Event": Event,
    "Ingress": Ingress,
    "HTTPRoute": HTTPRoute,
}
PATCH_TYPES = {
    "merge": PatchType.MERGE,
    "strategic": PatchType.STRATEGIC,
    "json": PatchType.JSON,
}


@dataclass(frozen=True)
class KubeSettings:
    """Where the API server is: a kubeconfig file and context, or (no file) the pod's own
    service account; ``namespace`` is where every object of the service lives."""

    kubeconfig: Path | None
    context: str | None
    namespace: str
    timeout: float = 10.0


class Conflict(DriverError):
    """The object changed since it was read (HTTP 409): read it again and retry."""


class NoCluster(SettingError):
    """No cluster is configured here (no kubeconfig, and not in a pod): a run cannot start,
    but ``plan`` can still show what it would send."""


class Unreachable(DriverError):
    """The API server did not answer: ``plan`` goes on without reading the cluster."""


def load_config(settings: KubeSettings) -> SingleConfig:
    if settings.kubeconfig is None:
        try:
            return KubeConfig.from_service_account().get()  # type: ignore[return-value]
        except (ConfigError, OSError, KeyError):
            raise NoCluster(
                "no kubeconfig given and runwright is not running in a pod",
                ("driver", "kubeconfig"),
                hint="set driver.kubeconfig (or KUBECONFIG where runwright starts)",
            ) from None
    path = settings.kubeconfig
    if not path.is_file():
        raise NoCluster(
            f"kubeconfig {path} does not exist", ("driver", "kubeconfig"), hint="fix the path"
        )
    try:
        config = KubeConfig.from_file(path)
    except (ConfigError, OSError, KeyError, ValueError, TypeError) as exc:
        raise SettingError(
            f"cannot read kubeconfig {path}: {exc}", ("driver", "kubeconfig")
        ) from None
    if settings.context is not None and settings.context not in config.contexts:
        raise SettingError(
            f"kubeconfig {path} has no context {settings.context!r}",
            ("driver", "context"),
            hint="contexts: " + (", ".join(sorted(config.contexts)) or "(none)"),
        )
    try:
        single = config.get(context_name=settings.context)
    except ConfigError as exc:
        raise SettingError(f"kubeconfig {path}: {exc}", ("driver", "context")) from None
    assert single is not None
    return single


def _plain(obj: Any) -> dict[str, Any]:
    data: dict[str, Any] = obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)
    return data


@contextlib.contextmanager
def translated(what: str) -> Iterator[None]:
    try:
        yield
    except ApiError as exc:
        code = exc.status.code or 0
        message = exc.status.message or str(exc)
        kind = Conflict if code == 409 else DriverError
        raise kind(
            f"{what}: the API server answered {code}: {message}",
            retryable=code in (409, 429) or code >= 500,
            hint="check the namespace, RBAC rights and object names"
            if code in (403, 404)
            else None,
        ) from None
    except httpx.HTTPError as exc:
        raise Unreachable(
            f"{what}: cannot reach the API server: {exc}",
            hint="check the kubeconfig's server address and that the cluster is up",
        ) from None


class Kube:
    """The calls runwright makes, on plain dicts; every failure is a DriverError."""

    def __init__(self, settings: KubeSettings) -> None:
        self.settings = settings
        self.namespace = settings.namespace
        self._client: AsyncClient | None = None

    @property
    def client(self) -> AsyncClient:
        if self._client is None:
            self._client = AsyncClient(
                config=load_config(self.settings),
                namespace=self.namespace,
                timeout=httpx.Timeout(self.settings.timeout),
                field_manager="runwright",
                trust_env=False,
            )
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def namespace_exists(self) -> bool:
        """Whether the namespace exists; a SettingError when the account may not read it (with
        RBAC an account bound only in its own namespace cannot tell a missing one from that)."""
        with translated(f"read namespace {self.namespace}"):
            try:
                await self.client.get(Namespace, self.namespace)
            except ApiError as exc:
                if exc.status.code == 404:
                    return False
                if exc.status.code == 403:
                    raise SettingError(
                        f"namespace {self.namespace!r} does not exist in the cluster, or the "
                        f"account runwright uses may not read it: {exc.status.message}",
                        ("driver", "namespace"),
                        hint="fix driver.namespace, or grant get on the namespace (the Role "
                        "in docs/drivers.md)",
                    ) from None
                raise
        return True

    async def get(self, kind: str, name: str) -> dict[str, Any] | None:
        with translated(f"read {kind} {self.namespace}/{name}"):
            try:
                return _plain(await self.client.get(KINDS[kind], name, namespace=self.namespace))
            except ApiError as exc:
                if exc.status.code == 404:
                    return None
                raise

    async def find(
        self,
        kind: str,
        labels: Mapping[str, str] | None = None,
        fields: Mapping[str, str] | None = None,
    ) -> list[dict[str, Any]]:
        with translated(f"list {kind} in {self.namespace}"):
            found = self.client.list(
                KINDS[kind],
                namespace=self.namespace,
                labels=dict(labels) if labels else None,
                fields=dict(fields) if fields else None,
            )
            return [_plain(obj) async for obj in found]

    async def create(self, body: Mapping[str, Any]) -> dict[str, Any]:
        what = f"create {body['kind']} {self.namespace}/{body['metadata']['name']}"
        with translated(what):
            return _plain(await self.client.create(self._typed(body)))

    async def replace(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """PUT ``body``; its ``resourceVersion`` makes a concurrent change a ``Conflict``."""
        what = f"replace {body['kind']} {self.namespace}/{body['metadata']['name']}"
        with translated(what):
            return _plain(await self.client.replace(self._typed(body)))

    async def patch(
        self, kind: str, name: str, patch: Any, patch_type: str = "merge"
    ) -> dict[str, Any]:
        with translated(f"patch {kind} {self.namespace}/{name}"):
            return _plain(
                await self.client.patch(
                    KINDS[kind],
                    name,
                    patch,
                    namespace=self.namespace,
                    patch_type=PATCH_TYPES[patch_type],
                )
            )

    async def delete(self, kind: str, name: str) -> None:
        with translated(f"delete {kind} {self.namespace}/{name}"):
            try:
                await self.client.delete(KINDS[kind], name, namespace=self.namespace)
            except ApiError as exc:
                if exc.status.code != 404:
                    raise

    async def logs(self, pod: str, container: str | None, lines: int) -> list[str]:
        out: list[str] = []
        with translated(f"read the log of pod {self.namespace}/{pod}"):
            try:
                async for line in self.client.log(
                    pod, namespace=self.namespace, container=container, tail_lines=lines
                ):
                    out.append(line.rstrip("\n"))
            except ApiError as exc:
                if exc.status.code not in (400, 404):
                    raise
        return out

    def _typed(self, body: Mapping[str, Any]) -> Any:
        data = dict(body)
        data["metadata"] = {**data.get("metadata", {}), "namespace": self.namespace}
        return codecs.from_dict(data)


async def replace_with_retry(
    kube: Kube, kind: str, name: str, edit: Any, attempts: int = 5
) -> dict[str, Any] | None:
    """Read ``name``, apply ``edit(obj) -> obj | None`` and PUT it with its resourceVersion;
    on a 409 (someone else wrote in between) read again and redo the edit. ``None`` from
    ``edit`` means nothing to change. DriverError when the object is gone."""
    for attempt in range(attempts):
        current = await kube.get(kind, name)
        if current is None:
            raise DriverError(
                f"{kind} {kube.namespace}/{name} does not exist",
                retryable=False,
                hint="create it, or fix the router settings",
            )
        changed = edit(current)
        if changed is None:
            return current
        try:
            return await kube.replace(changed)
        except Conflict:
            if attempt == attempts - 1:
                raise
    return None

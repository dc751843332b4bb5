"""The fake API server is honest: kubectl, a real client, patches and reads it as it would a
cluster, and the routers' writes survive a concurrent writer (409 Conflict, then a retry).

The seeds' teams switch traffic with ``kubectl patch service ... --type=json`` and
``kubectl patch ingress ... -p '{"metadata":{"annotations":...}}'``; the same commands work
against the fake, and what they change is what the driver then reads.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.support.kubeapi import FakeKube, serve
from tests.support.kubelab import NS, seed

from runwright.errors import DriverError
from runwright.kube.client import Kube, KubeSettings
from runwright.routers.base import Backend
from runwright.routers.service_selector import ServiceSelectorRouter


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[FakeKube]:
    with serve(FakeKube(namespaces={"default", NS}, ready_after=0.0)) as api:
        seed(api)
        api.kubeconfig(tmp_path / "kubeconfig", NS)
        yield api


def kubectl(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["kubectl", "--kubeconfig", str(tmp_path / "kubeconfig"), "-n", NS, *args],
        capture_output=True,
        text=True,
        timeout=30,
    )


def _deployment(name: str, version: str) -> dict[str, Any]:
    labels = {"app": "shop", "runwright.dev/service": "shop-production"}
    labels["runwright.dev/version"] = version
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": NS, "labels": labels},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "web", "image": f"shop:{version}"}]},
            },
        },
    }


def test_kubectl_patches_of_every_type_are_what_a_later_get_returns(
    fake: FakeKube, tmp_path: Path
) -> None:
    fake.put(_deployment("shop-production-v2", "v2"))
    as_json = kubectl(
        tmp_path,
        "patch",
        "service",
        "shop",
        "--type=json",
        "-p",
        '[{"op": "add", "path": "/spec/selector/color", "value": "green"}]',
    )
    assert as_json.returncode == 0, as_json.stderr
    merged = kubectl(
        tmp_path,
        "patch",
        "ingress",
        "shop",
        "--type=merge",
        "-p",
        '{"metadata": {"annotations": {"nginx.ingress.kubernetes.io/canary-weight": "25"}}}',
    )
    assert merged.returncode == 0, merged.stderr
    strategic = kubectl(
        tmp_path,
        "patch",
        "deployment",
        "shop-production-v2",
        "-p",
        '{"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "shop:v2.1"}]}}}}',
    )
    assert strategic.returncode == 0, strategic.stderr

    service = json.loads(kubectl(tmp_path, "get", "service", "shop", "-o", "json").stdout)
    assert service["spec"]["selector"] == {"app": "shop", "color": "green"}
    ingress = fake.get("ingresses", NS, "shop")
    assert ingress is not None
    assert ingress["metadata"]["annotations"] == {"nginx.ingress.kubernetes.io/canary-weight": "25"}
    deployment = fake.get("deployments", NS, "shop-production-v2")
    assert deployment is not None
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container == {"name": "web", "image": "shop:v2.1"}  # merged by name, not replaced
    assert deployment["metadata"]["generation"] == 2
    assert [w.content_type for w in fake.writes] == [
        "application/json-patch+json",
        "application/merge-patch+json",
        "application/strategic-merge-patch+json",
    ]


def test_a_router_write_that_meets_a_concurrent_change_reads_again_and_succeeds(
    fake: FakeKube, tmp_path: Path
) -> None:
    fake.put(_deployment("shop-production-v2", "v2"))
    fake.conflict("services", NS, "shop", times=2)

    async def switch() -> None:
        kube = Kube(KubeSettings(tmp_path / "kubeconfig", None, NS))
        router = ServiceSelectorRouter(kube, "shop", "shop-production", "runwright.dev/version")
        try:
            host = f"shop-production-v2.{NS}.svc"
            await router.apply([Backend("v2", host, 8080, 100)])
        finally:
            await kube.close()

    asyncio.run(switch())
    puts = [r for r in fake.requests if r[0] == "PUT" and r[1].endswith("/services/shop")]
    assert len(puts) == 3  # two answered 409 Conflict, the third read the latest version
    service = fake.get("services", NS, "shop")
    assert service is not None
    assert service["spec"]["selector"]["runwright.dev/version"] == "v2"


def test_a_router_refuses_a_version_without_available_pods(fake: FakeKube, tmp_path: Path) -> None:
    broken = _deployment("shop-production-v3", "v3")
    broken["spec"]["template"]["spec"]["containers"][0]["image"] = "shop:v3-broken"
    fake.put(broken)

    async def switch() -> None:
        kube = Kube(KubeSettings(tmp_path / "kubeconfig", None, NS))
        router = ServiceSelectorRouter(kube, "shop", "shop-production", "runwright.dev/version")
        try:
            await router.apply([Backend("v3", f"shop-production-v3.{NS}.svc", 8080, 100)])
        finally:
            await kube.close()

    with pytest.raises(DriverError, match="has no available replicas"):
        asyncio.run(switch())
    assert fake.writes == []

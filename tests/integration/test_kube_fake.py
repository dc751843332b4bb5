"""The fake API server is honest: the same contract tests run against it and against the
real control plane (``api`` is each in turn), so what the fake says is what a cluster says.

kubectl, a real client, patches and reads both as it would a cluster; the routers' writes
survive a concurrent writer (409 Conflict, then a retry); a router refuses a version without
available pods; a crashing version fails with its events and leaves nothing. The seeds' teams
switch traffic with ``kubectl patch service ... --type=json`` and ``kubectl patch ingress ...
-p '{"metadata":{"annotations":...}}'``; the same commands work against both, and what they
change is what the driver then reads. The fake stays for the unit-speed tests of the driver's
edge cases; this module is what keeps it true.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import ROOT
from tests.support import kubeplane
from tests.support.kubeapi import FakeKube, serve
from tests.support.kubelab import NS, open_kube_lab, seed
from tests.support.kubetap import TappedKube

from runwright.drivers.base import ServiceSpec
from runwright.drivers.kubernetes import KubernetesDriver, KubernetesSettings
from runwright.errors import DriverError
from runwright.kube.client import Kube, KubeSettings
from runwright.kube.objects import serving
from runwright.routers.base import Backend
from runwright.routers.service_selector import ServiceSelectorRouter


@dataclass
class Api:
    """One API server under contract: the fake, or the real plane behind the lab's tap."""

    server: FakeKube | TappedKube
    ns: str
    kubeconfig: Path  # runwright's (on the plane: the documented Role's service account)
    admin_kubeconfig: Path  # kubectl's
    kubectl_binary: str
    logs: bool  # whether container logs exist (kwok's simulated pods have none)

    def kubectl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.kubectl_binary, "--kubeconfig", str(self.admin_kubeconfig), "-n", self.ns]
            + list(args),
            capture_output=True,
            text=True,
            timeout=30,
        )


@pytest.fixture(params=["fake", "plane"])
def api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Api]:
    if request.param == "fake":
        with serve(FakeKube(namespaces={"default", NS}, ready_after=0.0)) as fake:
            seed(fake)
            config = fake.kubeconfig(tmp_path / "kubeconfig", NS)
            yield Api(fake, NS, config, config, kubeplane.kubectl(), True)
        return
    state = tmp_path / "state"
    state.mkdir()
    with open_kube_lab(tmp_path, state) as lab:
        yield Api(lab.fake, NS, lab.kubeconfig, lab.admin_kubeconfig, lab.plane.kubectl, False)


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


def test_kubectl_patches_of_every_type_are_what_a_later_get_returns(api: Api) -> None:
    api.server.put(_deployment("shop-production-v2", "v2"))
    as_json = api.kubectl(
        "patch",
        "service",
        "shop",
        "--type=json",
        "-p",
        '[{"op": "add", "path": "/spec/selector/color", "value": "green"}]',
    )
    assert as_json.returncode == 0, as_json.stderr
    merged = api.kubectl(
        "patch",
        "ingress",
        "shop",
        "--type=merge",
        "-p",
        '{"metadata": {"annotations": {"nginx.ingress.kubernetes.io/canary-weight": "25"}}}',
    )
    assert merged.returncode == 0, merged.stderr
    strategic = api.kubectl(
        "patch",
        "deployment",
        "shop-production-v2",
        "-p",
        '{"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "shop:v2.1"}]}}}}',
    )
    assert strategic.returncode == 0, strategic.stderr

    service = json.loads(api.kubectl("get", "service", "shop", "-o", "json").stdout)
    assert service["spec"]["selector"] == {"app": "shop", "color": "green"}
    ingress = api.server.get("ingresses", NS, "shop")
    assert ingress is not None
    assert ingress["metadata"]["annotations"] == {"nginx.ingress.kubernetes.io/canary-weight": "25"}
    deployment = api.server.get("deployments", NS, "shop-production-v2")
    assert deployment is not None
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    # merged by name, not replaced: still one container, with the new image
    assert (container["name"], container["image"]) == ("web", "shop:v2.1")
    assert deployment["metadata"]["generation"] == 2
    assert [w.content_type for w in api.server.writes] == [
        "application/json-patch+json",
        "application/merge-patch+json",
        "application/strategic-merge-patch+json",
    ]


def _until_rolled_out(api: Api, name: str, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while not serving(api.server.get("deployments", NS, name)):
        assert time.monotonic() < deadline, f"{name} was never rolled out"
        time.sleep(0.05)


def test_a_router_write_that_meets_a_concurrent_change_reads_again_and_succeeds(
    api: Api,
) -> None:
    api.server.put(_deployment("shop-production-v2", "v2"))
    _until_rolled_out(api, "shop-production-v2")
    api.server.conflict("services", NS, "shop", times=2)

    async def switch() -> None:
        kube = Kube(KubeSettings(api.kubeconfig, None, api.ns))
        router = ServiceSelectorRouter(kube, "shop", "shop-production", "runwright.dev/version")
        try:
            host = f"shop-production-v2.{api.ns}.svc"
            await router.apply([Backend("v2", host, 8080, 100)])
        finally:
            await kube.close()

    asyncio.run(switch())
    puts = [r for r in api.server.requests if r[0] == "PUT" and r[1].endswith("/services/shop")]
    assert len(puts) == 3  # two answered 409 Conflict, the third read the latest version
    service = api.server.get("services", NS, "shop")
    assert service is not None
    assert service["spec"]["selector"]["runwright.dev/version"] == "v2"


def test_a_router_refuses_a_version_without_available_pods(api: Api) -> None:
    broken = _deployment("shop-production-v3", "v3")
    broken["spec"]["template"]["spec"]["containers"][0]["image"] = "shop:v3-broken"
    api.server.put(broken)

    async def switch() -> None:
        kube = Kube(KubeSettings(api.kubeconfig, None, api.ns))
        router = ServiceSelectorRouter(kube, "shop", "shop-production", "runwright.dev/version")
        try:
            await router.apply([Backend("v3", f"shop-production-v3.{api.ns}.svc", 8080, 100)])
        finally:
            await kube.close()

    with pytest.raises(DriverError, match="has no available replicas"):
        asyncio.run(switch())
    assert api.server.writes == []


def test_a_crashing_version_fails_with_its_events_and_last_log_lines_and_leaves_nothing(
    api: Api, tmp_path: Path
) -> None:
    template = tmp_path / "deployment.yaml"
    template.write_text((ROOT / "examples" / "k8s" / "shop-deployment.yaml").read_text())

    async def start() -> None:
        kube = Kube(KubeSettings(api.kubeconfig, None, api.ns))
        driver = KubernetesDriver(
            kube,
            KubernetesSettings(
                image="shop:{{ version }}",
                service="shop-production",
                template_file=template,
                poll_interval=0.05,
            ),
        )
        try:
            await driver.start(ServiceSpec(name="shop-production", command=""), "v5-crash")
        finally:
            await kube.close()

    with pytest.raises(DriverError) as caught:
        asyncio.run(start())
    text = str(caught.value)
    assert 'deployment "shop-production-v5-crash" exceeded its progress deadline' in text
    assert "container web: CrashLoopBackOff" in text
    assert "BackOff: Back-off restarting failed container" in text
    if api.logs:
        assert "  | FATAL: DATABASE_URL is not set" in text
    else:  # no kubelet serves a simulated pod's log: said, and the rest still reported
        assert "(no log of shop-production-v5-crash-" in text
    assert api.server.get("deployments", NS, "shop-production-v5-crash") is None
    assert api.server.get("services", NS, "shop-production-v5-crash") is None

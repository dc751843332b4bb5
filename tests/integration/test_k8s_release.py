"""The Kubernetes example released by ``runwright deploy`` against the real control plane.

What a user would check in their cluster: which version the Service selector, the Ingresses
and the HTTPRoute send users to, which Deployments exist at how many replicas, and what the
API server was asked to do, in which order. The lab's tap records every write with a snapshot
of which Deployments had available pods just before it, so "the selector never pointed at a
Deployment without available replicas" is checked on every write, not only at the end. The
CLI runs as a service account holding only the Role of docs/drivers.md.
"""

from __future__ import annotations

import asyncio
import copy
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.support.kubeapi import Write
from tests.support.kubelab import (
    NS,
    SERVICE,
    VERSION_LABEL,
    KubeLab,
    canary_weight,
    ingress_service,
    open_kube_lab,
)

from runwright.drivers.kubernetes import KubernetesDriver, KubernetesSettings
from runwright.kube.client import Kube, KubeSettings

pytestmark = pytest.mark.slow


@pytest.fixture
def lab(tmp_path: Path, state_dir: Path) -> Iterator[KubeLab]:
    with open_kube_lab(tmp_path, state_dir) as lab:
        yield lab


def _selector_writes(writes: list[Write], ns: str) -> list[Write]:
    path = f"/api/v1/namespaces/{ns}/services/shop"
    return [w for w in writes if w.path.partition("?")[0] == path]


def _selected(selector: dict[str, str], available: dict[str, dict[str, str]]) -> list[str]:
    return [
        n for n, labels in available.items() if all(labels.get(k) == v for k, v in selector.items())
    ]


def _ingress_writes(writes: list[Write]) -> list[Write]:
    return [w for w in writes if "/ingresses" in w.path]


def _canary_weights(writes: list[Write]) -> list[str | None]:
    return [
        canary_weight(w.result)
        for w in writes
        if "/ingresses" in w.path and w.result.get("metadata", {}).get("name") == "shop-canary"
    ]


def test_blue_green_then_canary_then_a_broken_image_leaves_traffic_on_the_last_good_version(
    lab: KubeLab,
) -> None:
    blue_green = lab.runbook("bg.yaml")
    canary = lab.runbook(
        "canary.yaml",
        strategy="canary",
        weights=[10, 50, 100],
        pause="0.2s",
        router={"kind": "ingress-nginx", "ingress": "shop"},
    )
    lab.deployed(blue_green, "v1")
    assert lab.selector()[VERSION_LABEL] == "v1"

    lab.deployed(blue_green, "v2")
    assert lab.selector()[VERSION_LABEL] == "v2"
    switches = _selector_writes(lab.fake.writes, NS)
    moved = [w.result["spec"]["selector"][VERSION_LABEL] for w in switches]
    assert moved[:2] == ["v1", "v2"], moved
    assert set(moved) == {"v1", "v2"}, moved
    for write in switches:
        chosen = write.result["spec"]["selector"]
        assert _selected(chosen, write.available), f"selector {chosen} had no available pods"
    assert lab.deployments() == {f"{SERVICE}-v1": 0, f"{SERVICE}-v2": 2}

    mark = len(lab.fake.writes)
    lab.deployed(canary, "v3")
    # The main Ingress first moves from the selector-run Service to v2's own (through the
    # canary at 100%, so never to a version without pods), then v3 gets 10, 50, 100.
    assert _canary_weights(lab.fake.writes[mark:]) == ["100", "0", "10", "50", "100", "0"]
    assert [ingress_service(w.result) for w in _ingress_writes(lab.fake.writes[mark:])] == [
        f"{SERVICE}-v2",
        f"{SERVICE}-v2",
        f"{SERVICE}-v2",
        f"{SERVICE}-v3",
        f"{SERVICE}-v3",
        f"{SERVICE}-v3",
        f"{SERVICE}-v3",
        f"{SERVICE}-v3",
    ]
    for write in _ingress_writes(lab.fake.writes[mark:]):
        if canary_weight(write.result) != "0":
            assert ingress_service(write.result) in write.available, write
    assert ingress_service(lab.ingress()) == f"{SERVICE}-v3"
    # retain: 1 keeps v2 at zero replicas for a quick rollback; v1 is gone.
    assert lab.deployments() == {f"{SERVICE}-v2": 0, f"{SERVICE}-v3": 2}

    failed = lab.deploy(canary, "v4-broken")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert ingress_service(lab.ingress()) == f"{SERVICE}-v3"
    assert canary_weight(lab.ingress("shop-canary")) == "0"
    assert lab.deployments() == {f"{SERVICE}-v2": 0, f"{SERVICE}-v3": 2}
    run_id = lab.json("history")[0]["id"]
    report = lab.cli("report", str(run_id), env=lab.env).stdout
    assert "ProgressDeadlineExceeded" in report or "progress deadline" in report
    assert 'ImagePullBackOff: Back-off pulling image "registry.example.com/shop:v4-broken"' in (
        report
    )
    assert "Failed: Failed to pull image" in report


def _until_deadline_exceeded(lab: KubeLab, name: str, within: float = 30.0) -> None:
    """Wait for the deployment controller to mark ``name`` ProgressDeadlineExceeded."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        found = lab.fake.get("deployments", NS, name) or {}
        conditions = (found.get("status") or {}).get("conditions") or []
        if any(c.get("reason") == "ProgressDeadlineExceeded" for c in conditions):
            return
        time.sleep(0.1)
    raise AssertionError(f"{name} never exceeded its progress deadline")


def _driver(lab: KubeLab) -> KubernetesDriver:
    kube = Kube(KubeSettings(lab.kubeconfig, None, NS))
    return KubernetesDriver(kube, KubernetesSettings(image="unused", service=SERVICE))


def test_kubectl_agrees_with_the_driver_on_every_deployment(lab: KubeLab) -> None:
    book = lab.runbook()
    lab.deployed(book, "v1")
    lab.deployed(book, "v2")
    # A third Deployment of the service whose image never pulls, put there behind
    # runwright's back: both clients must see it, and see it not rolled out.
    broken = copy.deepcopy(lab.fake.get("deployments", NS, f"{SERVICE}-v2"))
    assert broken is not None
    labels = {**broken["metadata"]["labels"], VERSION_LABEL: "v3"}
    broken["metadata"] = {"name": f"{SERVICE}-v3", "namespace": NS, "labels": labels}
    broken["spec"]["selector"] = {"matchLabels": labels}
    broken["spec"]["template"]["metadata"]["labels"] = labels
    broken["spec"]["progressDeadlineSeconds"] = 1
    broken["spec"]["template"]["spec"]["containers"][0]["image"] = "shop:v3-broken"
    lab.fake.put(broken)
    _until_deadline_exceeded(lab, f"{SERVICE}-v3")

    listed = lab.kubectl("get", "deployments", "-o", "json")
    assert listed.returncode == 0, listed.stderr
    items: list[dict[str, Any]] = json.loads(listed.stdout)["items"]
    by_kubectl = {d["metadata"]["name"]: d["spec"]["replicas"] for d in items}
    assert by_kubectl == lab.deployments()
    assert by_kubectl == {f"{SERVICE}-v1": 0, f"{SERVICE}-v2": 2, f"{SERVICE}-v3": 2}

    async def view() -> dict[str, bool]:
        driver = _driver(lab)
        try:
            return {
                i.handle["deployment"]: await driver.healthy(i)
                for i in await driver.instances(SERVICE)
            }
        finally:
            await driver.kube.close()

    by_driver = asyncio.run(view())
    assert by_driver == {f"{SERVICE}-v2": True, f"{SERVICE}-v3": False}
    running = {n for n, r in by_kubectl.items() if r > 0}
    assert running == set(by_driver)
    for name, healthy in by_driver.items():
        status = lab.kubectl("rollout", "status", f"deployment/{name}", "--timeout=20s")
        assert (status.returncode == 0) is healthy, status.stdout + status.stderr
        expected = "successfully rolled out" if healthy else "exceeded its progress deadline"
        assert expected in status.stdout + status.stderr

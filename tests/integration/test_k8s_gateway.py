"""The Kubernetes example with the Gateway API: HTTPRoute weights through blue-green and canary
releases, a broken image that leaves the route alone, and ``runwright rollback
--to-revision N`` scaling a retained Deployment back up (or re-creating a deleted one) before
the route sends it traffic.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.kubeapi import Write
from tests.support.kubelab import SERVICE, KubeLab, open_kube_lab

pytestmark = pytest.mark.slow
ENV = "production"


@pytest.fixture
def lab(tmp_path: Path, state_dir: Path) -> Iterator[KubeLab]:
    with open_kube_lab(tmp_path, state_dir) as lab:
        yield lab


def _route_writes(writes: list[Write]) -> list[Write]:
    return [w for w in writes if "/httproutes/" in w.path]


def _refs(write: Write) -> list[tuple[str, int]]:
    return [(r["name"], r["weight"]) for r in write.result["spec"]["rules"][0]["backendRefs"]]


def test_gateway_api_canary_weights_and_rollback_to_a_revision(lab: KubeLab) -> None:
    gateway = {"kind": "gateway-api", "route": "shop"}
    blue_green = lab.runbook("bg.yaml", router=gateway)
    book = lab.runbook(
        "canary.yaml", strategy="canary", weights=[10, 50, 100], pause="0.2s", router=gateway
    )
    v1, v2, v3 = (f"{SERVICE}-v{n}" for n in (1, 2, 3))
    lab.deployed(blue_green, "v1")
    assert lab.route_refs() == [(v1, 100)]
    lab.deployed(blue_green, "v2")
    assert lab.route_refs() == [(v2, 100)]

    mark = len(lab.fake.writes)
    lab.deployed(book, "v3")
    assert [_refs(w) for w in _route_writes(lab.fake.writes[mark:])] == [
        [(v2, 90), (v3, 10)],
        [(v2, 50), (v3, 50)],
        [(v3, 100)],
    ]
    for write in _route_writes(lab.fake.writes):
        assert all(name in write.available for name, _ in _refs(write)), write

    failed = lab.deploy(book, "v4-broken")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert lab.route_refs() == [(v3, 100)]
    assert lab.deployments() == {v2: 0, v3: 2}

    revisions = {r["revision"]: r["version"] for r in lab.json("history") if r["revision"]}
    assert revisions == {1: "v1", 2: "v2", 3: "v3"}
    back = lab.cli("rollback", "-e", ENV, "--to-revision", "2", env=lab.env)
    assert back.returncode == 0, back.stdout + back.stderr
    assert lab.route_refs() == [(v2, 100)]
    # v2 was kept at zero replicas: it was scaled back up before taking traffic.
    assert lab.deployments() == {v2: 2, v3: 0}

    older = lab.cli("rollback", "-e", ENV, "--to-revision", "1", env=lab.env)
    assert older.returncode == 0, older.stdout + older.stderr
    assert lab.route_refs() == [(v1, 100)]
    # v1 had been deleted (beyond retain: 1): it is created again from the template.
    assert lab.deployments() == {v1: 2, v2: 0}

"""Two releases of the same service started at the same moment from two processes, on the
real plane: one proceeds, the other is refused by the (runbook, environment) lock before it
writes anything, and no Deployment is left half-patched. A third writer changes the Service
users reach while the switch runs, so the API server answers 409 Conflict: the router reads
again and retries, and the selector ends on the released version.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.kubelab import NS, SERVICE, VERSION_LABEL, KubeLab, open_kube_lab

pytestmark = pytest.mark.slow


@pytest.fixture
def lab(tmp_path: Path, state_dir: Path) -> Iterator[KubeLab]:
    with open_kube_lab(tmp_path, state_dir) as lab:
        yield lab


def test_two_concurrent_releases_one_proceeds_one_is_refused_nothing_half_done(
    lab: KubeLab,
) -> None:
    book = lab.runbook()
    lab.deployed(book, "v1")
    lab.fake.conflict("services", NS, "shop", times=2)
    first, second = lab.start_deploy(book, "v2"), lab.start_deploy(book, "v3")
    said = {"v2": first.communicate(timeout=180)[0], "v3": second.communicate(timeout=180)[0]}
    codes = {"v2": first.returncode, "v3": second.returncode}
    assert sorted(codes.values()) == [0, 3], (codes, said)
    won = "v2" if codes["v2"] == 0 else "v3"
    lost = "v3" if won == "v2" else "v2"
    assert "lock" in said[lost].lower(), said[lost]

    assert lab.selector()[VERSION_LABEL] == won
    assert lab.deployments() == {f"{SERVICE}-v1": 0, f"{SERVICE}-{won}": 2}
    # The refused run wrote nothing: no Deployment, Service or selector of its version.
    assert not any(f"{SERVICE}-{lost}" in w.path + json.dumps(w.body) for w in lab.fake.writes)
    puts = [r for r in lab.fake.requests if r[0] == "PUT" and r[1].endswith("/services/shop")]
    assert len(puts) >= 3, puts  # two met the concurrent change (409) and were redone
    for deployment in lab.fake.all("deployments", NS):
        version = deployment["metadata"]["labels"][VERSION_LABEL]
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert container["image"] == f"registry.example.com/shop:{version}"
        status = deployment.get("status") or {}
        assert status.get("observedGeneration") == deployment["metadata"]["generation"]
        assert (status.get("availableReplicas") or 0) == deployment["spec"]["replicas"]

"""The Kubernetes product example (``examples/k8s-product.yaml``: a backend and a frontend
Deployment, each behind its own Service) released by ``runwright deploy`` against the test
API server: both move in one run, a frontend whose image cannot be pulled puts the backend
back too, and ``plan`` shows both services' objects."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from tests.conftest import ROOT
from tests.support.kubelab import ENV, NS, VERSION_LABEL, KubeLab, open_kube_lab

pytestmark = pytest.mark.slow

EXAMPLE = ROOT / "examples" / "k8s-product.yaml"
BACKEND, FRONTEND = "shop-backend-production", "shop-frontend-production"


@pytest.fixture
def lab(tmp_path: Path, state_dir: Path) -> Iterator[KubeLab]:
    with open_kube_lab(tmp_path, state_dir) as lab:
        lab.fake.put(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "shop-api", "namespace": NS},
                "spec": {"selector": {"app": "shop"}, "ports": [{"port": 80, "targetPort": 8080}]},
            }
        )
        yield lab


def _runbook(lab: KubeLab) -> Path:
    book = yaml.safe_load(EXAMPLE.read_text())
    book["environments"][ENV].pop("approvals")  # the cluster is under test, not approvals
    path = lab.directory / "product.yaml"
    path.write_text(yaml.safe_dump(book, sort_keys=False))
    return path


def _selected(lab: KubeLab, service: str) -> str:
    svc = lab.fake.get("services", NS, service)
    assert svc is not None
    return str(svc["spec"]["selector"][VERSION_LABEL])


def _deployments(lab: KubeLab, prefix: str) -> dict[str, int]:
    return {
        d["metadata"]["name"]: d["spec"].get("replicas", 1)
        for d in lab.fake.all("deployments", NS)
        if d["metadata"]["name"].startswith(prefix)
    }


def test_backend_and_frontend_release_together_and_roll_back_together(lab: KubeLab) -> None:
    path = _runbook(lab)
    planned = lab.cli("plan", str(path), "-e", ENV, "--version", "v2", env=lab.env)
    assert planned.returncode == 0, planned.stdout + planned.stderr
    assert f"Deployment {NS}/{BACKEND}-v2" in planned.stdout
    assert f"Deployment {NS}/{FRONTEND}-v2" in planned.stdout
    assert f"Service {NS}/shop-api" in planned.stdout
    assert f"Service {NS}/shop " in planned.stdout

    lab.deployed(path, "v1")
    lab.deployed(path, "v2")
    assert (_selected(lab, "shop-api"), _selected(lab, "shop")) == ("v2", "v2")
    assert _deployments(lab, BACKEND) == {f"{BACKEND}-v1": 0, f"{BACKEND}-v2": 2}
    assert _deployments(lab, FRONTEND) == {f"{FRONTEND}-v1": 0, f"{FRONTEND}-v2": 2}

    failed = lab.cli(
        "deploy", str(path), "-e", ENV, "--version", "v3", "--version", "frontend=v3-broken",
        env=lab.env,
    )  # fmt: skip
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert (_selected(lab, "shop-api"), _selected(lab, "shop")) == ("v2", "v2")
    assert _deployments(lab, BACKEND)[f"{BACKEND}-v2"] == 2
    assert _deployments(lab, BACKEND).get(f"{BACKEND}-v3", 0) == 0
    assert _deployments(lab, FRONTEND).get(f"{FRONTEND}-v3-broken", 0) == 0
    run_id = lab.json("history")[0]["id"]
    report = lab.cli("report", str(run_id), env=lab.env).stdout
    assert "| frontend | v2 | v3-broken | start new version (frontend) (failed) | no |" in report
    assert "| backend | v2 | v3 | start new version (backend) | yes |" in report

    back = lab.cli("rollback", "-e", ENV, "--to-revision", "1", env=lab.env)
    assert back.returncode == 0, back.stdout + back.stderr
    assert (_selected(lab, "shop-api"), _selected(lab, "shop")) == ("v1", "v1")
    (env,) = lab.json("environments")
    assert env["versions"] == {"backend": "v1", "frontend": "v1"}

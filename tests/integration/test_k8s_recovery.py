"""Kubernetes releases that go wrong or go back: gateway-api weights and rollback to a
revision, a runwright killed between the writes of a switch, ``plan``, and bad settings.

All against the fake API server, through the real CLI; what is asserted is what a user sees
in the cluster (HTTPRoute backendRefs, Ingress backends and canary weight, Deployments and
their replicas) and on the terminal (exit codes, ``file:line:col``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.kubeapi import Write
from tests.support.kubelab import (
    SERVICE,
    KubeLab,
    canary_weight,
    ingress_service,
    open_kube_lab,
)

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
    book = lab.runbook(
        strategy="canary",
        weights=[10, 50, 100],
        pause="0.2s",
        router={"kind": "gateway-api", "route": "shop"},
    )
    v1, v2, v3 = (f"{SERVICE}-v{n}" for n in (1, 2, 3))
    lab.deployed(book, "v1")
    assert lab.route_refs() == [(v1, 100)]

    mark = len(lab.fake.writes)
    lab.deployed(book, "v2")
    assert [_refs(w) for w in _route_writes(lab.fake.writes[mark:])] == [
        [(v1, 90), (v2, 10)],
        [(v1, 50), (v2, 50)],
        [(v2, 100)],
    ]
    for write in _route_writes(lab.fake.writes):
        assert all(name in write.available for name, _ in _refs(write)), write

    lab.deployed(book, "v3")
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


def test_a_kill_between_the_writes_of_a_switch_resumes_to_exactly_one_version(
    lab: KubeLab,
) -> None:
    book = lab.runbook(router={"kind": "ingress-nginx", "ingress": "shop"})
    v1, v2 = f"{SERVICE}-v1", f"{SERVICE}-v2"
    lab.deployed(book, "v1")
    assert ingress_service(lab.ingress()) == v1

    proc: list[int] = []

    def first_write_of_the_switch(write: Write) -> bool:
        return canary_weight(write.result) == "100" and ingress_service(write.result) == v2

    lab.fake.kill_after(first_write_of_the_switch, lambda: proc[0] if proc else None)
    deploy = lab.start_deploy(book, "v2")
    proc.append(deploy.pid)
    deploy.communicate(timeout=120)
    assert deploy.returncode == -9
    # Killed half-way: the canary Ingress sends everything to v2, the main one still to v1.
    assert canary_weight(lab.ingress("shop-canary")) == "100"
    assert ingress_service(lab.ingress()) == v1

    run_id = lab.json("history")[0]["id"]
    resumed = lab.cli("resume", str(run_id), env=lab.env)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert ingress_service(lab.ingress()) == v2
    assert canary_weight(lab.ingress("shop-canary")) == "0"
    assert lab.deployments() == {v1: 0, v2: 2}


def _line_of(path: Path, key: str) -> int:
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if re.match(rf"\s*{key}:", line):
            return number
    raise AssertionError(f"{key} not in {path}")


def test_plan_prints_the_objects_and_patches_and_sends_nothing(lab: KubeLab) -> None:
    book = lab.runbook()
    lab.deployed(book, "v1")
    writes = len(lab.fake.writes)
    shown = lab.cli("plan", str(book), "-e", ENV, "--version", "v2", env=lab.env)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    text = shown.stdout
    assert "not executed" in text
    assert f"POST apps/v1 Deployment shop/{SERVICE}-v2" in text
    assert "image: registry.example.com/shop:v2" in text
    assert "runwright.dev/version: v2" in text
    assert f"POST v1 Service shop/{SERVICE}-v2" in text
    assert 'PUT v1 Service shop/shop (with its resourceVersion) changing {"spec": {"selector"' in (
        text
    )
    assert f"PATCH apps/v1 Deployment shop/{SERVICE}-v1 (merge)" in text
    assert len(lab.fake.writes) == writes


@pytest.mark.parametrize(
    ("change", "key", "message"),
    [
        ({"context": "staging-cluster"}, "context", "has no context 'staging-cluster'"),
        ({"template": "k8s/missing.yaml"}, "template", "cannot read the template"),
        ({"namespace": "shopp"}, "namespace", "namespace 'shopp' does not exist"),
    ],
)
def test_bad_driver_settings_exit_2_at_their_line(
    lab: KubeLab, change: dict[str, str], key: str, message: str
) -> None:
    book = lab.runbook("bad.yaml", driver=change)
    for command in ("deploy", "plan"):
        done = lab.cli(command, str(book), "-e", ENV, "--version", "v1", env=lab.env)
        assert done.returncode == 2, done.stdout + done.stderr
        line = _line_of(book, key)
        assert re.search(rf"bad\.yaml:{line}:\d+: service\.driver\.{key}: ", done.stderr), (
            done.stderr
        )
        assert message in done.stderr
        assert "Traceback" not in done.stderr
    assert lab.fake.writes == []

"""Kubernetes releases that go wrong: a runwright killed between the writes of a switch,
``plan``, and bad settings.

All against the real control plane, through the real CLI; what is asserted is what a user sees
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
    NS,
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
    ns = NS
    assert f"POST apps/v1 Deployment {ns}/{SERVICE}-v2" in text
    assert "image: registry.example.com/shop:v2" in text
    assert "runwright.dev/version: v2" in text
    assert f"POST v1 Service {ns}/{SERVICE}-v2" in text
    switch = f'PUT v1 Service {ns}/shop (with its resourceVersion) changing {{"spec": {{"selector"'
    assert switch in text
    assert f"PATCH apps/v1 Deployment {ns}/{SERVICE}-v1 (merge)" in text
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


def test_a_template_that_expands_through_aliases_is_refused_at_its_line(lab: KubeLab) -> None:
    bomb = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    bomb += [
        f"{c}: &{c} [{', '.join(['*' + p] * 10)}]" for p, c in zip("abcdef", "bcdefg", strict=True)
    ]
    (lab.directory / "k8s").mkdir(exist_ok=True)
    (lab.directory / "k8s" / "bomb.yaml").write_text("\n".join(bomb) + "\n")
    book = lab.runbook("bomb-book.yaml", driver={"template": "k8s/bomb.yaml"})
    done = lab.cli("plan", str(book), "-e", ENV, "--version", "v1", env=lab.env)
    assert done.returncode == 2, done.stdout + done.stderr
    line = _line_of(book, "template")
    assert re.search(rf"bomb-book\.yaml:{line}:\d+: service\.driver\.template: ", done.stderr)
    assert re.search(r"bomb\.yaml:\d+:\d+: this document expands to more than", done.stderr)
    assert "Traceback" not in done.stderr
    assert lab.fake.writes == []


@pytest.mark.parametrize(
    ("kind", "key", "what"),
    [
        ("service-selector", "service", "Service"),
        ("ingress-nginx", "ingress", "Ingress"),
    ],
)
def test_a_router_naming_a_missing_object_exits_2_at_its_line(
    lab: KubeLab, kind: str, key: str, what: str
) -> None:
    book = lab.runbook("bad.yaml", router={"kind": kind, key: "nowhere"})
    line = next(
        n for n, text in enumerate(book.read_text().splitlines(), 1) if f"{key}: nowhere" in text
    )
    done = lab.cli("deploy", str(book), "-e", ENV, "--version", "v1", env=lab.env)
    assert done.returncode == 2, done.stdout + done.stderr
    assert re.search(rf"bad\.yaml:{line}:\d+: service\.router\.{key}: ", done.stderr), done.stderr
    assert f"{what} {NS}/nowhere does not exist" in done.stderr
    assert "Traceback" not in done.stderr
    assert lab.fake.writes == []

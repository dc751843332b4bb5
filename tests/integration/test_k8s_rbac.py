"""The Role documented in docs/drivers.md is what runwright needs, proven on the real plane.

The lab's service account is bound to exactly that Role (read from the document): a release,
a second one and a rollback to the first revision go through with it. With one verb taken
away the API server refuses the write that needs it, and the run says which verb on which
resource was refused, and leaves traffic where it was.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.kubelab import (
    NS,
    SERVICE,
    VERSION_LABEL,
    KubeLab,
    documented_role,
    grant,
    open_kube_lab,
)

pytestmark = pytest.mark.slow
ENV = "production"


@pytest.fixture
def lab(tmp_path: Path, state_dir: Path) -> Iterator[KubeLab]:
    with open_kube_lab(tmp_path, state_dir) as lab:
        yield lab


def test_the_documented_role_releases_and_rolls_back(lab: KubeLab) -> None:
    book = lab.runbook()
    lab.deployed(book, "v1")
    lab.deployed(book, "v2")
    assert lab.selector()[VERSION_LABEL] == "v2"
    back = lab.cli("rollback", "-e", ENV, "--to-revision", "1", env=lab.env)
    assert back.returncode == 0, back.stdout + back.stderr
    assert lab.selector()[VERSION_LABEL] == "v1"
    assert lab.deployments() == {f"{SERVICE}-v1": 2, f"{SERVICE}-v2": 0}


@pytest.mark.parametrize(
    ("resource", "verb", "refused"),
    [
        ("services", "update", 'cannot update resource "services"'),
        ("deployments", "create", 'cannot create resource "deployments" in API group "apps"'),
    ],
)
def test_without_one_verb_the_run_names_the_verb_and_the_resource(
    lab: KubeLab, resource: str, verb: str, refused: str
) -> None:
    book = lab.runbook()
    lab.deployed(book, "v1")
    role = copy.deepcopy(documented_role(lab.ns))
    for rule in role["rules"]:
        if rule["resources"] == [resource] and verb in rule["verbs"]:
            rule["verbs"].remove(verb)
    role["rules"] = [rule for rule in role["rules"] if rule["verbs"]]
    grant(lab.fake.admin, lab.ns, role)

    failed = lab.deploy(book, "v2")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    said = failed.stdout + failed.stderr
    assert refused in said, said
    assert f"system:serviceaccount:{NS}:runwright" in said
    assert "Traceback" not in said
    assert lab.selector()[VERSION_LABEL] == "v1"

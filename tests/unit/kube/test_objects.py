"""The objects runwright sends and how it judges a rollout, without a cluster."""

from __future__ import annotations

from typing import Any

import pytest

from runwright.kube.names import dns_label, object_name
from runwright.kube.objects import clone_deployment, ingress_backends, point_ingress, rollout
from runwright.kube.routing import Target, percentages

TEMPLATE: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "shop", "uid": "abc", "resourceVersion": "7", "labels": {"app": "shop"}},
    "spec": {
        "replicas": 3,
        "selector": {"matchLabels": {"app": "shop"}},
        "template": {
            "metadata": {"labels": {"app": "shop"}},
            "spec": {
                "containers": [
                    {"name": "sidecar", "image": "envoy:1"},
                    {"name": "web", "image": "shop:latest"},
                ]
            },
        },
    },
    "status": {"availableReplicas": 3},
}


def test_a_clone_gets_its_name_labels_and_image_and_nothing_of_the_server() -> None:
    labels = {"runwright.dev/service": "shop-prod", "runwright.dev/version": "v2"}
    body = clone_deployment(
        TEMPLATE,
        name="shop-prod-v2",
        namespace="shop",
        labels=labels,
        image="shop:v2",
        container="web",
    )
    assert body["metadata"]["name"] == "shop-prod-v2"
    assert "uid" not in body["metadata"]
    assert "resourceVersion" not in body["metadata"]
    assert "status" not in body
    assert body["spec"]["selector"]["matchLabels"] == {"app": "shop", **labels}
    assert body["spec"]["template"]["metadata"]["labels"] == {"app": "shop", **labels}
    images = [c["image"] for c in body["spec"]["template"]["spec"]["containers"]]
    assert images == ["envoy:1", "shop:v2"]
    assert TEMPLATE["spec"]["template"]["spec"]["containers"][1]["image"] == "shop:latest"


def test_a_clone_names_the_container_it_cannot_find() -> None:
    with pytest.raises(ValueError, match=r"no container 'api' \(it has sidecar, web\)"):
        clone_deployment(TEMPLATE, name="x", namespace="n", labels={}, image="i", container="api")


@pytest.mark.parametrize(
    ("status", "generation", "done", "failed"),
    [
        ({"observedGeneration": 1}, 2, False, False),
        ({"observedGeneration": 2, "updatedReplicas": 1, "availableReplicas": 1}, 2, False, False),
        (
            {"observedGeneration": 2, "updatedReplicas": 3, "replicas": 4, "availableReplicas": 3},
            2,
            False,
            False,
        ),
        (
            {"observedGeneration": 2, "updatedReplicas": 3, "replicas": 3, "availableReplicas": 2},
            2,
            False,
            False,
        ),
        (
            {"observedGeneration": 2, "updatedReplicas": 3, "replicas": 3, "availableReplicas": 3},
            2,
            True,
            False,
        ),
        (
            {
                "observedGeneration": 2,
                "conditions": [{"type": "Progressing", "reason": "ProgressDeadlineExceeded"}],
            },
            2,
            False,
            True,
        ),
    ],
)
def test_rollout_is_judged_as_kubectl_rollout_status_does(
    status: dict[str, Any], generation: int, done: bool, failed: bool
) -> None:
    deployment = {
        "metadata": {"name": "d", "generation": generation},
        "spec": {"replicas": 3},
        "status": status,
    }
    state = rollout(deployment)
    assert (state.done, state.failed) == (done, failed), state.message


def test_names_are_dns_labels() -> None:
    assert object_name("Shop_Prod", "v1.2.3+build") == "shop-prod-v1-2-3-build"
    assert len(dns_label("x" * 100)) == 63


def test_pointing_an_ingress_moves_only_the_backends_of_the_old_service() -> None:
    ingress = {
        "spec": {
            "rules": [
                {
                    "http": {
                        "paths": [
                            {"backend": {"service": {"name": "shop", "port": {"number": 80}}}},
                            {"backend": {"service": {"name": "admin", "port": {"number": 80}}}},
                        ]
                    }
                }
            ]
        }
    }
    moved = point_ingress(ingress, "shop", "shop-v2", 8080)
    assert ingress_backends(moved) == ["shop-v2", "admin"]
    assert ingress_backends(ingress) == ["shop", "admin"]


def test_percentages_sum_to_100_and_drop_zero_weights() -> None:
    table = [Target("v1", "a", 80, 2), Target("v2", "b", 80, 1), Target("v3", "c", 80, 0)]
    assert [(t.version, t.weight) for t in percentages(table)] == [("v1", 67), ("v2", 33)]

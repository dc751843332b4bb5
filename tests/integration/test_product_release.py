"""A product of three services (``examples/product-release.yaml``) released in one run: a
backend canary behind the built-in router, a worker recreated, a frontend blue-green behind
HAProxy calling the backend, under load through both routers. One barrier, one rollback:
a frontend that fails its analysis puts every service back on its previous version, in
reverse dependency order; a revision is the set, and rolling back to one restores all of it.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.support.products import Product, open_product
from tests.support.receivers import Receiver, failing_first, receiver

pytestmark = [
    pytest.mark.slow,
    pytest.mark.haproxy,
    pytest.mark.skipif(shutil.which("haproxy") is None, reason="haproxy not installed"),
]


@pytest.fixture
def hook() -> Iterator[Receiver]:
    with receiver(failing_first(0)) as found:
        yield found


@pytest.fixture
def product(state_dir: Path, free_port: Callable[[], int], hook: Receiver) -> Iterator[Product]:
    with open_product(state_dir, free_port, hook=f"{hook.url}/events") as lab:
        yield lab


def _live(product: Product) -> dict[str, Any]:
    (env,) = product.json("environments")
    return dict(env)


def _owners(product: Product, run_id: int) -> dict[str, Any]:
    """Step name -> the service(s) its audited start names."""
    log = product.json("logs", str(run_id))
    return {
        e["step"]: e["data"].get("service") or e["data"].get("services")
        for e in log["events"]
        if e["type"] == "step.started"
    }


def _undone(product: Product, run_id: int) -> list[str]:
    """The steps undone by a run's rollback, in the order they were undone."""
    log = product.json("logs", str(run_id))
    return [e["step"] for e in log["events"] if e["type"] == "undo.succeeded"]


def test_a_product_releases_under_load_through_both_routers_with_no_failed_request(
    product: Product, hook: Receiver
) -> None:
    product.deployed("v1")
    assert "hello from v1 (upstream v1)" in product.home()
    backend, frontend = product.load("backend", "/version"), product.load("frontend", "/")

    done = product.deploy("v2")
    seen_backend, seen_frontend = backend.stop(), frontend.stop()

    assert done.returncode == 0, done.stdout + done.stderr
    assert seen_backend["failures"] == 0, seen_backend["errors"]
    assert seen_frontend["failures"] == 0, seen_frontend["errors"]
    assert seen_backend["versions"].keys() == {"v1", "v2"}
    assert seen_frontend["versions"].keys() == {"v1", "v2"}
    assert seen_backend["requests"] >= 200
    assert seen_frontend["requests"] >= 200
    live = _live(product)
    assert live["versions"] == {"backend": "v2", "worker": "v2", "frontend": "v2"}
    assert live["revision"] == 2
    for service in ("backend", "worker", "frontend"):
        assert product.running(service) == ["v2"], service
    assert product.served("backend") == {"v2": 20}
    assert product.served("frontend") == {"v2": 20}
    assert "hello from v2 (upstream v2)" in product.home()
    texts = [b.decode() for b in hook.bodies()]
    assert any("backend v2, frontend v2, worker v2 are live in local" in t for t in texts), texts


def test_a_failing_frontend_puts_every_service_back_in_reverse_dependency_order(
    product: Product, hook: Receiver
) -> None:
    product.deployed("v1")
    backend, frontend = product.load("backend", "/version"), product.load("frontend", "/")
    product.deployed("v2")  # the backend's canary is judged on user traffic: there is some

    done = product.deploy("v3", var=("frontend_error_rate=1",))
    seen_backend, seen_frontend = backend.stop(), frontend.stop()

    assert done.returncode == 1, done.stdout + done.stderr
    assert "step 'frontend: bake' failed" in done.stdout + done.stderr
    assert seen_backend["failures"] == 0, seen_backend["errors"]
    # the only failures users saw were the faulty frontend's own answers (500 from v3)
    assert seen_frontend["errors"].keys() == {"http 500"}
    assert seen_frontend["failures"] == seen_frontend["statuses"]["500"] > 0
    for service in ("backend", "worker", "frontend"):
        assert product.running(service) == ["v2"], service
    assert product.served("backend") == {"v2": 20}
    assert product.served("frontend") == {"v2": 20}
    assert _live(product)["versions"] == {"backend": "v2", "worker": "v2", "frontend": "v2"}

    (run,) = [r for r in product.json("history") if r["version"] == "v3"]
    undone = _undone(product, run["id"])
    assert undone.index("frontend: switch traffic") < undone.index("worker: start new version")
    assert undone.index("worker: start new version") < undone.index("backend: switch traffic")
    assert undone.index("backend: canary 10%") < undone.index("start new version (backend)")
    assert undone[-1] == "start new version (backend)"

    owners = _owners(product, run["id"])
    assert owners["frontend: bake"] == "frontend"
    assert owners["backend: canary 10%"] == "backend"
    assert owners["start new version (backend)"] == ["backend"]
    report = product.cli("report", str(run["id"])).stdout
    assert "Outcome:** ROLLED BACK" in report
    assert "step 'frontend: bake' failed" in report
    assert "| frontend | v2 | v3 | bake (failed) | yes |" in report
    assert "| worker | v2 | v3 | start new version | yes |" in report
    assert "| backend | v2 | v3 | switch traffic | yes |" in report
    texts = [b.decode() for b in hook.bodies()]
    rolled = [t for t in texts if "rolled back" in t]
    assert rolled
    assert "backend v3, frontend v3, worker v3 were rolled back" in rolled[-1]
    assert "frontend: bake" in rolled[-1]


def test_rollback_to_revision_1_restores_the_set_and_one_service_moves_alone(
    product: Product,
) -> None:
    product.deployed("v1")
    product.load("backend", "/version")  # the backend's canary is judged on user traffic
    product.deployed("v2")

    alone = product.deploy("backend=v4")
    assert alone.returncode == 0, alone.stdout + alone.stderr
    assert "worker:" not in alone.stdout
    assert "frontend:" not in alone.stdout
    assert _live(product)["versions"] == {"backend": "v4", "worker": "v2", "frontend": "v2"}
    assert product.running("backend") == ["v4"]
    assert product.running("worker") == ["v2"]
    assert product.running("frontend") == ["v2"]

    back = product.cli("rollback", "-e", "local", "--to-revision", "1", timeout=180)
    assert back.returncode == 0, back.stdout + back.stderr
    live = _live(product)
    assert live["versions"] == {"backend": "v1", "worker": "v1", "frontend": "v1"}
    for service in ("backend", "worker", "frontend"):
        assert product.running(service) == ["v1"], service
    assert "hello from v1 (upstream v1)" in product.home()
    latest = product.json("history")[0]
    assert latest["kind"] == "rollback"
    assert latest["versions"] == {"backend": "v1", "worker": "v1", "frontend": "v1"}

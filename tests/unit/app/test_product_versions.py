"""Versions of a product: ``--version v2``, ``--version backend=v2`` one by one, the API's
``versions`` mapping; which services a run touches; what is refused with a message."""

from __future__ import annotations

import pytest
from tests.unit.app.conftest import App

from runwright.app.runtime.product import joined, plan_notes, resolve
from runwright.app.runtime.runtime import read_runbook_text
from runwright.errors import InputError, PolicyBlocked
from runwright.model.loader import Runbook
from runwright.model.status import RunStatus

BOOK = """\
name: shop
environments: {local: {}}
services:
  backend: {command: "app --port {{ port }}", router: {listen: "127.0.0.1:8280"}}
  frontend: {after: [backend], command: "web --port {{ port }}",
             router: {listen: "127.0.0.1:8290"}}
  worker: {after: [backend], command: "work --port {{ port }}", release: {strategy: recreate}}
"""


@pytest.fixture(scope="module")
def book() -> Runbook:
    return read_runbook_text(BOOK, "shop.yaml")


def test_one_version_for_every_service_touches_those_that_change(book: Runbook) -> None:
    current = {"backend": "v1", "frontend": "v2", "worker": "v1"}
    versions = resolve(book, "v2", current)
    assert versions.target == {"backend": "v2", "frontend": "v2", "worker": "v2"}
    assert versions.touched == ["backend", "worker"]


def test_a_service_left_out_keeps_its_version_and_is_not_touched(book: Runbook) -> None:
    current = {"backend": "v1", "frontend": "v1", "worker": "v1"}
    versions = resolve(book, joined(("backend=v4",)), current)
    assert versions.target == {"backend": "v4", "frontend": "v1", "worker": "v1"}
    assert versions.touched == ["backend"]
    mixed = resolve(book, joined("v3", {"frontend": "v5"}), current)
    assert mixed.target == {"backend": "v3", "frontend": "v5", "worker": "v3"}


@pytest.mark.parametrize(
    ("given", "current", "message"),
    [
        ("api=v2", {"backend": "v1", "frontend": "v1", "worker": "v1"}, "no service 'api'"),
        ("backend=v2", {"backend": "", "frontend": "", "worker": ""}, "frontend has never"),
        ("v2,v3", {}, "two versions for every service"),
        ("backend=v2,backend=v3", {}, "two versions for service backend"),
        ("backend=", {}, "give a version after '='"),
    ],
)
def test_what_cannot_be_released_is_refused_with_a_message(
    book: Runbook, given: str, current: dict[str, str], message: str
) -> None:
    with pytest.raises(InputError, match=message):
        resolve(book, given, current)


PROMOTED = """
name: shop
environments:
  staging: {}
  production: {requires: staging}
services:
  backend:
    driver: fake
    command: app --port {{ port }}
    router: {kind: fake, listen: "127.0.0.1:9"}
  frontend:
    after: [backend]
    driver: fake
    command: web --port {{ port }}
    router: {kind: fake, listen: "127.0.0.1:10"}
"""


def test_production_takes_only_versions_each_service_had_in_staging(app: App) -> None:
    staged = app.deploy(PROMOTED, "staging", "v1")
    assert staged.status == RunStatus.SUCCEEDED, staged.failure
    assert app.deploy(PROMOTED, "production", "v1").status == RunStatus.SUCCEEDED
    with pytest.raises(PolicyBlocked, match="requires frontend v2 to have succeeded in staging"):
        app.deploy(PROMOTED, "production", "frontend=v2")
    assert app.deploy(PROMOTED, "staging", "frontend=v2").status == RunStatus.SUCCEEDED
    assert app.deploy(PROMOTED, "production", "frontend=v2").status == RunStatus.SUCCEEDED


def test_plan_says_the_order_what_starts_together_and_the_worst_case_to_restore(
    book: Runbook,
) -> None:
    together = read_runbook_text(BOOK.replace("release: {strategy: recreate}", ""), "shop.yaml")
    notes = plan_notes(together, None)
    assert notes[0] == (
        "services, in order: backend (blue_green), frontend (blue_green), worker (blue_green)"
    )
    assert "start at the same time: frontend, worker" in notes
    assert notes[-1].startswith(
        "rollback of the set: traffic back in reverse order (worker, frontend, backend)"
    )
    alone = plan_notes(book, ["worker"])
    assert alone[0] == (
        "services, in order: worker (recreate); not touched (kept on their versions): "
        "backend, frontend"
    )
    assert (
        "worst case 30s to restore every service (worker restarts its previous version)"
        in (alone[-1])
    )

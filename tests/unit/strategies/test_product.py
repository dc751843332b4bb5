"""A product's release as ``plan`` and ``deploy`` see it: starts by dependency level (a level
in one step), smoke per service, traffic moves in dependency order, retires last in reverse,
every step owned by its service; a service left out has no step at all."""

from __future__ import annotations

from runwright.app.plans.expansion import expand
from runwright.app.plans.policy import RollbackScope
from runwright.app.runtime.runtime import read_runbook_text
from runwright.model.schema import Environment

BOOK = """\
name: shop
environments: {local: {}}
phases:
  - name: database
    steps: [{name: migrate, run: ./migrate.sh, undo: ./downgrade.sh}]
services:
  backend:
    command: "app --port {{ port }}"
    router: {listen: "127.0.0.1:8280"}
    release: {strategy: canary, weights: [50, 100], pause: 1s,
              smoke: [{http: {url: "{{ new_url }}/"}}]}
  api:
    command: "api --port {{ port }}"
    router: {listen: "127.0.0.1:8270"}
  worker:
    after: [backend]
    command: "work --port {{ port }}"
    release: {strategy: recreate}
  frontend:
    after: [backend, api]
    command: "web --port {{ port }}"
    router: {kind: haproxy, listen: "127.0.0.1:8290"}
"""


def _names(touched: list[str] | None = None) -> list[tuple[str, str | None, str]]:
    book = read_runbook_text(BOOK, "shop.yaml")
    steps = expand(book, "local", Environment(), touched)
    return [(s.name, s.spec.get("service"), s.phase) for s in steps if s.section == "main"]


def test_a_product_starts_by_level_then_moves_in_order_then_retires_in_reverse() -> None:
    assert [n for n, _, _ in _names()] == [
        "migrate",
        "start new versions (backend, api)",
        "backend: smoke 1",
        "start new version (frontend)",
        "backend: canary 50%",
        "backend: pause at 50%",
        "backend: switch traffic",
        "api: switch traffic",
        "worker: stop previous version (downtime starts)",
        "worker: start new version",
        "frontend: switch traffic",
        "frontend: retire previous version",
        "api: retire previous version",
        "backend: retire previous version",
    ]
    owners = {name: owner for name, owner, _ in _names()}
    assert owners["backend: pause at 50%"] == "backend"
    assert owners["worker: start new version"] == "worker"
    assert owners["migrate"] is None


def test_a_service_left_out_has_no_step() -> None:
    names = [n for n, _, _ in _names(["frontend"])]
    assert names == [
        "migrate",
        "start new version (frontend)",
        "frontend: switch traffic",
        "frontend: retire previous version",
    ]


def test_a_rollback_puts_a_canary_straight_back_at_100_without_pauses() -> None:
    """An emergency rollback does not walk the previous version up the canary's weights again:
    it served all traffic before the release, so every service is switched back at once."""
    book = read_runbook_text(BOOK, "shop.yaml")
    scope = RollbackScope(revision=1, to_previous=True)
    steps = [s for s in expand(book, "local", Environment(), rollback=scope) if s.section == "main"]
    backend = [(s.name, s.spec["kind"]) for s in steps if s.spec.get("service") == "backend"]
    assert ("backend: switch traffic", "traffic") in backend
    assert not any("canary" in name or "pause" in name for name, _ in backend)
    release = [s.name for s in expand(book, "local", Environment()) if s.section == "main"]
    assert "backend: canary 50%" in release
    assert "backend: pause at 50%" in release

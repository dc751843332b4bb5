"""A runbook's ``services:``: what the loader accepts, what it refuses (at the line and
column to fix), and the order in which a product's services start and take traffic."""

from __future__ import annotations

import textwrap

import pytest

from runwright.errors import RunbookError
from runwright.model.loader import Runbook, load_text
from runwright.model.product import levels, order
from runwright.steps.registry import step_kinds

HEAD = """\
name: shop
environments: {local: {}}
"""
BACKEND = """\
  backend:
    command: app --port {{ port }}
    router: {listen: "127.0.0.1:8280"}
    release: {strategy: canary, weights: [50, 100]}
"""
FRONTEND = """\
  frontend:
    after: [backend]
    command: web --port {{ port }}
    router: {kind: haproxy, listen: "127.0.0.1:8290"}
"""
WORKER = """\
  worker:
    after: [backend]
    command: work --port {{ port }}
    release: {strategy: recreate}
"""


def load(body: str) -> Runbook:
    return load_text(HEAD + textwrap.dedent(body), "shop.yaml", step_kinds())


def refused(body: str) -> RunbookError:
    with pytest.raises(RunbookError) as info:
        load(body)
    return info.value


def test_a_product_loads_with_its_services_in_dependency_order() -> None:
    book = load("services:\n" + FRONTEND + WORKER + BACKEND)
    assert list(book.services) == ["frontend", "worker", "backend"]
    assert levels(book.services) == [["backend"], ["frontend", "worker"]]
    assert order(book.services) == ["backend", "frontend", "worker"]
    assert book.services["worker"].router is None
    assert book.services["frontend"].release.strategy == "blue_green"


def test_a_cycle_is_refused_naming_it_at_the_after_entry() -> None:
    body = "services:\n" + BACKEND.replace(
        "    command: app", "    after: [frontend]\n    command: app"
    )
    err = refused(body + FRONTEND)
    assert "backend -> frontend -> backend" in err.message
    assert (err.line, err.column) == (5, 13)


def test_an_unknown_service_in_after_is_refused_with_a_suggestion() -> None:
    err = refused("services:\n" + BACKEND + FRONTEND.replace("[backend]", "[backnd]"))
    assert "unknown service 'backnd'" in err.message
    assert err.hint == "did you mean 'backend'?"
    assert (err.line, err.column) == (9, 13)


def test_two_services_sharing_a_router_are_refused() -> None:
    err = refused("services:\n" + BACKEND + FRONTEND.replace(
        '{kind: haproxy, listen: "127.0.0.1:8290"}', '{listen: "127.0.0.1:8280"}'))  # fmt: skip
    assert "services 'backend' and 'frontend' share a router" in err.message
    assert (err.line, err.column) == (11, 13)


def test_service_and_services_together_are_refused() -> None:
    err = refused('service: {command: "app --port {{ port }}"}\nservices:\n' + BACKEND)
    assert "either service: (one service) or services:" in err.message
    assert err.line == 3


def test_a_top_level_release_beside_services_is_refused() -> None:
    err = refused("release: {strategy: canary}\nservices:\n" + BACKEND)
    assert "each service has its own release" in err.message
    assert err.line == 3


def test_a_canary_without_a_router_is_refused_at_its_strategy() -> None:
    err = refused("services:\n" + WORKER.replace("recreate", "canary").replace(
        "    after: [backend]\n", ""))  # fmt: skip
    assert "a canary needs a router" in err.message
    assert err.line == 6


def test_an_unknown_check_in_a_service_release_is_refused() -> None:
    err = refused("services:\n" + BACKEND.replace("weights: [50, 100]", "pause: 1s, "
                  "analysis: [erors]"))  # fmt: skip
    assert "unknown check 'erors'" in err.message
    assert err.line == 7

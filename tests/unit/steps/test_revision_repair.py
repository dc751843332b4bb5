"""A run that ended without its revision (killed between its last two transactions, before
both became one) is repaired: by ``resume`` of that run, or by the next deploy before it
records its own previous version. Runs that end now get their revision in the transaction
that ends them."""

from __future__ import annotations

from tests.unit.steps.conftest import App

from runwright.model.status import RunStatus

BOOK = """
name: shop
environments:
  staging: {}
phases:
  - name: p
    steps:
      - run: "true"
"""


def ended_without_revision(app: App, version: str) -> int:
    """A run as an older runwright killed at the wrong instant left it: succeeded, no revision."""
    store = app.rt.store
    run_id = store.create_run(
        runbook="shop", environment="staging", version=version, initiator="alice",
        file=str(app.dir / "runbook.yaml"), text=BOOK, digest="d" * 64, params={}, steps=[],
        now=app.clock.now(), created={"version": version},
    )  # fmt: skip
    store.append(
        run_id, actor="alice", type="run.finished", at=app.clock.now(),
        run_values={"status": RunStatus.SUCCEEDED},
    )  # fmt: skip
    assert store.run(run_id).revision is None
    return run_id


def test_resume_records_a_lost_revision(app: App) -> None:
    first = app.deploy(BOOK, version="v1")
    assert first.revision == 1
    lost = ended_without_revision(app, "v2")
    repaired = app.resume(lost)
    assert repaired.revision == 2
    assert [e[0] for e in app.events(lost)][-1] == "revision.recorded"
    assert [(r.number, r.version) for r in app.rt.store.revisions("shop", "staging")] == [
        (2, "v2"),
        (1, "v1"),
    ]


def test_the_next_deploy_repairs_it_before_naming_its_previous_version(app: App) -> None:
    app.deploy(BOOK, version="v1")
    lost = ended_without_revision(app, "v2")
    third = app.deploy(BOOK, version="v3")
    assert app.rt.store.run(lost).revision == 2
    assert third.revision == 3
    assert third.params["previous_version"] == "v2"

"""Decisions on a run whose rollback waits for people: attest acts on what is actually waiting
(in the rollback, not a deploy step left waiting), abort says the rollback still waits (exit 3)
until it has ended, and the lock is held until then and released at the end."""

from __future__ import annotations

import asyncio

from tests.unit.app.conftest import App

from runwright.app.reads import views
from runwright.app.runs import decisions

MANUAL_BOTH_WAYS = """
name: by-hand
phases:
  - name: release
    steps:
      - name: switch traffic by hand
        manual: true
        run: ./switch.sh new
rollback:
  - name: switch traffic back by hand
    manual: true
    run: ./switch.sh previous
"""

MANUAL_UNDO = """
name: undo-by-hand
phases:
  - name: release
    steps:
      - name: open the gates
        run: "true"
        undo: {manual: true, run: ./close-gates.sh}
      - name: smoke
        run: exit 1
"""


def test_abort_then_attest_finishes_the_rollback_not_the_paused_deploy_step(app: App) -> None:
    run = app.deploy(MANUAL_BOTH_WAYS)
    assert views.status(app.rt, run.id).waiting == (
        "deploy waiting for attestation (main step 1: 'switch traffic by hand')"
    )
    aborted = asyncio.run(decisions.abort(app.rt, run.id, "wrong build"))
    assert aborted.exit_code == 3
    assert "rollback waiting for attestation (rollback step 1: 'switch traffic back by hand')" in (
        aborted.message
    )
    assert app.rt.store.lock_holder("by-hand", "default") == run.id
    again = asyncio.run(decisions.abort(app.rt, run.id, "still"))
    assert (again.exit_code, again.run.status) == (3, "awaiting_attestation")

    message = app.as_user("bob").attest(run.id, "switched back")
    assert message.startswith("all items of 'switch traffic back by hand' (rollback phase)")
    final = app.resume(run.id)
    assert final.status == "aborted"
    rows = {r.name: r.status for r in app.rt.store.steps(run.id)}
    assert rows["switch traffic back by hand"] == "succeeded"
    assert app.rt.store.lock_holder("by-hand", "default") is None
    assert views.status(app.rt, run.id).waiting is None


def test_a_manual_undo_waits_for_its_attestation_and_then_counts(app: App) -> None:
    run = app.deploy(MANUAL_UNDO)
    assert run.status == "awaiting_attestation"
    st = views.status(app.rt, run.id)
    assert (st.phase, st.waiting) == (
        "rollback",
        "rollback waiting for attestation (undo of 'open the gates')",
    )
    assert app.resume(run.id).status == "awaiting_attestation", "resume alone waits again"
    message = app.as_user("bob").attest(run.id, "closed them")
    assert message.startswith("all items of undo of 'open the gates' (rollback phase)")
    final = app.resume(run.id)
    assert final.status == "rolled_back"
    gates = next(r for r in app.rt.store.steps(run.id) if r.name == "open the gates")
    assert gates.undo_status == "done"

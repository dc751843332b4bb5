"""An emergency rollback is not held by what holds a deploy: windows and freezes never block
it, the runbook's gates and approval steps are left out, and it needs only the approvals the
environment's ``rollback:`` rules ask for (none to the previous revision by default; to an
older revision, as many as a deploy unless the rules say otherwise)."""

from __future__ import annotations

import asyncio

import pytest
from tests.unit.app.conftest import App

from runwright.app.plans import preview
from runwright.app.runs import runs
from runwright.engine.store import RunRow
from runwright.errors import PolicyBlocked
from runwright.model.status import RunStatus

BOOK = """
name: shop
environments:
  production:
    approvals: {{required: 1}}
    windows: [{{days: [mon], start: "09:00", end: "11:00"}}]
    rollback: {rules}
phases:
  - name: release
    steps:
      - name: checklist
        gate: [release notes written]
      - name: ship
        run: echo {{{{ version }}}} > {live}
"""


def _book(app: App, rules: str = "{}") -> str:
    return BOOK.format(rules=rules, live=app.dir / "live")


def _deployed(app: App, text: str, version: str) -> RunRow:
    """A deploy through its approval (bob's) and its checklist (attested by alice)."""
    run = app.deploy(text, "production", version)
    assert run.status == RunStatus.AWAITING_APPROVAL
    app.as_user("bob").approve(run.id, "ok")
    app.as_user("alice")
    assert app.resume(run.id).status == RunStatus.AWAITING_ATTESTATION
    app.attest(run.id, "written")
    done = app.resume(run.id)
    assert done.status == RunStatus.SUCCEEDED
    return done


def _rollback(app: App, to_revision: int | None = None) -> RunRow:
    return asyncio.run(runs.rollback(app.rt, "production", runbook="shop", to_revision=to_revision))


def test_a_rollback_to_the_previous_revision_waits_on_nobody_and_no_window(app: App) -> None:
    text = _book(app)
    for version in ("v1", "v2"):
        _deployed(app, text, version)
    app.clock.advance(3 * 3600)  # 13:00: outside the window
    with pytest.raises(PolicyBlocked, match="outside production's deployment windows"):
        app.deploy(text, "production", "v3")
    back = _rollback(app)
    assert back.status == RunStatus.SUCCEEDED
    assert (app.dir / "live").read_text() == "v1\n"
    kinds = [s.kind for s in app.rt.store.steps(back.id)]
    assert "approval" not in kinds
    assert "gate" not in kinds
    rp = asyncio.run(preview.plan_rollback(app.rt, "production", "shop", None))
    assert any(
        "a rollback to the previous revision needs no approval (production's rollback rules); "
        "deployment windows and freezes do not apply; left out (they wait on people): "
        "checklist" in note
        for note in rp.plan.notes
    )


def test_rollback_rules_can_ask_for_approvals(app: App) -> None:
    text = _book(app, "{approvals: 1}")
    for version in ("v1", "v2"):
        _deployed(app, text, version)
    back = _rollback(app)
    assert back.status == RunStatus.AWAITING_APPROVAL
    waiting = [s for s in app.rt.store.steps(back.id) if s.kind == "approval"]
    assert "rollback of production to revision 1" in (waiting[0].summary or "")
    app.as_user("bob").approve(back.id, "go back")
    assert app.as_user("alice").resume(back.id).status == RunStatus.SUCCEEDED


@pytest.mark.parametrize(
    ("rules", "expected"),
    [("{}", RunStatus.AWAITING_APPROVAL), ("{approvals_to_earlier: 0}", RunStatus.SUCCEEDED)],
)
def test_an_older_revision_needs_a_deploys_approvals_unless_the_rules_say(
    app: App, rules: str, expected: RunStatus
) -> None:
    text = _book(app, rules)
    for version in ("v1", "v2", "v3"):
        _deployed(app, text, version)
    back = _rollback(app, to_revision=1)
    assert back.status == expected
    assert (app.dir / "live").read_text() == ("v1\n" if expected == RunStatus.SUCCEEDED else "v3\n")

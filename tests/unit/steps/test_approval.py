"""``approval``: the policy (how many, not the initiator, allowed people, expiry) is applied
when the step runs, so an approval that no longer counts cannot slip through."""

from __future__ import annotations

from datetime import timedelta

import pytest
from tests.unit.steps.conftest import App, Harness

from runwright.errors import InputError
from runwright.steps.approval import KIND, ApprovalParams, policy_text, refusal, valid_approvals
from runwright.steps.base import PlanContext
from runwright.steps.registry import params_as

POLICY = {"required": 2, "not_by_initiator": True, "expires": "1h"}


async def test_blocks_until_enough_valid_approvals(harness: Harness) -> None:
    ctx = harness.context("approval", POLICY, name="ok to ship")
    first = await KIND.execute(ctx, params_as(ctx.spec, KIND.params))
    assert first.status == "blocked"
    assert first.summary.startswith(
        "waiting for 2 approval(s), not by the initiator, valid for 1h: 0 of 2 so far"
    )
    harness.approve("ok to ship", "bob")
    harness.approve("ok to ship", "alice")
    harness.approve("other gate", "carol")
    assert (await KIND.execute(ctx, params_as(ctx.spec, KIND.params))).data["have"] == 1
    harness.approve("ok to ship", "carol")
    done = await KIND.execute(ctx, params_as(ctx.spec, KIND.params))
    assert done.status == "succeeded"
    assert done.summary == "approved by bob, carol"


async def test_an_expired_approval_does_not_count(harness: Harness) -> None:
    ctx = harness.context("approval", POLICY, name="gate")
    harness.approve("gate", "bob")
    harness.clock.advance(30 * 60)
    harness.approve("gate", "carol")
    harness.clock.advance(31 * 60)
    outcome = await KIND.execute(ctx, params_as(ctx.spec, KIND.params))
    assert outcome.status == "blocked"
    assert outcome.data["have"] == 1
    harness.approve("gate", "bob")
    assert (
        await KIND.execute(ctx, params_as(ctx.spec, KIND.params))
    ).summary == "approved by carol, bob"


@pytest.mark.parametrize(
    ("policy", "user", "existing", "reason"),
    [
        ({}, "alice", [], "alice started this run and cannot approve it"),
        ({"not_by_initiator": False}, "alice", [], None),
        (
            {"approvers": ["bob", "carol"]},
            "dave",
            [],
            "dave is not an allowed approver (bob, carol)",
        ),
        ({"approvers": ["bob"]}, "bob", [], None),
        ({}, "bob", ["bob"], "bob has already approved this run"),
        ({}, "carol", ["bob"], None),
    ],
)
def test_refusal(
    policy: dict[str, object], user: str, existing: list[str], reason: str | None, harness: Harness
) -> None:
    for who in existing:
        harness.approve("g", who)
    why = refusal(ApprovalParams.model_validate(policy), user, "alice", harness.approvals)
    if reason is None:
        assert why is None
    else:
        assert why is not None
        assert why.startswith(reason)


def test_valid_approvals_drop_initiator_strangers_duplicates_and_expired(
    harness: Harness,
) -> None:
    p = ApprovalParams.model_validate({"approvers": ["bob", "carol", "alice"], "expires": "10m"})
    now = harness.clock.now()
    harness.approve("g", "alice", at=now)
    harness.approve("g", "mallory", at=now)
    harness.approve("g", "bob", at=now - timedelta(minutes=11))
    harness.approve("g", "carol", at=now - timedelta(minutes=9))
    harness.approve("g", "carol", at=now)
    harness.approve("g", "bob", kind="attestation", at=now)
    assert [a.user for a in valid_approvals(p, harness.approvals, "alice", now)] == ["carol"]


def test_policy_text() -> None:
    p = ApprovalParams.model_validate(
        {"required": 2, "approvers": ["bob", "carol"], "expires": "4h"}
    )
    assert policy_text(p) == "2 approval(s), not by the initiator, from bob, carol, valid for 4h"
    assert ApprovalParams.model_validate(3).required == 3


APPROVED_ENV = """
name: approved
environments:
  production:
    approvals: {required: 2, not_by_initiator: true, expires: 10m}
phases:
  - name: p
    steps:
      - run: "true"
"""


def test_through_the_app_expired_approvals_must_be_given_again(app: App) -> None:
    run = app.deploy(APPROVED_ENV, "production")
    assert run.status == "awaiting_approval"
    with pytest.raises(InputError, match="alice started this run"):
        app.approve(run.id, "me")
    message = app.as_user("bob").approve(run.id, "ok")
    assert message == "approved by bob (1 of 2)"
    app.clock.advance(11 * 60)
    message = app.as_user("carol").approve(run.id, "ok")
    assert message == "approved by carol (1 of 2)"
    assert app.as_user("alice").resume(run.id).status == "awaiting_approval"
    message = app.as_user("bob").approve(run.id, "still ok")
    assert message.startswith("approved by bob (2 of 2); continue with: runwright resume")
    final = app.as_user("alice").resume(run.id)
    assert final.status == "succeeded"
    approval_step = app.rt.store.steps(run.id)[0]
    assert approval_step.summary == "approved by carol, bob"


async def test_the_message_is_rendered_where_people_read_it(harness: Harness) -> None:
    params = {"required": 1, "message": "AI Shield {{ version }} to {{ environment }}"}
    ctx = harness.context("approval", params, name="ship")
    assert (
        "AI Shield v1 to staging"
        in (await KIND.execute(ctx, params_as(ctx.spec, KIND.params))).summary
    )
    plan = PlanContext({"version": "v9", "environment": "production"}, "production", "v9")
    shown = KIND.describe(KIND.params.model_validate(params), plan)
    assert shown == ["needs 1 approval(s), not by the initiator: AI Shield v9 to production"]

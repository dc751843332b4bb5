"""``wait``: time passing on the run's clock, so a five-minute soak takes no real time."""

from __future__ import annotations

import dataclasses
import time

from tests.unit.steps.conftest import App, Harness

from runwright.steps.base import PlanContext
from runwright.steps.registry import params_as
from runwright.steps.wait import KIND, RESTORED, WaitParams


async def test_a_five_minute_wait_takes_no_real_time(harness: Harness) -> None:
    ctx = harness.context("wait", "5m")
    started = time.monotonic()
    outcome = await KIND.execute(ctx, params_as(ctx.spec, KIND.params))
    assert outcome.status == "succeeded"
    assert outcome.summary == "waited 5m"
    assert harness.clock.monotonic() == 300.0
    assert harness.lines == ["waiting 5m"]
    assert time.monotonic() - started < 1


def test_shorthands_and_reason() -> None:
    assert WaitParams.model_validate(90).duration == 90.0
    assert WaitParams.model_validate("1h30m").duration == 5400.0
    p = WaitParams.model_validate({"duration": "2m", "reason": "cache expiry"})
    ctx = PlanContext({}, "staging", "v1")
    assert KIND.describe(p, ctx) == ["wait 2m: cache expiry"]


def test_a_run_with_a_bake_records_five_minutes_on_its_clock(app: App) -> None:
    started = time.monotonic()
    run = app.deploy(
        """
        name: bake
        phases:
          - name: p
            steps:
              - name: bake
                wait: {duration: 5m, reason: watch errors}
        """
    )
    assert run.status == "succeeded"
    assert time.monotonic() - started < 5
    step = app.rt.store.steps(run.id)[0]
    assert step.started_at is not None
    assert step.finished_at is not None
    assert (step.finished_at - step.started_at).total_seconds() == 300.0
    assert step.summary == "waited 5m"


def test_a_ten_minute_wait_under_a_one_minute_timeout_times_out_after_one_minute(
    app: App,
) -> None:
    run = app.deploy(
        """
        name: bake
        phases:
          - name: p
            steps:
              - name: bake
                wait: 10m
                timeout: 1m
        """
    )
    assert run.status == "rolled_back"
    assert run.failure == "step 'bake' failed: timed out after 60s"
    step = app.rt.store.steps(run.id)[0]
    assert step.status == "failed"
    assert step.summary == "timed out after 60s"
    assert step.started_at is not None
    assert step.finished_at is not None
    assert (step.finished_at - step.started_at).total_seconds() == 60.0


async def test_a_pause_run_again_after_it_put_traffic_back_fails_at_once(
    harness: Harness,
) -> None:
    ctx = harness.context(
        "wait",
        {"duration": "5m", "analysis": ["errors"], "beside": "{{ previous_version }}"},
        variables={"version": "v2", "previous_version": "v1"},
    )
    ctx = dataclasses.replace(
        ctx, step=dataclasses.replace(ctx.step, data={RESTORED: {"v1": 100, "v2": 0}})
    )
    outcome = await KIND.execute(ctx, params_as(ctx.spec, KIND.params))
    assert outcome.status == "failed"
    assert not outcome.retryable
    assert "a check failed before runwright stopped" in outcome.summary
    assert "v1 100%, v2 0%" in outcome.summary
    assert harness.clock.monotonic() == 0.0

"""The analysis step on a fake clock: when it stops, what it stores, when it asks a person."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from runwright.engine.clock import Clock, FakeClock
from runwright.engine.executor import Outcome, RunInfo
from runwright.engine.store import StepRow
from runwright.errors import InputError, ProviderError
from runwright.model.checks import AnyCheck, check_from
from runwright.providers.base import Provider
from runwright.providers.fake import FakeProvider, Scripted
from runwright.steps.analysis import KIND, build_provider, run_analysis
from runwright.steps.analysis_plan import plan_lines
from runwright.steps.base import PlanContext
from runwright.steps.registry import params_as
from runwright.steps.services import StepContext, StepServices
from runwright.steps.wait import KIND as WAIT

ERRORS = "errors{version='v2'}"
LATENCY = 'latency{version="{{ version }}"}'


class Harness:
    """A StepContext whose provider, measurements and output the test can see."""

    def __init__(
        self,
        checks: Mapping[str, Mapping[str, Any]],
        script: Mapping[str, Sequence[Scripted]],
        *,
        params: Mapping[str, Any] | None = None,
        variables: Mapping[str, Any] | None = None,
    ) -> None:
        self.clock = FakeClock()
        self.provider = FakeProvider(self.clock, script=script)
        self.rows: list[Mapping[str, Any]] = []
        self.lines: list[str] = []
        self.events: list[tuple[str, Mapping[str, Any]]] = []
        self.built: list[tuple[str, AnyCheck]] = []
        spec = {"kind": "analysis", "params": dict(params or {}), "checks": dict(checks)}
        self.ctx = StepContext(
            run=RunInfo(7, "shop", "production", "v2", "alice"),
            step=StepRow(
                7,
                "main",
                3,
                "canary",
                "pause",
                "analysis",
                spec,
                "running",
                None,
                1,
                None,
                None,
                None,
                "",
                {},
            ),
            spec=spec,
            attempt=1,
            undo=False,
            clock=self.clock,
            variables={"version": "v2", "previous_version": "v1", **(variables or {})},
            output=self.lines.append,
            approvals=lambda gate: [],
            services=StepServices(provider_factory=self.factory),
            record=lambda type_, data: self.events.append((type_, data)),
            actor="alice",
            attest=lambda gate, item, note: None,
            measured=self.rows.extend,
        )

    def factory(self, name: str, check: AnyCheck, clock: Clock) -> Provider:
        self.built.append((name, check))
        return self.provider

    async def run(self, names: Sequence[str], duration: float, **kw: Any) -> Outcome:
        return await run_analysis(self.ctx, names, duration, **kw)

    def rows_of(self, check: str) -> list[Mapping[str, Any]]:
        return [r for r in self.rows if r["check"] == check]


def typed(checks: Mapping[str, Mapping[str, Any]]) -> dict[str, AnyCheck]:
    return {name: check_from(name, data) for name, data in checks.items()}


def check(query: str = ERRORS, **rules: Any) -> dict[str, Any]:
    return {
        "provider": "prometheus",
        "url": "http://prom:9090",
        "query": query,
        "fail_if": "> 0.01",
        "interval": "10s",
        **rules,
    }


async def test_fails_at_the_deciding_breach_naming_the_values_and_threshold() -> None:
    h = Harness(
        {"error-rate": check(**{"for": "30s"})}, {ERRORS: [0.0, 0.0, 0.2, 0.3, 0.25, 0.4, 0.0]}
    )
    outcome = await h.run(["error-rate"], 600)
    assert outcome.status == "failed"
    assert not outcome.retryable
    # Breaches at 20, 30, 40 and 50 s span 30 s: the check fails at 50 s, not at the 10-minute end.
    assert h.clock.monotonic() == pytest.approx(50)
    assert outcome.summary == "error-rate was 0.2, 0.3, 0.25, 0.4 (> 0.01) for 30s"
    assert outcome.data["check"] == "error-rate"


async def test_failure_limit_tolerates_n_breaches_then_fails_on_the_next() -> None:
    h = Harness(
        {"error-rate": check(failure_limit=2, interval="1s")}, {ERRORS: [0.5, 0.0, 0.5, 0.5]}
    )
    outcome = await h.run(["error-rate"], 60)
    assert outcome.status == "failed"
    assert h.clock.monotonic() == pytest.approx(3)
    assert "more than failure_limit 2" in outcome.summary


async def test_every_measurement_is_stored_with_query_value_condition_and_verdict() -> None:
    h = Harness({"error-rate": check()}, {ERRORS: [0.001, 0.002, 0.0]})
    outcome = await h.run(["error-rate"], 30)
    assert outcome.status == "succeeded"
    assert "error-rate met its condition" in outcome.summary
    rows = h.rows_of("error-rate")
    assert [r["value"] for r in rows] == [0.001, 0.002, 0.0, 0.0]  # at 0, 10, 20 and 30 s
    assert {r["query"] for r in rows} == {ERRORS}
    assert {r["condition"] for r in rows} == {"fail_if > 0.01"}
    assert {r["verdict"] for r in rows} == {"running"}
    assert [r["at"] for r in rows][-1] == datetime(2026, 1, 5, 10, 0, 30, tzinfo=UTC)
    assert not any(r["breached"] for r in rows)


async def test_a_failing_measurement_is_stored_as_breached_and_failed() -> None:
    h = Harness({"error-rate": check()}, {ERRORS: [0.9]})
    await h.run(["error-rate"], 30)
    (row,) = h.rows
    assert row["breached"] is True
    assert row["verdict"] == "failed"
    assert row["value"] == 0.9


async def test_the_restore_runs_at_the_deciding_breach_before_its_row_is_written() -> None:
    h = Harness(
        {"error-rate": check(failure_limit=1, interval="1s")}, {ERRORS: [0.0, 0.5, 0.0, 0.5]}
    )
    seen: list[tuple[float, int]] = []

    async def restore() -> None:
        seen.append((h.clock.monotonic(), len(h.rows)))

    outcome = await h.run(["error-rate"], 60, restore=restore)
    assert outcome.status == "failed"
    assert seen == [(pytest.approx(3), 3)]  # the readings at 0, 1 and 2 s, not the deciding one
    assert h.rows[-1]["verdict"] == "failed"


async def test_no_data_pauses_for_a_person_and_keeps_measuring_to_the_end() -> None:
    h = Harness({"error-rate": check()}, {ERRORS: [None, 0.0]})
    outcome = await h.run(["error-rate"], 30)
    assert outcome.status == "blocked"
    assert outcome.blocked_on == "awaiting_decision"
    assert "error-rate returned no data" in outcome.summary
    assert "runwright abort 7" in outcome.summary
    assert len(h.rows) == 4
    assert h.events == [("analysis.paused", {"check": "error-rate", "reason": h.rows[0]["detail"]})]


async def test_a_paused_check_still_fails_on_a_clear_breach() -> None:
    h = Harness({"error-rate": check()}, {ERRORS: [None, 0.5]})
    outcome = await h.run(["error-rate"], 30)
    assert outcome.status == "failed"
    assert h.clock.monotonic() == pytest.approx(10)


async def test_no_data_fail_policy_fails() -> None:
    h = Harness({"error-rate": check(no_data="fail")}, {ERRORS: [None]})
    outcome = await h.run(["error-rate"], 30)
    assert outcome.status == "failed"
    assert "no_data: fail" in outcome.summary


async def test_provider_errors_fail_after_the_consecutive_limit() -> None:
    down = ProviderError("cannot reach Prometheus at http://prom:9090: connection refused")
    h = Harness({"error-rate": check(consecutive_error_limit=1)}, {ERRORS: [down]})
    outcome = await h.run(["error-rate"], 300)
    assert outcome.status == "failed"
    assert h.clock.monotonic() == pytest.approx(10)
    assert "could not be measured 2 times in a row" in outcome.summary
    assert "connection refused" in h.rows[0]["detail"]


async def test_draft_checks_are_refused_before_measuring() -> None:
    draft = {"draft": True, "line": 12, "metric": "error rate", "fail_if": "> 1%", "for": "5m"}
    h = Harness({"Error-Rate-rollback": draft}, {})
    outcome = await h.run(["Error-Rate-rollback"], 60)
    assert outcome.status == "failed"
    assert not outcome.retryable
    assert "check Error-Rate-rollback is a draft: confirm it" in outcome.summary
    assert h.provider.calls == []
    assert h.rows == []


async def test_unknown_check_is_refused_with_the_declared_names() -> None:
    h = Harness({"error-rate": check()}, {})
    outcome = await h.run(["eror-rate"], 60)
    assert outcome.status == "failed"
    assert "unknown check 'eror-rate'" in outcome.summary
    assert "error-rate" in outcome.summary


async def test_queries_are_rendered_with_the_step_variables_and_checks_run_side_by_side() -> None:
    h = Harness(
        {"error-rate": check(interval="5s"), "latency": check(LATENCY, fail_if="> 0.5")},
        {ERRORS: [0.0], 'latency{version="v2"}': [0.1, 0.1, 0.9]},
    )
    outcome = await h.run(["error-rate", "latency"], 60)
    assert outcome.status == "failed"
    assert outcome.summary.startswith("latency was 0.9 (> 0.5)")
    assert h.clock.monotonic() == pytest.approx(20)
    assert len(h.rows_of("error-rate")) == 5  # at 0, 5, 10, 15, 20 s
    assert h.built[1][1].query == 'latency{version="v2"}'


async def test_wait_with_analysis_runs_under_watch_and_plain_wait_just_waits() -> None:
    h = Harness({"error-rate": check()}, {ERRORS: [0.0, 0.5]})
    h.ctx.spec = {**h.ctx.spec, "params": {"duration": 60, "analysis": ["error-rate"]}}
    outcome = await WAIT.execute(h.ctx, WAIT.params.model_validate(h.ctx.params))
    assert outcome.status == "failed"
    assert h.clock.monotonic() == pytest.approx(10)
    h.ctx.spec = {**h.ctx.spec, "params": {"duration": 60}}
    assert (
        await WAIT.execute(h.ctx, WAIT.params.model_validate(h.ctx.params))
    ).status == "succeeded"
    assert h.clock.monotonic() == pytest.approx(70)


async def test_the_analysis_step_kind_reads_its_params() -> None:
    h = Harness(
        {"error-rate": check()},
        {ERRORS: [0.0]},
        params={"checks": ["error-rate"], "duration": "20s"},
    )
    outcome = await KIND.execute(h.ctx, params_as(h.ctx.spec, KIND.params))
    assert outcome.status == "succeeded"
    assert len(h.rows) == 3
    params = KIND.params.model_validate({"checks": ["error-rate"], "duration": "5m"})
    lines = KIND.describe(params, PlanContext({}, "production", "v2"))
    assert lines == ["analyse error-rate for 5m; roll back as soon as one fails"]


def test_plan_lines_give_the_worst_case_time_from_a_fault_to_rollback() -> None:
    checks = {"error-rate": check(**{"for": "30s"}), "p95": check(failure_limit=2, interval="1m")}
    lines, worst = plan_lines(["error-rate", "p95"], typed(checks))
    assert worst == 180  # p95: 3 breaches, one minute apart, after a fault just after a reading
    assert "worst case 40s from a fault to the start of rollback" in lines[0]
    assert "worst case 3m from a fault" in lines[1]


def test_unknown_provider_is_an_input_error() -> None:
    with pytest.raises(InputError, match="unknown provider 'graphite'"):
        build_provider(
            "x", check_from("x", {"provider": "graphite", "url": "http://g"}), FakeClock()
        )


# --- baseline comparison ---------------------------------------------------------------------

STABLE = 'latency{version="v1"}'
CANARY = 'latency{version="v2"}'


def _jitter(center: float, n: int) -> list[Scripted]:
    return [center * (1 + 0.01 * ((i * 7) % 11 - 5)) for i in range(n)]


def baseline_check(**rules: Any) -> dict[str, Any]:
    return check(LATENCY, fail_if="> 5", interval="1s", min_samples=10, **rules)


async def test_baseline_flags_a_canary_whose_latency_doubled() -> None:
    h = Harness({"latency": baseline_check()}, {STABLE: _jitter(0.1, 40), CANARY: _jitter(0.2, 40)})
    outcome = await h.run(["latency"], 20, compare="baseline")
    assert outcome.status == "failed"
    assert outcome.summary.startswith("latency: significantly higher")
    assert "canary median 0.2 vs baseline 0.1" in outcome.summary
    assert "p=" in outcome.summary
    assert len(h.rows_of("latency (baseline)")) == 21
    verdict = h.rows_of("latency")[-1]
    assert verdict["verdict"] == "failed"
    assert verdict["value"] < 0.05


async def test_baseline_passes_an_unchanged_canary() -> None:
    h = Harness(
        {"latency": baseline_check()}, {STABLE: _jitter(0.1, 40), CANARY: _jitter(0.1, 40)[3:]}
    )
    outcome = await h.run(["latency"], 20, compare="baseline")
    assert outcome.status == "succeeded"
    assert "latency: no significant difference" in outcome.summary


async def test_baseline_pauses_with_too_few_samples() -> None:
    h = Harness({"latency": baseline_check()}, {STABLE: _jitter(0.1, 40), CANARY: _jitter(0.4, 40)})
    outcome = await h.run(["latency"], 5, compare="baseline")
    assert outcome.status == "blocked"
    assert outcome.blocked_on == "awaiting_decision"
    assert "too few samples to compare (n=6/6, need 10 each)" in outcome.summary


async def test_baseline_refuses_a_check_that_reads_the_same_thing_for_both_versions() -> None:
    h = Harness({"errors": check(fail_if="> 5")}, {ERRORS: [0.0]})
    outcome = await h.run(["errors"], 20, compare="baseline")
    assert outcome.status == "failed"
    assert "nothing to compare" in outcome.summary


async def test_first_release_has_no_baseline_and_is_judged_by_its_threshold_alone() -> None:
    h = Harness({"latency": baseline_check()}, {CANARY: [0.1]}, variables={"previous_version": ""})
    outcome = await h.run(["latency"], 3, compare="baseline")
    assert outcome.status == "succeeded"
    assert any("no stable version to compare with" in line for line in h.lines)


# --- runbooks: load-time names, plan-time worst case, drafts ---------------------------------

RUNBOOK = """\
name: shop
environments: {production: {}}
service: {command: "python3 -m runwright.demo --port {{ port }} --version {{ version }}"}
checks:
  error-rate:
    provider: scrape
    url: "{{ new_url }}/metrics"
    query: rate(demo_requests_total{status=~"5.."}) / rate(demo_requests_total)
    fail_if: "> 5%"
    interval: 10s
    for: 30s
  Error-Rate-rollback: {draft: true, line: 40, metric: error rate, fail_if: "> 1%"}
release:
  strategy: canary
  weights: [10, 100]
  pause: 5m
  analysis: [ANALYSIS]
"""


def _load(analysis: str) -> Any:
    from runwright.model.loader import load_text
    from runwright.steps.registry import step_kinds

    return load_text(RUNBOOK.replace("ANALYSIS", analysis), "shop.yaml", step_kinds())


def test_an_unknown_check_name_is_a_load_error_at_its_line_with_a_hint() -> None:
    from runwright.errors import RunbookError

    with pytest.raises(RunbookError) as caught:
        _load("error-rat")
    assert caught.value.location == "shop.yaml:17:14"
    assert "unknown check 'error-rat'" in str(caught.value)
    assert "did you mean 'error-rate'?" in str(caught.value)


def test_plan_shows_the_worst_case_time_from_a_fault_to_rollback() -> None:
    from runwright.app.plans.expansion import build_plan

    book = _load("error-rate")
    plan = build_plan(
        book,
        "production",
        book.environments["production"],
        "v2",
        {"version": "v2", "previous_version": "v1", "new_url": "<new url>"},
    )
    pause = next(s for s in plan.steps if s.name == "pause at 10%")
    assert pause.worst_case_abort_seconds == 40
    assert pause.lines[0] == "wait 5m: hold at 10%, under analysis of error-rate"
    assert pause.lines[1].startswith("check error-rate: fail_if > 0.05 on scrape 'rate(")
    assert "worst case 40s from a fault to the start of rollback" in pause.lines[1]
    assert plan.notes == [
        "analysis of error-rate: worst case 40s from a fault to the start of rollback "
        "(pause at 10%)"
    ]


def test_a_release_watched_by_a_draft_check_is_refused_before_it_starts() -> None:
    from runwright.app.plans.expansion import expand
    from runwright.errors import InputError

    book = _load("Error-Rate-rollback")
    with pytest.raises(InputError, match="check Error-Rate-rollback is a draft: confirm it"):
        expand(book, "production", book.environments["production"])


async def test_a_checks_own_compare_applies_unless_the_step_says_none() -> None:
    checks = {"latency": baseline_check(compare="baseline")}
    scripted = {STABLE: _jitter(0.1, 40), CANARY: _jitter(0.2, 40)}
    compared = await Harness(checks, scripted).run(["latency"], 20)
    assert compared.status == "failed"
    assert compared.summary.startswith("latency: significantly higher")
    baked = Harness(checks, scripted)
    outcome = await baked.run(["latency"], 20, compare="none")
    assert outcome.status == "succeeded"
    assert baked.rows_of("latency (baseline)") == []
    lines, _ = plan_lines(["latency"], typed(checks), compare="none")
    assert not any("compared with the stable version" in line for line in lines)
    lines, _ = plan_lines(["latency"], typed(checks))
    assert any("compared with the stable version" in line for line in lines)


class LateClock(FakeClock):
    """Every sleep wakes 30 ms late, as a loaded machine's timers do."""

    async def sleep(self, seconds: float, *, background: bool = False) -> None:
        await super().sleep(seconds + 0.03, background=background)


async def test_late_wakeups_do_not_add_up_and_cost_the_window_its_last_reading() -> None:
    h = Harness({"error-rate": check(interval="1s")}, {ERRORS: [0.0] * 20})
    h.ctx = dataclasses.replace(h.ctx, clock=LateClock())
    outcome = await h.run(["error-rate"], 10)
    assert outcome.status == "succeeded"
    assert len(h.rows_of("error-rate")) == 11


class OnceLateClock(FakeClock):
    """The first sleep wakes 300 ms late; the others on time."""

    def __init__(self) -> None:
        super().__init__()
        self.sleeps = 0

    async def sleep(self, seconds: float, *, background: bool = False) -> None:
        self.sleeps += 1
        await super().sleep(seconds + (0.3 if self.sleeps == 1 else 0.0), background=background)


async def test_a_late_reading_is_judged_at_its_scheduled_time_and_stored_at_its_real_one() -> None:
    # The streak starts with the late reading (taken at 1.3 s) and its 4th breach is taken at
    # 4 s: 2.7 s apart in real time, 3 s on the schedule, so for: 3s fails there.
    h = Harness({"error-rate": check(interval="1s", **{"for": "3s"})}, {ERRORS: [0.0] + [0.2] * 19})
    h.ctx = dataclasses.replace(h.ctx, clock=OnceLateClock())
    outcome = await h.run(["error-rate"], 10)
    assert outcome.status == "failed"
    assert outcome.summary == "error-rate was 0.2, 0.2, 0.2, 0.2 (> 0.01) for 3s"
    rows = h.rows_of("error-rate")
    taken = [(r["at"] - rows[0]["at"]).total_seconds() for r in rows]
    assert taken == pytest.approx([0.0, 1.3, 2.0, 3.0, 4.0])

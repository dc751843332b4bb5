"""Turn a runbook into the exact list of steps a run will take, and show it without acting.

The same expansion feeds ``plan`` and ``deploy``, so what ``plan`` prints is what ``deploy``
does: environment approvals become a leading approval step, release strategies expand into
their steps, and the rollback plan is listed with every undo in the order it would run.
A step under analysis carries the definitions of its checks in its spec (journaled with the
run), and the plan shows each check's worst-case time from a fault to the start of rollback
(for a sequential check: the expected requests and time to a verdict at the traffic the
router counted just before, ``recent_traffic``, or "unknown traffic").
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from runwright.app.plans.policy import RollbackScope, rollback_approvals
from runwright.app.plans.schema_rollback import bring_schema
from runwright.app.runtime.product import check_versions, plan_notes
from runwright.engine.clock import Clock, SystemClock
from runwright.engine.sequential import Traffic, is_sequential
from runwright.engine.store import NewStep
from runwright.errors import DriverError, InputError, RunbookError
from runwright.model.checks import AnyCheck, stored
from runwright.model.durations import format_duration
from runwright.model.loader import Runbook
from runwright.model.release import ReleaseSpec
from runwright.model.schema import Environment, Step
from runwright.model.templating import Placeholder
from runwright.routers.base import Router
from runwright.steps.analysis import (
    check_rules,
    definitions,
    render_check,
    stored_checks,
)
from runwright.steps.analysis_plan import plan_lines
from runwright.steps.base import PlanContext
from runwright.steps.registry import describe, with_self_undo
from runwright.steps.services import StepServices
from runwright.steps.wait import nothing_beside
from runwright.strategies.base import NEW

PEOPLE = frozenset({"approval", "gate"})
"""Step kinds that wait on people: a rollback run leaves the runbook's own out (its
environment's ``rollback:`` rules say what approvals it needs instead)."""


def expand(
    runbook: Runbook,
    env_name: str,
    env: Environment,
    touched: Collection[str] | None = None,
    rollback: RollbackScope | None = None,
) -> list[NewStep]:
    """The run's steps; of a product's services only the ``touched`` ones (None: all); a
    rollback's approvals by the environment's rollback rules, without the runbook's gates."""
    steps: list[NewStep] = []
    a = env.approvals if rollback is None else rollback_approvals(env, rollback)
    if a is not None:
        message = (
            f"deploy to {env_name}"
            if rollback is None
            else f"rollback of {env_name} to revision {rollback.revision}"
        )
        step = Step(
            name=f"approval for {env_name}",
            kind="approval",
            params={
                "required": a.required,
                "not_by_initiator": a.not_by_initiator,
                "expires": a.expires,
                "approvers": a.approvers,
                "message": message,
            },
        )
        steps.append(_new("main", len(steps), "approval", step, {}))
    if rollback is not None:
        runbook = straight_back(runbook)
    for phase, step in _main_steps(runbook, env_name, touched):
        if rollback is not None and step.kind in PEOPLE:
            continue
        steps.append(_new("main", len(steps), phase, step, runbook.checks))
    for step in runbook.rollback:
        if step.runs_in(env_name):
            n = sum(s.section == "rollback" for s in steps)
            steps.append(_new("rollback", n, "rollback", step, runbook.checks))
    if rollback is not None:
        steps = bring_schema(steps, rollback.revision, rollback.schema, rollback.schema_now)[0]
    return steps


def straight_back(runbook: Runbook) -> Runbook:
    """The runbook as a rollback run releases it: a canary goes straight to 100%, with no
    pauses. The version a rollback puts back served all traffic before the release, so walking
    it up the canary's weights again would only keep users on the version being rolled back
    (at the seeds' 10-minute pauses, for half an hour); its bake still watches it."""

    def direct(release: ReleaseSpec) -> ReleaseSpec:
        if release.strategy != "canary":
            return release
        return release.model_copy(update={"weights": [100], "pause": 0.0})

    services = {
        name: unit.model_copy(update={"release": direct(unit.release)})
        for name, unit in runbook.services.items()
    }
    release = direct(runbook.release) if runbook.release is not None else None
    return runbook.model_copy(update={"release": release, "services": services})


def expand_procedure(runbook: Runbook, env_name: str, env: Environment, name: str) -> list[NewStep]:
    """A named procedure as a run of its own: environment approval first, no rollback list."""
    if name not in runbook.procedures:
        raise InputError(
            f"no procedure '{name}' in {runbook.file}",
            hint="procedures: " + (", ".join(sorted(runbook.procedures)) or "none"),
        )
    steps = [s for s in expand(runbook, env_name, env) if s.phase == "approval"]
    for step in runbook.procedures[name]:
        if step.runs_in(env_name):
            steps.append(_new("main", len(steps), name, step, runbook.checks))
    return steps


def _main_steps(
    runbook: Runbook, env_name: str, touched: Collection[str] | None = None
) -> list[tuple[str, Step]]:
    out = [(phase, step) for phase, step in runbook.steps() if step.runs_in(env_name)]
    if runbook.release is not None or runbook.services:
        from runwright.app.runtime.release import release_steps

        out = release_steps(runbook, env_name, out, touched)
    return out


def analysis_of(spec: Mapping[str, Any]) -> list[str]:
    """The check names a step spec runs under (an analysis step's, or a wait's)."""
    params = spec.get("params") or {}
    names = params.get("checks") if spec.get("kind") == "analysis" else params.get("analysis")
    return [str(n) for n in names] if isinstance(names, list) else []


def _new(section: str, idx: int, phase: str, step: Step, checks: Mapping[str, AnyCheck]) -> NewStep:
    spec = with_self_undo(_without_service(step.model_dump(mode="json")))
    names = analysis_of(spec)
    if names:
        found = definitions(names, checks)
        for name, check in found.items():
            if not step.draft:  # a draft is done by hand; its checks are confirmed at review
                check_rules(name, check)
        spec["checks"] = {name: stored(check) for name, check in found.items()}
    return NewStep(
        section=section,
        idx=idx,
        phase=phase,
        name=step.name or f"step {idx + 1}",
        kind=step.kind,
        spec=spec,
    )


def _without_service(spec: dict[str, Any]) -> dict[str, Any]:
    """A step of no particular service keeps the spec it always had (no ``service`` key)."""
    if spec.get("service") is None:
        spec.pop("service", None)
    undo = spec.get("undo_step")
    if isinstance(undo, dict):
        spec["undo_step"] = _without_service(undo)
    return spec


@dataclass(frozen=True)
class PlannedStep:
    section: str
    phase: str
    name: str
    kind: str
    lines: list[str]
    idempotent: bool
    timeout: float | None
    retries: int
    undo: list[str] | None
    worst_case_abort_seconds: float | None = None


@dataclass(frozen=True)
class Plan:
    runbook: str
    environment: str
    version: str
    steps: list[PlannedStep]
    rollback: list[PlannedStep]
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        def one(s: PlannedStep) -> dict[str, Any]:
            return {
                "phase": s.phase,
                "name": s.name,
                "kind": s.kind,
                "actions": s.lines,
                "idempotent": s.idempotent,
                "timeout_seconds": s.timeout,
                "retries": s.retries,
                "undo": s.undo,
                "worst_case_abort_seconds": s.worst_case_abort_seconds,
                "executed": False,
            }

        return {
            "runbook": self.runbook,
            "environment": self.environment,
            "version": self.version,
            "executed": False,
            "steps": [one(s) for s in self.steps],
            "rollback": [one(s) for s in self.rollback],
            "notes": self.notes,
        }


PLAN_VERSION = "<version>"


def _describe(runbook: Runbook, name: str, spec: Mapping[str, Any], ctx: PlanContext) -> list[str]:
    """A step's plan lines; a template that cannot render names the step and its line."""
    try:
        return describe(spec, ctx)
    except RunbookError:
        raise
    except InputError as exc:
        raise RunbookError(
            f"step '{name}': {exc.message}", file=runbook.file, line=spec.get("line"), hint=exc.hint
        ) from None


class _Captured(dict[str, Any]):
    def __missing__(self, key: str) -> Placeholder:
        return Placeholder(f"<captured {key}>")

    def __getattr__(self, key: str) -> Placeholder:
        return self.__missing__(key)


def _mentions(steps: list[PlannedStep], text: str) -> bool:
    return any(text in line for s in steps for line in [*s.lines, *(s.undo or [])])


def build_plan(
    runbook: Runbook,
    env_name: str,
    env: Environment,
    version: str,
    variables: Mapping[str, Any],
    services: StepServices | None = None,
    traffic: Traffic | None = None,
    touched: Collection[str] | None = None,
    rollback_to: RollbackScope | None = None,
) -> Plan:
    if version != PLAN_VERSION:
        check_versions(runbook, version)
    ctx = PlanContext(
        {**variables, "captured": _Captured()}, env_name, version, services or StepServices()
    )
    planned: list[PlannedStep] = []
    rollback: list[PlannedStep] = []
    watched: dict[tuple[str, ...], tuple[float, list[str]]] = {}
    share: float | None = None
    expanded = expand(runbook, env_name, env, touched, rollback_to)
    for new in expanded:
        spec = new.spec
        share = _canary_share(spec) or share
        undo_spec = spec.get("undo_step")
        lines = _describe(runbook, new.name, spec, ctx)
        worst: float | None = None
        skipped = spec.get("kind") == "wait" and nothing_beside(
            spec.get("params") or {}, ctx.variables
        )
        names = [] if skipped or spec.get("draft") else analysis_of(spec)
        if names:
            compare = (spec.get("params") or {}).get("compare")
            checks = stored_checks(spec["checks"])
            shown = {n: render_check(n, c, ctx.variables) for n, c in checks.items()}
            extra, worst = plan_lines(names, shown, compare=compare, traffic=traffic, share=share)
            lines += extra
            if all(is_sequential(checks[n]) for n in names):
                worst = None
            else:
                watched.setdefault(tuple(names), (worst, []))[1].append(new.name)
        item = PlannedStep(
            section=new.section,
            phase=new.phase,
            name=new.name,
            kind=new.kind,
            lines=lines,
            idempotent=bool(spec.get("idempotent")),
            timeout=spec.get("timeout"),
            retries=int(spec.get("retries") or 0),
            undo=_describe(runbook, new.name, undo_spec, ctx) if undo_spec else None,
            worst_case_abort_seconds=worst,
        )
        (planned if new.section == "main" else rollback).append(item)
    notes = [
        f"analysis of {', '.join(names)}: worst case {format_duration(worst)} from a fault to "
        f"the start of rollback ({', '.join(where)})"
        for names, (worst, where) in watched.items()
    ]
    if runbook.services:
        notes += plan_notes(runbook, list(touched) if touched is not None else None)
    if rollback_to is not None:
        notes += _rollback_notes(runbook, env_name, env, expanded, rollback_to)
    undoable = [s for s in planned if s.undo]
    if not undoable and not rollback:
        notes.append("no undo and no rollback steps: a failure cannot be rolled back")
    if (
        runbook.release is None
        and not runbook.services
        and version
        and not _mentions(planned + rollback, version)
    ):
        notes.append(
            f"the version {version} appears in no step: this runbook does the same whatever "
            "--version says (write {{ version }} where it names the version)"
        )
    return Plan(runbook.name, env_name, version, planned, rollback, notes)


def _rollback_notes(
    runbook: Runbook,
    env_name: str,
    env: Environment,
    expanded: list[NewStep],
    rollback: RollbackScope,
) -> list[str]:
    """What a rollback leaves out and does to the schema, for ``rollback --dry-run``."""
    schema = bring_schema(expanded, rollback.revision, rollback.schema, rollback.schema_now)[1]
    return [_rollback_note(runbook, env_name, env, rollback), *schema]


def _rollback_note(
    runbook: Runbook, env_name: str, env: Environment, rollback: RollbackScope
) -> str:
    """What a rollback leaves out, and why."""
    needs = rollback_approvals(env, rollback)
    who = f"needs {needs.required} approval(s)" if needs else "needs no approval"
    skipped = [s.name or s.kind for _p, s in _main_steps(runbook, env_name) if s.kind in PEOPLE]
    left = f"; left out (they wait on people): {', '.join(skipped)}" if skipped else ""
    target = "the previous revision" if rollback.to_previous else f"revision {rollback.revision}"
    return (
        f"a rollback to {target} {who} ({env_name}'s rollback rules); deployment windows and "
        f"freezes do not apply{left}"
    )


def _canary_share(spec: Mapping[str, Any]) -> float | None:
    """The new version's share of traffic a release's traffic step sets, if it is one."""
    weights = (spec.get("params") or {}).get("weights") if spec.get("kind") == "traffic" else None
    if not isinstance(weights, Mapping) or NEW not in weights:
        return None
    total = sum(int(w) for w in weights.values())
    new = int(weights[NEW])
    return new / total if total and 0 < new < total else None


def has_sequential(runbook: Runbook) -> bool:
    return any(is_sequential(m) for m in runbook.checks.values())


async def recent_traffic(
    router: Router, stable: str, *, seconds: float = 0.5, clock: Clock | None = None
) -> Traffic:
    """Requests a second through ``router`` over ``seconds`` (read twice; nothing is changed),
    and the ``stable`` version's failure rate; "unknown traffic" when it cannot be told."""
    clock = clock or SystemClock()
    try:
        before = await router.counters()
        began = clock.monotonic()
        await clock.sleep(seconds)
        after = await router.counters()
    except DriverError:
        return Traffic(None, source="unknown traffic: the router's counters cannot be read")
    took = max(clock.monotonic() - began, 1e-9)
    total = sum(c.requests for c in after.values()) - sum(c.requests for c in before.values())
    side = after.get(stable)
    failure = (
        (side.errors_5xx + side.failures) / side.requests
        if side is not None and side.requests
        else None
    )
    if total <= 0:
        return Traffic(None, failure, f"unknown traffic: no request in the last {seconds:g}s")
    return Traffic(total / took, failure, f"the router's counters over {seconds:g}s")

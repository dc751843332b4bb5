"""Finds the step kinds (each module here exposing ``KIND``) and dispatches to them.

The registry is also where behaviour common to every kind lives: a ``manual`` step is shown
to the operator and waits for their attestation instead of being executed, and so is a
``draft`` (a step ``runwright import`` proposed that nobody has reviewed yet).

Parameters are validated here and only here: the loader checks them against the models this
registry names (errors at file:line:col), and every spec read back from the journal is turned
into its kind's model by ``params_of`` before a kind sees it, so kinds receive typed params.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping
from dataclasses import replace
from functools import cache
from typing import Any

from runwright.engine.executor import Outcome
from runwright.model.loader import Kinds
from runwright.model.status import RunStatus
from runwright.model.templating import render
from runwright.steps.base import P, Params, PlanContext, StepKind
from runwright.steps.scope import scoped_variables
from runwright.steps.services import StepContext


@cache
def kinds() -> dict[str, StepKind[Any]]:
    import runwright.steps as package

    found: dict[str, StepKind[Any]] = {}
    for info in pkgutil.iter_modules(package.__path__):
        if info.name in {"base", "registry"} or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        kind = getattr(module, "KIND", None)
        if kind is not None:
            found[kind.key] = kind
    return found


def param_models() -> dict[str, type[Params]]:
    return {key: kind.params for key, kind in kinds().items()}


def step_kinds() -> Kinds:
    """What the loader needs of the kinds: their models, and this registry's validation."""
    return Kinds(param_models(), _validate_written)


def _validate_written(key: str, raw: object) -> Params:
    """``raw`` as the parameters of kind ``key``; raises pydantic's ValidationError. The
    loader calls it as written, so a step key given no value is refused at its line."""
    params: Params = kinds()[key].params.model_validate(raw)
    return params


def validate_params(key: str, raw: object) -> Params:
    """``raw`` as the parameters of kind ``key`` (none stored: the defaults)."""
    return _validate_written(key, raw if raw is not None else {})


def params_of(spec: Mapping[str, Any]) -> Params:
    """The parameters of a step spec (as the loader wrote it) as its kind's model."""
    return validate_params(str(spec["kind"]), spec.get("params"))


def params_as(spec: Mapping[str, Any], model: type[P]) -> P:
    """``params_of`` for a caller that knows the kind (the approval a run waits on)."""
    params = params_of(spec)
    if not isinstance(params, model):
        raise TypeError(f"step '{spec.get('name')}' is a {spec.get('kind')}, not {model}")
    return params


def with_self_undo(spec: dict[str, Any]) -> dict[str, Any]:
    """``spec`` with the undo its kind brings (a kind with ``describe_undo``, e.g. ``migrate``,
    undoes itself by its declared policy), unless the runbook gave the step its own ``undo``."""
    kind = kinds().get(str(spec.get("kind")))
    if spec.get("undo_step") is not None or not hasattr(kind, "describe_undo"):
        return spec
    undo = {
        "name": f"undo {spec.get('name')}",
        "kind": spec["kind"],
        "params": spec.get("params", {}),
        "timeout": spec.get("timeout"),
        "self_undo": True,
    }
    return {**spec, "undo_step": undo}


def in_scope(spec: Mapping[str, Any], ctx: PlanContext) -> PlanContext:
    """The plan context as a step of a product's service sees it (its version, its driver)."""
    name = spec.get("service")
    if not name:
        return ctx
    return replace(
        ctx,
        variables=scoped_variables(ctx.variables, str(name)),
        services=ctx.services.scoped(str(name)) if ctx.services.units else ctx.services,
    )


def describe(spec: Mapping[str, Any], ctx: PlanContext) -> list[str]:
    ctx = in_scope(spec, ctx)
    kind = kinds()[spec["kind"]]
    undo_lines = getattr(kind, "describe_undo", None)
    if spec.get("self_undo") and undo_lines is not None:
        return list(undo_lines(params_of(spec), ctx))
    lines = kind.describe(params_of(spec), ctx)
    if spec.get("draft"):
        original = str(spec.get("original") or "").strip().split("\n")
        lines = [
            "draft (imported, not reviewed): done by hand and attested until `runwright review`"
            " accepts it; then runwright does it:",
            *lines,
            *([f"imported from: {original[0]}" + (" ..." if len(original) > 1 else "")]
              if original[0] else []),
        ]  # fmt: skip
    elif spec.get("manual"):
        lines = ["manual: the operator does this and attests it", *lines]
    return lines


async def _manual(ctx: StepContext) -> Outcome:
    gate = ctx.step.name if not ctx.undo else f"undo {ctx.step.name}"
    attested = [a for a in ctx.approvals(gate) if a.kind == "attestation"]
    if attested:
        a = attested[-1]
        return Outcome.ok(
            f"done by hand, attested by {a.user}",
            attested_by=a.user,
            attested_at=a.at.isoformat(),
            note=a.note,
        )
    described = kinds()[ctx.spec["kind"]].describe(
        params_of(ctx.spec),
        PlanContext(ctx.variables, ctx.run.environment, ctx.run.version),
    )
    original = str(ctx.spec.get("original") or "").strip()
    text = original or "; ".join(described)
    if ctx.interactive is not None and ctx.interactive(_by_hand(ctx, described)):
        ctx.attest(gate, None, "confirmed at the terminal")
        return Outcome.ok(f"done by hand, attested by {ctx.actor}", attested_by=ctx.actor)
    return Outcome.blocked(
        f"manual step: do it by hand, then run `runwright attest {ctx.run.id} --all`",
        on=RunStatus.AWAITING_ATTESTATION,
        instructions=text,
    )


def _by_hand(ctx: StepContext, described: list[str]) -> str:
    """What a person at the terminal is asked to do: the step, its description, its command."""
    lines = [f"Do this by hand, then confirm: {ctx.step.name}"]
    lines += [f"  {line}" for line in str(ctx.spec.get("description") or "").split("\n") if line]
    original = str(ctx.spec.get("original") or "").strip()
    if original and not ctx.undo:
        lines += [f"  $ {line}" for line in original.split("\n")]
    else:
        lines += [f"  {line}" for line in described]
    return "\n".join(lines)


class RegistryExecutor:
    """The Executor the app hands to the scheduler."""

    async def execute(self, ctx: StepContext) -> Outcome:
        key = ctx.spec["kind"]
        kind = kinds().get(key)
        if kind is None:
            return Outcome.fail(
                f"unknown step kind '{key}' (runbook from a newer runwright?)", retryable=False
            )
        name = ctx.spec.get("service")
        if name:
            ctx = replace(
                ctx,
                variables=scoped_variables(ctx.variables, str(name)),
                services=ctx.services.scoped(str(name)),
            )
        if ctx.spec.get("manual") or ctx.spec.get("draft"):
            return await _manual(ctx)
        return await kind.execute(ctx, params_of(ctx.spec))


def render_text(
    template: str, ctx: StepContext | PlanContext, *, shell: bool = False, where: str = ""
) -> str:
    return render(template, ctx.variables, shell=shell, where=where)

"""A product's release: every service's strategy woven into one run with one barrier.

The services' new versions start first, level by level in dependency order (the services of
a level at the same time, in one step), each level followed by its services' smoke tests;
nothing takes traffic before every new version is up and proven. Then traffic moves, one
service after another in dependency order (backend before frontend), each by its own
strategy: canary weights and pauses or a blue-green switch, each under its own analysis.
A ``recreate`` service cannot run two versions side by side, so its stop-old/start-new is
its traffic move, taken at its turn. The previous versions retire last, once every service
has moved and baked.

Because the engine undoes completed steps newest first, a failure anywhere gives the rollback
the issue asks for: traffic back service by service in reverse dependency order, then the new
versions stopped level by level, then whatever ran before the release (the database). A
service whose start never ran has nothing to undo. Every step carries its service's name
(``service``), prefixed to its step name, so plans, reports and the audit trail say whose
step it is.
"""

from __future__ import annotations

from dataclasses import dataclass

from runwright.model.release import ReleaseSpec
from runwright.model.schema import Step
from runwright.strategies.base import NEW, Expansion, bake, retire, step, weights
from runwright.strategies.canary import steps_up
from runwright.strategies.registry import STRATEGIES


@dataclass(frozen=True)
class Unit:
    """One service of the product as the expansion needs it."""

    name: str
    release: ReleaseSpec
    smoke: list[Step]
    routed: bool


def _owned(s: Step, unit: str) -> Step:
    """``s`` as a step of service ``unit``: its name prefixed, its undo owned too."""
    undo = _owned(s.undo_step, unit) if s.undo_step is not None else None
    return s.model_copy(update={"name": f"{unit}: {s.name}", "service": unit, "undo_step": undo})


def start_level(names: list[str]) -> Step:
    label = ", ".join(names)
    plural = "s" if len(names) > 1 else ""
    return step(
        f"start new version{plural} ({label})",
        "service",
        {"action": "start", "version": NEW, "services": names},
        undo=step(
            f"stop new version{plural} ({label})",
            "service",
            {"action": "stop", "version": NEW, "services": names},
        ),
    )


def _moves(unit: Unit) -> list[Expansion]:
    """How a started service takes its traffic (canary or switch), and its bake."""
    release = unit.release
    out: list[Expansion] = []
    if release.strategy == "canary":
        out += steps_up(release)
    elif unit.routed:
        out.append(Expansion("release", weights(100)))
    out += [Expansion("bake", s) for s in bake(release)]
    return out


def _recreate(unit: Unit) -> list[Expansion]:
    """Recreate's own steps, without traffic steps when the service has no router."""
    out = STRATEGIES["recreate"].expand(unit.release, list(unit.smoke))
    if unit.routed:
        return out
    return [e for e in out if e.step.kind != "traffic"]


def expand_product(levels: list[list[Unit]]) -> list[Expansion]:
    """The release of a product whose services are given by dependency level."""
    out: list[Expansion] = []
    for level in levels:
        started = [u for u in level if u.release.strategy != "recreate"]
        if started:
            out.append(Expansion("release", start_level([u.name for u in started])))
        for unit in started:
            out += [Expansion("smoke", _owned(s, unit.name)) for s in unit.smoke]
    ordered = [u for level in levels for u in level]
    for unit in ordered:
        moves = _recreate(unit) if unit.release.strategy == "recreate" else _moves(unit)
        out += [Expansion(e.phase, _owned(e.step, unit.name)) for e in moves]
    for unit in reversed(ordered):
        if unit.release.strategy != "recreate":
            out.append(Expansion("release", _owned(retire(unit.release), unit.name)))
    return out

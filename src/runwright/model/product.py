"""A product: several services released in one run, in the order their ``after:`` lists say.

A runbook with ``services:`` names each service's section (driver, router, health, its own
``release:``); ``after: [backend]`` makes a service start and take traffic after the backend.
This module checks what only makes sense across services (unknown names in ``after``, a
cycle, a router two services would share, ``service:`` and ``services:`` together) and
computes the order: levels of services that may start at the same time. It reads no files
and starts nothing; the loader reports its problems at ``file:line:col``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping

from runwright.errors import RunbookError
from runwright.model.release import ProductService
from runwright.model.source import Source

SERVICE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,39}$")


def levels(services: Mapping[str, ProductService]) -> list[list[str]]:
    """Services by dependency level: each level's services only come after earlier levels'
    (so they may start at the same time); within a level, in the order written. Assumes no
    cycle and no unknown name (``product_errors`` refuses those)."""
    placed: dict[str, int] = {}
    remaining = list(services)
    while remaining:
        ready = [
            n for n in remaining if all(a in placed for a in services[n].after if a in services)
        ]
        if not ready:  # a cycle: never reached once product_errors passed
            ready = remaining[:1]
        for name in ready:
            placed[name] = 1 + max(
                (placed[a] for a in services[name].after if a in placed), default=-1
            )
        remaining = [n for n in remaining if n not in ready]
    out: list[list[str]] = [[] for _ in range(max(placed.values(), default=-1) + 1)]
    for name in services:
        out[placed[name]].append(name)
    return out


def order(services: Mapping[str, ProductService]) -> list[str]:
    """Every service in dependency order (a service after those it names in ``after``)."""
    return [name for level in levels(services) for name in level]


def product_errors(
    source: Source, services: Mapping[str, ProductService], *, shorthand: bool, release: bool
) -> list[RunbookError]:
    """What is wrong with a ``services:`` section as a whole, each at its position."""
    errors: list[RunbookError] = []
    if not services:
        return errors
    if shorthand:
        errors.append(
            source.error(
                "give either service: (one service) or services: (several), not both",
                ("service",),
                key=True,
                hint="move this service under services: with a name, e.g. services: {api: ...}",
            )
        )
    if release:
        errors.append(
            source.error(
                "with services:, each service has its own release: section",
                ("release",),
                key=True,
                hint="move this release: under each service in services:",
            )
        )
    for name, spec in services.items():
        if not SERVICE_NAME.match(name):
            errors.append(
                source.error(
                    f"service name '{name}': use a letter, then letters, digits, '-' or '_' "
                    "(at most 40)",
                    ("services", name),
                    key=True,
                    hint="e.g. backend, frontend, worker",
                )
            )
        for n, dep in enumerate(spec.after):
            if dep not in services or dep == name:
                close = difflib.get_close_matches(dep, list(services), n=1, cutoff=0.6)
                what = "itself" if dep == name else f"unknown service '{dep}'"
                errors.append(
                    source.error(
                        f"service '{name}': after names {what}",
                        ("services", name, "after", n),
                        hint=f"did you mean '{close[0]}'?"
                        if close and dep != name
                        else "services: " + ", ".join(services),
                    )
                )
        misfit = spec.misfit()
        if misfit is not None:
            message, where = misfit
            errors.append(
                source.error(
                    f"service '{name}': {message}",
                    ("services", name, *where),
                    hint="see docs/drivers.md",
                )
            )
    if not errors:
        errors += _cycle(source, services)
    errors += _shared_routers(source, services)
    return errors


def _cycle(source: Source, services: Mapping[str, ProductService]) -> list[RunbookError]:
    """The first cycle of ``after`` found, named in full (``a -> b -> a``)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(name: str) -> list[str] | None:
        state[name] = 1
        stack.append(name)
        for dep in services[name].after:
            if state.get(dep) == 1:
                return [*stack[stack.index(dep) :], dep]
            if dep not in state:
                found = visit(dep)
                if found:
                    return found
        stack.pop()
        state[name] = 2
        return None

    for name in services:
        if name not in state:
            cycle = visit(name)
            if cycle:
                first = cycle[0]
                at = services[first].after.index(cycle[1])
                return [
                    source.error(
                        "services wait for each other: " + " -> ".join(cycle) + " (after:)",
                        ("services", first, "after", at),
                        hint="remove one of these after: entries",
                    )
                ]
    return []


def _shared_routers(source: Source, services: Mapping[str, ProductService]) -> list[RunbookError]:
    """Two services behind one router would move each other's traffic."""
    seen: dict[tuple[str, ...], str] = {}
    errors: list[RunbookError] = []
    for name, spec in services.items():
        identity = spec.router_identity()
        if identity is None:
            continue
        if identity in seen:
            errors.append(
                source.error(
                    f"services '{seen[identity]}' and '{name}' share a router "
                    f"({' '.join(identity)})",
                    ("services", name, "router"),
                    hint="give each service its own router (another listen address, Service, "
                    "Ingress or route)",
                )
            )
        else:
            seen[identity] = name
    return errors

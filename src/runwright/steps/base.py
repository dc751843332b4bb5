"""The Step protocol: what a step kind module provides so the engine can plan and run it.

A kind is one module in this package exposing ``KIND``: the YAML key that selects it, a
pydantic model that validates its parameters, ``describe`` (what ``plan`` prints, no I/O)
and ``execute``. Adding a kind is adding a module; the registry finds it. The kind declares
its model once and never validates: the registry does, and hands it the typed parameters.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict

from runwright.engine.executor import Outcome
from runwright.steps.services import StepContext, StepServices


class Params(BaseModel):
    """Base of every kind's parameter model: strict, immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


@dataclass(frozen=True)
class PlanContext:
    """What ``describe`` may use: variables with run-time-only values as placeholders."""

    variables: Mapping[str, Any]
    environment: str
    version: str
    services: StepServices = field(default_factory=StepServices)
    """The run's driver and router, so ``plan`` can show the objects they would send."""


P = TypeVar("P", bound=Params)


class StepKind(Protocol[P]):
    key: str
    params: type[P]

    def describe(self, p: P, ctx: PlanContext) -> list[str]:
        """Lines ``plan`` shows for this step: rendered commands, URLs, items."""
        ...

    async def execute(self, ctx: StepContext, p: P) -> Outcome:
        """Carry the step out; report how it went as an Outcome."""
        ...
